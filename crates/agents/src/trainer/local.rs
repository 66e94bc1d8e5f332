//! The local trainers' machinery: the optimisers of each trainer ([`State`]), the
//! per-network local state (slow copies, running feature scales), and the forward pass
//! that steps each hidden layer on its local loss as soon as its output exists.

use super::config::{FEATURE_SCALE_RATE, Features, LocalOptimizer, TrainerConfig, TrainerKind};
use super::stats::{LayerStats, frobenius, saturated_fraction};
use crate::error::AgentError;
use crate::mlp::{Mlp, layer_grads, layer_params, param_sizes};
use ndarray::{Array2, ArrayView1, ArrayView2};
use pdmrl_local_loss::{LocalRule, Target};
use pdmrl_tensor::{AdamConfig, Dense, Optimiser, SgdConfig};

/// The optimisers of a trainer for these networks (and a log-std of `log_std` components).
pub(super) fn build_state(
    config: &TrainerConfig,
    actor: &Mlp,
    critic: &Mlp,
    log_std: Option<usize>,
    lr: f64,
    adam_eps: f64,
) -> Result<State, AgentError> {
    let head_cfg = AdamConfig {
        lr,
        eps: adam_eps,
        ..AdamConfig::default()
    };
    let extra: Vec<usize> = log_std.into_iter().collect();
    let kind = config.kind();
    let config = config.local();
    Ok(match kind {
        TrainerKind::Bp => {
            let mut sizes = param_sizes(actor.layers().chain(critic.layers()));
            sizes.extend(&extra);
            State::Backprop {
                adam: Optimiser::adam(head_cfg, &sizes)?,
            }
        }
        TrainerKind::Pdm | TrainerKind::PdmGuided | TrainerKind::Frozen => {
            let local = |sizes: &[usize]| -> Result<Optimiser<f32>, AgentError> {
                Ok(match config.local_optimizer {
                    LocalOptimizer::Adam => Optimiser::adam(
                        AdamConfig {
                            lr: config.local_lr,
                            eps: config.local_adam_eps,
                            ..AdamConfig::default()
                        },
                        sizes,
                    )?,
                    LocalOptimizer::Sgd => Optimiser::sgd(
                        SgdConfig {
                            lr: config.local_lr,
                            momentum: config.local_momentum,
                        },
                        sizes,
                    )?,
                })
            };
            let per_layer = |net: &Mlp| -> Result<Vec<Optimiser<f32>>, AgentError> {
                net.hidden
                    .iter()
                    .map(|l| local(&param_sizes([l])))
                    .collect()
            };
            let mut sizes = param_sizes([&actor.head, &critic.head]);
            sizes.extend(&extra);
            let trains = kind.trains_locally();
            let fast = |net: &Mlp| (trains && config.feature_ema > 0.0).then(|| net.hidden.clone());
            let scales = |net: &Mlp| {
                if trains && config.scale_features {
                    vec![FeatureScale::default(); net.hidden.len()]
                } else {
                    Vec::new()
                }
            };
            State::Local {
                heads: Optimiser::adam(head_cfg, &sizes)?,
                actor_hidden: per_layer(actor)?,
                critic_hidden: per_layer(critic)?,
                train_hidden: trains,
                step_now: true,
                actor_local: LocalState {
                    fast: fast(actor),
                    scales: scales(actor),
                },
                critic_local: LocalState {
                    fast: fast(critic),
                    scales: scales(critic),
                },
            }
        }
    })
}

/// The running scale of one hidden layer's outputs (`scale_features`): the first value
/// `initial` and the running estimate `running` of the root-mean-square pairwise distance
/// of its outputs over a minibatch (0 before the first measurement).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FeatureScale {
    /// The first measured scale `s_0`.
    pub initial: f32,
    /// The running estimate `s`.
    pub running: f32,
}

impl FeatureScale {
    /// The multiplier `s_0 / s` of the layer's outputs (1 before the first measurement).
    pub fn multiplier(&self) -> f32 {
        if self.running > 0.0 && self.initial > 0.0 {
            self.initial / self.running
        } else {
            1.0
        }
    }

    /// Folds in the scale of a minibatch of outputs `h: [batch, d]`: the root-mean-square
    /// pairwise distance `sqrt(2 sum_f var_f)` (population variances over the rows).
    /// A zero or non-finite value (identical rows) is skipped.
    fn update(&mut self, h: ArrayView2<f32>) {
        let n = h.nrows().max(1) as f64;
        let mut total = 0.0f64;
        for col in h.columns() {
            let mean = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            total += col
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n;
        }
        let current = (2.0 * total).sqrt() as f32;
        if !(current > 0.0 && current.is_finite()) {
            return;
        }
        if self.initial == 0.0 {
            self.initial = current;
            self.running = current;
        } else {
            let rate = FEATURE_SCALE_RATE as f32;
            self.running = (1.0 - rate) * self.running + rate * current;
        }
    }
}

/// What a local trainer keeps per network beyond the optimisers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LocalState {
    /// `feature_ema > 0`: the fast hidden layers the local rule trains (the network's own
    /// `hidden` layers are then the slow copy the rest of the agent reads).
    pub fast: Option<Vec<Dense<f32>>>,
    /// `scale_features`: one running scale per hidden layer (empty when off).
    pub scales: Vec<FeatureScale>,
}

pub(super) enum State {
    /// One Adam over every parameter: actor layers, critic layers, then the log-std
    /// (CleanRL uses one optimiser over `agent.parameters()`).
    Backprop { adam: Optimiser<f32> },
    /// The heads (actor head, critic head, log-std) share one Adam; each hidden layer has
    /// its own optimiser (if trained).
    Local {
        heads: Optimiser<f32>,
        actor_hidden: Vec<Optimiser<f32>>,
        critic_hidden: Vec<Optimiser<f32>>,
        /// Whether the hidden layers train at all at this point of the run.
        train_hidden: bool,
        /// Whether the next minibatch steps them (`local_steps`).
        step_now: bool,
        actor_local: LocalState,
        critic_local: LocalState,
    },
}

/// What a local trainer steps on one network: the optimisers of its hidden layers, its
/// local state (fast copies, running scales) and the slow copy's decay.
pub(super) struct LocalTraining<'a> {
    pub(super) optimisers: &'a mut [Optimiser<f32>],
    pub(super) local: &'a mut LocalState,
    pub(super) ema: f64,
}

/// Forward pass of a local trainer through the hidden layers: each layer's output is
/// computed, its local loss evaluated and (if `training` is given) its parameters stepped
/// at once. The next layer sees the output computed before the step
/// (`Features::PreUpdate`) or recomputed after it (`Features::PostUpdate`), times the
/// layer's feature multiplier (`scale_features`). With a slow copy (`feature_ema`) the
/// rule sees and steps the fast layer, and the next layer reads the slow one. The rule's
/// target comes from the layer's input or, if the rule asks for it, the observation.
/// Only the current layer's input and output are alive at any time. Returns `X_L` and,
/// if trained or `diagnose`, the stats.
pub(super) fn local_forward(
    net: &mut Mlp,
    obs: ArrayView2<f32>,
    rule: &mut dyn LocalRule<f32>,
    guidance: Option<ArrayView1<f32>>,
    mut training: Option<LocalTraining<'_>>,
    features: Features,
    diagnose: bool,
) -> Result<(Array2<f32>, Vec<LayerStats>), AgentError> {
    let measure_stats = diagnose || training.is_some();
    let from_observation = rule.target() == Target::Observation;
    let mut stats = Vec::new();
    let mut x = obs.to_owned();
    for l in 0..net.hidden.len() {
        let mut h = net.hidden[l].forward(x.view());
        if measure_stats {
            let target_input = if from_observation { obs } else { x.view() };
            // The layer the rule sees and steps: the fast copy, or the layer itself.
            let fast_out = training
                .as_ref()
                .and_then(|t| t.local.fast.as_ref())
                .map(|f| f[l].forward(x.view()));
            let seen = fast_out.as_ref().unwrap_or(&h);
            // A layer that is only measured needs no gradient.
            let out = if training.is_some() {
                rule.loss_and_grad(target_input, seen.view(), guidance)?
            } else {
                rule.loss_only(target_input, seen.view(), guidance)?
            };
            let activation = net.hidden[l].activation;
            let saturated = saturated_fraction(seen.view(), activation);
            if let Some(t) = training.as_mut() {
                let stepped = match t.local.fast.as_mut() {
                    Some(f) => &mut f[l],
                    None => &mut net.hidden[l],
                };
                let mut g = stepped.backward(x.view(), seen.view(), out.grad_output.view(), false);
                let grads = layer_grads(&mut g);
                let grads: [&[f32]; 2] = [&*grads[0], &*grads[1]];
                t.optimisers[l].step(&mut layer_params(stepped), &grads);
                if let Some(f) = t.local.fast.as_ref() {
                    ema_into(&mut net.hidden[l], &f[l], t.ema);
                }
                if features == Features::PostUpdate {
                    h = net.hidden[l].forward(x.view());
                }
                if let Some(scale) = t.local.scales.get_mut(l) {
                    scale.update(h.view());
                    net.feature_scales[l] = scale.multiplier();
                }
            }
            let trained = training
                .as_ref()
                .and_then(|t| t.local.fast.as_ref())
                .map_or(&net.hidden[l], |f| &f[l]);
            stats.push(LayerStats {
                local_loss: f64::from(out.loss),
                mean_distance: f64::from(out.mean_output_distance),
                saturated,
                weight_norm: frobenius(&trained.weight),
                drift: f64::NAN,
            });
        }
        if let Some(&c) = net.feature_scales.get(l) {
            h.mapv_inplace(|v| v * c);
        }
        x = h; // the input of this layer is dropped here
    }
    Ok((x, stats))
}

/// `slow = decay * slow + (1 - decay) * fast`, parameter by parameter.
pub(super) fn ema_into(slow: &mut Dense<f32>, fast: &Dense<f32>, decay: f64) {
    let (d, f) = (decay as f32, (1.0 - decay) as f32);
    ndarray::Zip::from(&mut slow.weight)
        .and(&fast.weight)
        .for_each(|s, &v| *s = d * *s + f * v);
    ndarray::Zip::from(&mut slow.bias)
        .and(&fast.bias)
        .for_each(|s, &v| *s = d * *s + f * v);
}

/// Per-layer statistics of a network on `obs` without changing it.
pub(super) fn measure(
    net: &Mlp,
    obs: ArrayView2<f32>,
    rule: &mut dyn LocalRule<f32>,
    guidance: Option<ArrayView1<f32>>,
) -> Result<Vec<LayerStats>, AgentError> {
    let mut net = net.clone();
    Ok(local_forward(
        &mut net,
        obs,
        rule,
        guidance,
        None,
        Features::PreUpdate,
        true,
    )?
    .1)
}
