//! Checkpoints of an agent: named tensors in safetensors (the networks under the names a
//! CleanRL `Agent` uses, loadable with `safetensors.torch.load_file`), a second
//! safetensors file of the training state (optimiser moments, normalisation statistics,
//! rollout state), and a JSON side file of counters and RNG states.
//!
//! The agent builds and reads [`Checkpoint`]s; the bytes are written by the caller (this
//! crate does no I/O). [`encode_safetensors`] and [`decode_safetensors`] convert.

use crate::error::AgentError;
use pdmrl_tensor::RngState;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Version of the checkpoint layout; a checkpoint of another version is refused.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// The elements of a tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats (network parameters, optimiser moments, observations).
    F32(Vec<f32>),
    /// 64-bit floats (normalisation statistics, episode returns).
    F64(Vec<f64>),
}

impl TensorData {
    fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
        }
    }
}

/// A named tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Name, e.g. `actor.0.weight`.
    pub name: String,
    /// Shape, e.g. `[64, 4]`.
    pub shape: Vec<usize>,
    /// Elements, `prod(shape)` of them.
    pub data: TensorData,
}

impl NamedTensor {
    /// An f32 tensor.
    pub fn f32(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> Self {
        NamedTensor {
            name: name.into(),
            shape,
            data: TensorData::F32(data),
        }
    }

    /// An f64 tensor.
    pub fn f64(name: impl Into<String>, shape: Vec<usize>, data: Vec<f64>) -> Self {
        NamedTensor {
            name: name.into(),
            shape,
            data: TensorData::F64(data),
        }
    }
}

/// Counters, RNG states and options of a checkpoint (`checkpoint.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// [`CHECKPOINT_FORMAT`].
    pub format: u32,
    /// Algorithm name.
    pub algo: String,
    /// Trainer name.
    pub trainer: String,
    /// `categorical` or `gaussian`.
    pub policy: String,
    /// Updates (iterations) done.
    pub iteration: usize,
    /// Environment steps taken over all copies.
    pub global_step: usize,
    /// Vector steps taken (the length of the action log, in steps).
    pub vector_steps: usize,
    /// Global step at which the next evaluation is due (0: none).
    pub next_eval: usize,
    /// Length of each copy's running episode.
    pub episode_length: Vec<usize>,
    /// The action-sampling RNG.
    pub sample_rng: RngState,
    /// The minibatch-shuffling RNG.
    pub shuffle_rng: RngState,
    /// The actor's and the critic's local-rule RNGs (if they have one).
    pub rule_rngs: Vec<Option<RngState>>,
    /// Step count of each optimiser, by name.
    pub optimiser_steps: Vec<(String, u64)>,
}

/// Everything needed to continue a run exactly, or to evaluate its policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Network parameters (`model.safetensors`).
    pub model: Vec<NamedTensor>,
    /// Training state tensors (`state.safetensors`).
    pub state: Vec<NamedTensor>,
    /// Counters and RNG states (`checkpoint.json`).
    pub meta: CheckpointMeta,
}

impl Checkpoint {
    /// The tensor `name` of `model` or `state`.
    ///
    /// # Errors
    /// [`AgentError::Checkpoint`] naming the tensor if it is missing or has another shape.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<&TensorData, AgentError> {
        let t = self
            .model
            .iter()
            .chain(&self.state)
            .find(|t| t.name == name)
            .ok_or_else(|| AgentError::Checkpoint(format!("tensor `{name}` is missing")))?;
        if t.shape != shape {
            return Err(AgentError::Checkpoint(format!(
                "tensor `{name}` has shape {:?}, this agent needs {shape:?}",
                t.shape
            )));
        }
        Ok(&t.data)
    }

    /// The f32 tensor `name` of shape `shape`.
    ///
    /// # Errors
    /// As [`Checkpoint::tensor`], or if it holds f64.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, AgentError> {
        match self.tensor(name, shape)? {
            TensorData::F32(v) => Ok(v.clone()),
            TensorData::F64(_) => Err(AgentError::Checkpoint(format!(
                "tensor `{name}` is F64, expected F32"
            ))),
        }
    }

    /// The f64 tensor `name` of shape `shape`.
    ///
    /// # Errors
    /// As [`Checkpoint::tensor`], or if it holds f32.
    pub fn f64(&self, name: &str, shape: &[usize]) -> Result<Vec<f64>, AgentError> {
        match self.tensor(name, shape)? {
            TensorData::F64(v) => Ok(v.clone()),
            TensorData::F32(_) => Err(AgentError::Checkpoint(format!(
                "tensor `{name}` is F32, expected F64"
            ))),
        }
    }

    /// Whether a tensor `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.model.iter().chain(&self.state).any(|t| t.name == name)
    }
}

/// The safetensors bytes of `tensors` (little-endian, with the metadata `format = pt`
/// that `safetensors.torch` writes). Deterministic: the same tensors give the same bytes.
///
/// # Errors
/// [`AgentError::Checkpoint`] if a tensor's shape does not match its length, or names
/// repeat.
pub fn encode_safetensors(tensors: &[NamedTensor]) -> Result<Vec<u8>, AgentError> {
    let mut bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for t in tensors {
        if t.shape.iter().product::<usize>() != t.data.len() {
            return Err(AgentError::Checkpoint(format!(
                "tensor `{}` has {} elements but shape {:?}",
                t.name,
                t.data.len(),
                t.shape
            )));
        }
        let (dtype, raw) = match &t.data {
            TensorData::F32(v) => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorData::F64(v) => (Dtype::F64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        };
        bytes.push((t.name.clone(), dtype, t.shape.clone(), raw));
    }
    let mut views = Vec::with_capacity(bytes.len());
    for (name, dtype, shape, raw) in &bytes {
        let view = TensorView::new(*dtype, shape.clone(), raw)
            .map_err(|e| AgentError::Checkpoint(format!("tensor `{name}`: {e}")))?;
        views.push((name.clone(), view));
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| AgentError::Checkpoint(format!("cannot encode safetensors: {e}")))
}

/// The tensors of safetensors `bytes`, sorted by name.
///
/// # Errors
/// [`AgentError::Checkpoint`] for a malformed file or a dtype other than F32/F64.
pub fn decode_safetensors(bytes: &[u8]) -> Result<Vec<NamedTensor>, AgentError> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| AgentError::Checkpoint(format!("not a safetensors file: {e}")))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let raw = view.data();
        let data = match view.dtype() {
            Dtype::F32 => TensorData::F32(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            Dtype::F64 => TensorData::F64(
                raw.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            ),
            other => {
                return Err(AgentError::Checkpoint(format!(
                    "tensor `{name}` has dtype {other:?}; expected F32 or F64"
                )));
            }
        };
        out.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            data,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_round_trip_is_exact_and_deterministic() {
        let tensors = vec![
            NamedTensor::f32(
                "a.weight",
                vec![2, 3],
                vec![1.0, -0.0, f32::MIN_POSITIVE, 3.5, 1e-30, 7.0],
            ),
            NamedTensor::f64("b", vec![2], vec![0.1, -1e300]),
        ];
        let bytes = encode_safetensors(&tensors).unwrap();
        assert_eq!(bytes, encode_safetensors(&tensors).unwrap());
        let back = decode_safetensors(&bytes).unwrap();
        assert_eq!(back, tensors);
        let bad = vec![NamedTensor::f32("x", vec![3], vec![1.0])];
        assert!(
            encode_safetensors(&bad)
                .unwrap_err()
                .to_string()
                .contains("`x`")
        );
        assert!(decode_safetensors(b"garbage").is_err());
    }
}
