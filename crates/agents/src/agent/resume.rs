//! Checkpoints: save ([`Agent::checkpoint`]), load a policy ([`Agent::load_policy`]) and
//! resume bit-exactly ([`Agent::restore`]). The networks, optimisers, RNGs, normalisers
//! and counters are saved, and the envs are brought back to their state by replaying the
//! logged actions from the seeded reset ([`Agent::take_action_log`]), which needs no
//! state API from an env, only determinism (checked: the replayed observation must equal
//! the saved one). Tensor names follow CleanRL's PyTorch `Agent`.

use super::Agent;
use crate::checkpoint::{CHECKPOINT_FORMAT, Checkpoint, CheckpointMeta, NamedTensor, TensorData};
use crate::error::AgentError;
use crate::mlp::Mlp;
use crate::policy::PolicyKind;
use crate::trainer::{FeatureScale, LocalState};
use ndarray::{Array1, Array2};
use pdmrl_envs::{Action, RunningMeanStd};
use pdmrl_tensor::RngState;

/// The safetensors names of a network's layers, as CleanRL's `Agent` names them: layer
/// `k` of an `nn.Sequential` with activations between is `{prefix}.{2k}`.
fn layer_names(prefix: &str, net: &Mlp) -> Vec<String> {
    (0..=net.hidden.len())
        .map(|k| format!("{prefix}.{}", 2 * k))
        .collect()
}

impl Agent {
    /// The name prefixes of the actor and the critic (`actor` / `actor_mean`, `critic`).
    fn prefixes(&self) -> (&'static str, &'static str) {
        match self.policy {
            PolicyKind::Categorical { .. } => ("actor", "critic"),
            PolicyKind::Gaussian { .. } => ("actor_mean", "critic"),
        }
    }

    /// The network parameters as PyTorch stores them: `{name}.weight` `[out, in]` (the
    /// transpose of ours), `{name}.bias` `[out]`, and `actor_logstd` `[1, action_dim]`.
    pub fn model_tensors(&self) -> Vec<NamedTensor> {
        let (pa, pc) = self.prefixes();
        let mut out = Vec::new();
        for (prefix, net) in [(pa, &self.model.actor), (pc, &self.model.critic)] {
            for (name, layer) in layer_names(prefix, net).into_iter().zip(net.layers()) {
                let w = layer.weight.t();
                out.push(NamedTensor::f32(
                    format!("{name}.weight"),
                    vec![w.nrows(), w.ncols()],
                    w.iter().copied().collect(),
                ));
                out.push(NamedTensor::f32(
                    format!("{name}.bias"),
                    vec![layer.bias.len()],
                    layer.bias.to_vec(),
                ));
            }
        }
        if let Some(ls) = &self.model.log_std {
            out.push(NamedTensor::f32(
                "actor_logstd",
                vec![1, ls.len()],
                ls.to_vec(),
            ));
        }
        out
    }

    /// Everything needed to continue this run exactly (with the action log) or to
    /// evaluate its policy. Take it between iterations.
    pub fn checkpoint(&self) -> Checkpoint {
        let mut state = Vec::new();
        let mut optimiser_steps = Vec::new();
        for (name, optimiser) in self
            .model
            .optimiser_names()
            .into_iter()
            .zip(self.model.optimisers())
        {
            optimiser_steps.push((name.clone(), optimiser.steps()));
            let buffers = optimiser.state();
            let tensors = buffers.first().map_or(0, |(_, b)| b.len());
            for j in 0..tensors {
                for (what, b) in &buffers {
                    state.push(NamedTensor::f32(
                        format!("optim.{name}.{j}.{what}"),
                        vec![b[j].len()],
                        b[j].clone(),
                    ));
                }
            }
        }
        let mat = |name: String, a: &Array2<f32>| {
            NamedTensor::f32(
                name,
                vec![a.nrows(), a.ncols()],
                a.iter().copied().collect(),
            )
        };
        state.push(mat("next_obs".into(), &self.next_obs));
        state.push(mat("next_obs_raw".into(), &self.next_obs_raw));
        state.push(NamedTensor::f64(
            "episode_return",
            vec![self.episode_return.len()],
            self.episode_return.clone(),
        ));
        let rms = |prefix: &str, s: &RunningMeanStd, state: &mut Vec<NamedTensor>| {
            state.push(NamedTensor::f64(
                format!("{prefix}.mean"),
                vec![s.dim()],
                s.mean.clone(),
            ));
            state.push(NamedTensor::f64(
                format!("{prefix}.var"),
                vec![s.dim()],
                s.var.clone(),
            ));
            state.push(NamedTensor::f64(
                format!("{prefix}.count"),
                vec![1],
                vec![s.count],
            ));
        };
        if let Some(n) = &self.obs_norm {
            rms("obs_rms", &n.stats, &mut state);
        }
        if let Some(n) = &self.reward_norm {
            rms("return_rms", &n.stats, &mut state);
            state.push(NamedTensor::f64(
                "return_rms.returns",
                vec![n.returns.len()],
                n.returns.clone(),
            ));
        }
        if let Some(p) = &self.probe {
            state.push(mat("probe".into(), p));
            for (net, outs) in [
                ("actor", &self.probe_outputs.0),
                ("critic", &self.probe_outputs.1),
            ] {
                for (k, o) in outs.iter().enumerate() {
                    state.push(mat(format!("probe.{net}.{}", k + 1), o));
                }
            }
        }
        if let Some(states) = self.model.local_states() {
            for (net, st) in ["actor", "critic"].into_iter().zip(states) {
                for (k, layer) in st.fast.iter().flatten().enumerate() {
                    state.push(mat(
                        format!("local.{net}.fast.{}.weight", k + 1),
                        &layer.weight,
                    ));
                    state.push(NamedTensor::f32(
                        format!("local.{net}.fast.{}.bias", k + 1),
                        vec![layer.bias.len()],
                        layer.bias.to_vec(),
                    ));
                }
                if !st.scales.is_empty() {
                    state.push(NamedTensor::f32(
                        format!("local.{net}.feature_scales"),
                        vec![st.scales.len(), 2],
                        st.scales
                            .iter()
                            .flat_map(|c| [c.initial, c.running])
                            .collect(),
                    ));
                }
            }
        }
        let [ra, rc] = self.model.rules();
        Checkpoint {
            model: self.model_tensors(),
            state,
            meta: CheckpointMeta {
                format: CHECKPOINT_FORMAT,
                algo: self.config.algo.name().into(),
                trainer: self.trainer().name().into(),
                policy: match self.policy {
                    PolicyKind::Categorical { .. } => "categorical".into(),
                    PolicyKind::Gaussian { .. } => "gaussian".into(),
                },
                iteration: self.iteration,
                global_step: self.global_step,
                vector_steps: self.vector_steps,
                next_eval: self.next_eval,
                episode_length: self.episode_length.clone(),
                sample_rng: RngState::capture(&self.sample_rng),
                shuffle_rng: RngState::capture(&self.shuffle_rng),
                rule_rngs: vec![ra.rng_state(), rc.rng_state()],
                optimiser_steps,
            },
        }
    }

    /// Loads the network parameters and the normalisation statistics of a checkpoint
    /// (not the training state): enough to evaluate or run its policy.
    ///
    /// # Errors
    /// [`AgentError::Checkpoint`] naming a missing or misshapen tensor, or a checkpoint of
    /// another algorithm, trainer or policy.
    pub fn load_policy(&mut self, ckpt: &Checkpoint) -> Result<(), AgentError> {
        let m = &ckpt.meta;
        if m.format != CHECKPOINT_FORMAT {
            return Err(AgentError::Checkpoint(format!(
                "format {} (this build reads format {CHECKPOINT_FORMAT})",
                m.format
            )));
        }
        let policy = match self.policy {
            PolicyKind::Categorical { .. } => "categorical",
            PolicyKind::Gaussian { .. } => "gaussian",
        };
        if m.policy != policy {
            return Err(AgentError::Checkpoint(format!(
                "a {} policy; this env needs a {policy} policy",
                m.policy
            )));
        }
        let (pa, pc) = self.prefixes();
        for (prefix, net) in [(pa, &mut self.model.actor), (pc, &mut self.model.critic)] {
            let names = layer_names(prefix, net);
            for (name, layer) in names.into_iter().zip(net.layers_mut()) {
                let (d_in, d_out) = layer.weight.dim();
                let w = ckpt.f32(&format!("{name}.weight"), &[d_out, d_in])?;
                let w = Array2::from_shape_vec((d_out, d_in), w).expect("checked shape");
                layer.weight.assign(&w.t());
                let b = ckpt.f32(&format!("{name}.bias"), &[d_out])?;
                layer.bias.assign(&Array1::from(b));
            }
        }
        if let Some(ls) = &mut self.model.log_std {
            let v = ckpt.f32("actor_logstd", &[1, ls.len()])?;
            ls.assign(&Array1::from(v));
        }
        let rms = |prefix: &str, dim: usize| -> Result<RunningMeanStd, AgentError> {
            let s = RunningMeanStd {
                mean: ckpt.f64(&format!("{prefix}.mean"), &[dim])?,
                var: ckpt.f64(&format!("{prefix}.var"), &[dim])?,
                count: ckpt.f64(&format!("{prefix}.count"), &[1])?[0],
            };
            s.validate(dim)
                .map_err(|e| AgentError::Checkpoint(format!("{prefix}: {e}")))?;
            Ok(s)
        };
        if let Some(n) = &mut self.obs_norm {
            n.stats = rms("obs_rms", n.stats.dim())?;
        }
        if let Some(n) = &mut self.reward_norm {
            n.stats = rms("return_rms", 1)?;
        }
        if let Some(states) = self.local_states_of(ckpt)? {
            self.model.set_local_states(states)?;
        }
        if let Some(p) = self.model.first_non_finite() {
            return Err(AgentError::Checkpoint(format!(
                "non-finite parameter in {} of the {} network",
                p.layer, p.network
            )));
        }
        Ok(())
    }

    /// The local trainer's state of actor and critic (fast layers of `feature_ema`, running
    /// scales of `scale_features`) read from a checkpoint, shaped as this agent's; `None`
    /// under `bp`.
    ///
    /// # Errors
    /// [`AgentError::Checkpoint`] naming a missing or misshapen tensor.
    fn local_states_of(&self, ckpt: &Checkpoint) -> Result<Option<[LocalState; 2]>, AgentError> {
        let Some(current) = self.model.local_states() else {
            return Ok(None);
        };
        let mut out = [LocalState::default(), LocalState::default()];
        for ((net, now), dst) in ["actor", "critic"].into_iter().zip(current).zip(&mut out) {
            if let Some(fast) = &now.fast {
                let mut layers = Vec::with_capacity(fast.len());
                for (k, layer) in fast.iter().enumerate() {
                    let (d_in, d_out) = layer.weight.dim();
                    let mut l = layer.clone();
                    let w = ckpt.f32(
                        &format!("local.{net}.fast.{}.weight", k + 1),
                        &[d_in, d_out],
                    )?;
                    l.weight = Array2::from_shape_vec((d_in, d_out), w).expect("checked shape");
                    let b = ckpt.f32(&format!("local.{net}.fast.{}.bias", k + 1), &[d_out])?;
                    l.bias = Array1::from(b);
                    layers.push(l);
                }
                dst.fast = Some(layers);
            }
            if !now.scales.is_empty() {
                let n = now.scales.len();
                let v = ckpt.f32(&format!("local.{net}.feature_scales"), &[n, 2])?;
                dst.scales = v
                    .chunks(2)
                    .map(|c| FeatureScale {
                        initial: c[0],
                        running: c[1],
                    })
                    .collect();
            }
        }
        Ok(Some(out))
    }

    /// Continues a run from a checkpoint: `self` must be freshly built with the run's
    /// config, trainer, seed and envs ([`Agent::new`], eval envs included); `action_log`
    /// is every action logged up to the checkpoint ([`Agent::take_action_log`], at least
    /// `meta.vector_steps` steps; the rest is ignored). The envs are replayed from their
    /// seeded reset through the logged actions, then networks, optimisers, RNGs,
    /// normalisers and counters are restored.
    ///
    /// # Errors
    /// [`AgentError::Checkpoint`] for a checkpoint of another run (algorithm, trainer,
    /// policy, shapes), a short action log, or envs whose replay does not reproduce the
    /// saved observation (a non-deterministic env); env errors during the replay.
    pub fn restore(&mut self, ckpt: &Checkpoint, action_log: &[f32]) -> Result<(), AgentError> {
        if self.iteration != 0 || self.global_step != 0 {
            return Err(AgentError::Checkpoint(
                "restore needs a freshly built agent".into(),
            ));
        }
        let m = &ckpt.meta;
        if m.algo != self.config.algo.name() || m.trainer != self.trainer().name() {
            return Err(AgentError::Checkpoint(format!(
                "written by {} / {}, this run is {} / {}",
                m.algo,
                m.trainer,
                self.config.algo,
                self.trainer()
            )));
        }
        for t in ckpt.model.iter().chain(&ckpt.state) {
            let finite = match &t.data {
                TensorData::F32(v) => v.iter().all(|x| x.is_finite()),
                TensorData::F64(v) => v.iter().all(|x| x.is_finite()),
            };
            if !finite {
                return Err(AgentError::Checkpoint(format!(
                    "tensor `{}` holds a NaN or infinite value: the checkpoint is corrupt",
                    t.name
                )));
            }
        }
        self.load_policy(ckpt)?;
        // Envs: replay.
        let stride = self.action_log_stride();
        let needed = m.vector_steps * stride;
        if action_log.len() < needed {
            return Err(AgentError::Checkpoint(format!(
                "the action log holds {} vector steps, the checkpoint needs {}",
                action_log.len() / stride.max(1),
                m.vector_steps
            )));
        }
        let n = self.config.num_envs;
        let mut last = self.next_obs_raw.clone();
        for (k, chunk) in action_log[..needed].chunks(stride).enumerate() {
            let actions: Vec<Action> = match self.policy {
                PolicyKind::Categorical { .. } => chunk
                    .iter()
                    .map(|&a| Action::Discrete(a as usize))
                    .collect(),
                PolicyKind::Gaussian { dim } => (0..n)
                    .map(|i| {
                        Action::Continuous(Array1::from(chunk[i * dim..(i + 1) * dim].to_vec()))
                    })
                    .collect(),
            };
            last = self
                .envs
                .step(&actions)
                .map_err(|e| {
                    AgentError::Checkpoint(format!(
                        "replaying logged vector step {} of {}: {e}",
                        k + 1,
                        m.vector_steps
                    ))
                })?
                .observations;
        }
        let obs_dim = self.envs.obs_dim();
        let saved_raw = ckpt.f32("next_obs_raw", &[n, obs_dim])?;
        if last
            .iter()
            .zip(&saved_raw)
            .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            return Err(AgentError::Checkpoint(format!(
                "replaying {} logged steps of `{}` did not reproduce the saved observation: the action log or the seed was changed, or the env is not deterministic; this run cannot be resumed exactly",
                m.vector_steps,
                self.envs.envs()[0].id()
            )));
        }
        self.next_obs_raw = last;
        self.next_obs = Array2::from_shape_vec((n, obs_dim), ckpt.f32("next_obs", &[n, obs_dim])?)
            .expect("checked shape");
        // Optimisers.
        let steps: std::collections::HashMap<&str, u64> = m
            .optimiser_steps
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        let names = self.model.optimiser_names();
        for (name, optimiser) in names.into_iter().zip(self.model.optimisers_mut()) {
            let step = *steps
                .get(name.as_str())
                .ok_or_else(|| AgentError::Checkpoint(format!("optimiser `{name}` is missing")))?;
            optimiser.restore_with::<AgentError>(step, &mut |what, j, len| {
                ckpt.f32(&format!("optim.{name}.{j}.{what}"), &[len])
            })?;
        }

        // RNGs.
        let rng = |s: &RngState| s.restore().map_err(AgentError::Checkpoint);
        self.sample_rng = rng(&m.sample_rng)?;
        self.shuffle_rng = rng(&m.shuffle_rng)?;
        for (rule, state) in self.model.rules_mut().into_iter().zip(&m.rule_rngs) {
            if let Some(state) = state {
                rule.set_rng_state(state)?;
            }
        }
        // Normalisers and counters.
        if let Some(norm) = &mut self.reward_norm {
            norm.returns = ckpt.f64("return_rms.returns", &[n])?;
        }
        self.episode_return = ckpt.f64("episode_return", &[n])?;
        if m.episode_length.len() != n {
            return Err(AgentError::Checkpoint(format!(
                "episode_length has {} entries for {n} envs",
                m.episode_length.len()
            )));
        }
        self.episode_length = m.episode_length.clone();
        if ckpt.has("probe") {
            let rows = ckpt
                .state
                .iter()
                .find(|t| t.name == "probe")
                .map_or(0, |t| t.shape[0]);
            let probe =
                Array2::from_shape_vec((rows, obs_dim), ckpt.f32("probe", &[rows, obs_dim])?)
                    .expect("checked shape");
            let mut outs = (Vec::new(), Vec::new());
            for (net, mlp, dst) in [
                ("actor", &self.model.actor, &mut outs.0),
                ("critic", &self.model.critic, &mut outs.1),
            ] {
                for (k, layer) in mlp.hidden.iter().enumerate() {
                    let d = layer.outputs();
                    let v = ckpt.f32(&format!("probe.{net}.{}", k + 1), &[rows, d])?;
                    dst.push(Array2::from_shape_vec((rows, d), v).expect("checked shape"));
                }
            }
            self.probe = Some(probe);
            self.probe_outputs = outs;
        }
        self.iteration = m.iteration;
        self.global_step = m.global_step;
        self.vector_steps = m.vector_steps;
        self.next_eval = m.next_eval;
        self.action_log.clear();
        Ok(())
    }
}
