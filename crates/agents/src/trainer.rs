//! Trainers: how the parameters of an actor-critic pair learn from one minibatch.
//!
//! | trainer | hidden layers | heads |
//! |---|---|---|
//! | `bp` | end-to-end backprop of the algorithm loss | same |
//! | `pdm` | local PDM loss during the forward pass (docs/method.md) | algorithm loss on the features as constants |
//! | `pdm_guided` | local PDM loss with reward guidance ([`GuidanceConfig`]) | algorithm loss on the features as constants |
//! | `frozen` | never trained (random features at init), the control | algorithm loss |
//!
//! A Gaussian policy's log-std ([`ActorCritic::with_log_std`]) is a head parameter: it
//! learns from the algorithm's loss under every trainer.
//!
//! The local trainers never run a backward pass through a hidden layer: each hidden layer
//! is stepped by its own Adam as soon as its output is computed, and only its input and
//! output live at that moment.

use crate::error::AgentError;
use crate::mlp::{Mlp, layer_grads, layer_params, param_sizes};
use crate::valid::{Check, Valid};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use pdmrl_local_loss::{LocalRule, Pdm, PdmOptions, Target};
use pdmrl_tensor::{
    Activation, AdamConfig, Dense, Optimiser, SgdConfig, clip_grad_norm, derive_seed,
};
use serde::{Deserialize, Serialize};

/// Which trainer updates the networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainerKind {
    /// End-to-end backpropagation (the baseline).
    Bp,
    /// Layer-local pairwise distance matching; heads by the algorithm's loss.
    Pdm,
    /// Layer-local pairwise distance matching with reward guidance
    /// ([`GuidanceConfig`]); heads by the algorithm's loss.
    PdmGuided,
    /// Hidden layers fixed at their random initialisation; heads by the algorithm's loss.
    Frozen,
}

impl TrainerKind {
    /// Whether hidden layers are trained by the local rule (`pdm`, `pdm_guided`).
    pub fn trains_locally(self) -> bool {
        matches!(self, TrainerKind::Pdm | TrainerKind::PdmGuided)
    }

    /// Whether this trainer reads the trainer option `key` (dotted, without the
    /// `trainer.` prefix: `local_lr`, `pdm.normalize`, `guidance.weight`, ...): `bp` and
    /// `frozen` read none (their hidden layers never see the local rule), `pdm` all but
    /// `guidance.*`, `pdm_guided` all. [`TrainerConfig::effective`] resets the others.
    pub fn uses_option(self, key: &str) -> bool {
        match self {
            TrainerKind::Bp | TrainerKind::Frozen => key == "kind",
            TrainerKind::Pdm => key != "guidance" && !key.starts_with("guidance."),
            TrainerKind::PdmGuided => true,
        }
    }
}

// `name`, `Display`, `FromStr`; `ALL` lists every trainer in the order tables list them.
pdmrl_tensor::name_enum!(TrainerKind, "trainer", AgentError;
    Bp => "bp", Pdm => "pdm", PdmGuided => "pdm_guided", Frozen => "frozen");

/// Which per-sample signal guides a network's local rule under `pdm_guided`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuidanceSignal {
    /// The advantage estimate (GAE) of each sample, before the minibatch normalisation of
    /// `norm_adv` (the raw estimate: normalising would not change the normalised distances
    /// of the rule's `mean`/`max` modes, and keeps the signal comparable across minibatches).
    /// For the actor under REINFORCE: the return-to-go (docs/method.md), whether or not a
    /// baseline is subtracted from it in the loss.
    Advantage,
    /// The return (value target) of each sample.
    Return,
    /// No guidance for this network.
    None,
}

/// Reward guidance of the local rule (docs/method.md, "Reward guidance"): the target
/// distances become `(1 - weight) * input distances + weight * signal distances`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuidanceConfig {
    /// `lambda` in (0, 1] used by `pdm_guided` (`pdm` always uses 0). **\[choice\]** 0.3,
    /// the value of the independent reference run in docs/method.md.
    pub weight: f64,
    /// Signal of the actor's layers (method.md: the advantage).
    pub actor_signal: GuidanceSignal,
    /// Signal of the critic's layers (method.md: the return, the critic's value target).
    pub critic_signal: GuidanceSignal,
}

impl Default for GuidanceConfig {
    fn default() -> Self {
        GuidanceConfig {
            weight: 0.3,
            actor_signal: GuidanceSignal::Advantage,
            critic_signal: GuidanceSignal::Return,
        }
    }
}

/// Which features the next layer and the heads see under a local trainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Features {
    /// The layer's output computed before its local step (one forward per layer).
    /// **\[choice\]** docs/method.md default.
    #[default]
    PreUpdate,
    /// The layer's output recomputed after its local step (a second forward per layer).
    PostUpdate,
}

/// How the hidden layers' learning rate changes over a run under a local trainer:
/// `constant` (`local_lr` throughout, docs/method.md) or `linear` (annealed from
/// `local_lr` at the first iteration towards 0, as CleanRL anneals the algorithm's rate).
/// The heads' schedule is the same type ([`pdmrl_tensor::Schedule`]).
pub type LocalLrSchedule = pdmrl_tensor::Schedule;

/// The optimiser of each hidden layer under a local trainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalOptimizer {
    /// Adam (PyTorch's; `local_adam_eps`): steps of about `local_lr` whatever the size of
    /// the gradient. **\[choice\]** docs/method.md default.
    #[default]
    Adam,
    /// SGD (PyTorch's, with `local_momentum`): steps that scale with the gradient, so a
    /// layer whose loss is nearly satisfied moves little.
    Sgd,
}

/// When the local rule steps the hidden layers within an iteration (PPO: `update_epochs`
/// epochs of `num_minibatches` minibatches; A2C and REINFORCE: one minibatch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalSteps {
    /// On every minibatch of every epoch (docs/method.md default).
    #[default]
    Minibatch,
    /// Once per epoch, on its first minibatch.
    Epoch,
    /// Once per iteration, on the first minibatch of the first epoch: the same minibatch
    /// size as the other modes, so only the number of steps differs (the collection's
    /// forward passes see `num_envs` rows at a time, too few pairs for a distance loss, and
    /// a step there would change the policy in the middle of its own rollout).
    Iteration,
}

/// EMA rate of the running feature scale of `scale_features` (BatchNorm's default
/// momentum): `running = (1 - rate) running + rate * current`.
pub const FEATURE_SCALE_RATE: f64 = 0.1;

/// Trainer options.
///
/// `local_lr_schedule`, `local_until`, `local_optimizer`, `local_momentum`, `local_steps`,
/// `scale_features` and `feature_ema` are left out of the serialized config at their
/// defaults, so configs written before they existed keep their run ids.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainerConfig {
    /// Which trainer.
    pub kind: TrainerKind,
    /// Learning rate of each hidden layer's own Adam under a local trainer.
    /// **\[choice\]** docs/method.md: 1e-3, constant (see `local_lr_schedule`).
    pub local_lr: f64,
    /// Schedule of `local_lr` over the run (ours: `constant`, docs/method.md).
    #[serde(skip_serializing_if = "is_default_schedule")]
    pub local_lr_schedule: LocalLrSchedule,
    /// Fraction of the run, in (0, 1], during which a local trainer trains the hidden
    /// layers: from the first iteration whose start is at or past `local_until` of the
    /// run's iterations (of its steps for REINFORCE's episode batches), they stay frozen
    /// and only the heads learn ("PDM first, then frozen"). Default 1: the whole run.
    #[serde(skip_serializing_if = "is_whole_run")]
    pub local_until: f64,
    /// Epsilon of the hidden layers' Adam (PyTorch's default 1e-8; read by
    /// `local_optimizer = "adam"` only).
    pub local_adam_eps: f64,
    /// Optimiser of the hidden layers (ours: `adam`, docs/method.md).
    #[serde(skip_serializing_if = "is_default")]
    pub local_optimizer: LocalOptimizer,
    /// Momentum of the hidden layers' SGD, in [0, 1) (PyTorch's default 0; read by
    /// `local_optimizer = "sgd"` only).
    #[serde(skip_serializing_if = "is_zero")]
    pub local_momentum: f64,
    /// When the local rule steps within an iteration (ours: `minibatch`).
    #[serde(skip_serializing_if = "is_default")]
    pub local_steps: LocalSteps,
    /// Scale-normalised features: the next layer and the heads see each hidden layer's
    /// output multiplied by `s_0 / s`, where `s` is a running estimate (EMA, rate
    /// [`FEATURE_SCALE_RATE`], updated whenever the layer is trained) of the
    /// root-mean-square pairwise distance of its outputs over a minibatch and `s_0` its
    /// first value: a layer that shrinks its outputs (which the scale-free loss allows)
    /// passes on features of its initial scale. At the first update the network is the
    /// `frozen` one. Default false.
    #[serde(skip_serializing_if = "is_false")]
    pub scale_features: bool,
    /// A slow copy: the next layer, the heads and the policy read an exponential moving
    /// average of each hidden layer's parameters with this decay in [0, 1)
    /// (`slow = decay * slow + (1 - decay) * fast` after each local step), while the local
    /// rule trains the fast parameters; 0 (default) reads the trained parameters
    /// themselves.
    #[serde(skip_serializing_if = "is_zero")]
    pub feature_ema: f64,
    /// Features the next layer and the heads see (`pre_update` or `post_update`).
    pub features: Features,
    /// Reward guidance, used by `pdm_guided`.
    pub guidance: GuidanceConfig,
    /// Options of the PDM rule (its `guidance_weight` is set from `guidance.weight` for
    /// `pdm_guided` and 0 otherwise; leave it at 0).
    pub pdm: PdmOptions,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            kind: TrainerKind::Bp,
            local_lr: 1e-3,
            local_lr_schedule: LocalLrSchedule::Constant,
            local_until: 1.0,
            local_adam_eps: 1e-8,
            local_optimizer: LocalOptimizer::Adam,
            local_momentum: 0.0,
            local_steps: LocalSteps::Minibatch,
            scale_features: false,
            feature_ema: 0.0,
            features: Features::PreUpdate,
            guidance: GuidanceConfig::default(),
            pdm: PdmOptions::default(),
        }
    }
}

fn is_default_schedule(s: &LocalLrSchedule) -> bool {
    *s == LocalLrSchedule::Constant
}

fn is_whole_run(f: &f64) -> bool {
    *f == 1.0
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_zero(f: &f64) -> bool {
    *f == 0.0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl TrainerConfig {
    /// Default options for `kind`.
    pub fn new(kind: TrainerKind) -> Self {
        TrainerConfig {
            kind,
            ..TrainerConfig::default()
        }
    }

    /// A config whose serialized form holds every key: each option that is left out at
    /// its default set to another value (what an experiment file's `[trainer]` section
    /// accepts is the top-level keys of its serialized form). Not a config to train with.
    pub fn with_every_key() -> Self {
        TrainerConfig {
            local_lr_schedule: LocalLrSchedule::Linear,
            local_until: 0.5,
            local_optimizer: LocalOptimizer::Sgd,
            local_momentum: 0.5,
            local_steps: LocalSteps::Epoch,
            scale_features: true,
            feature_ema: 0.5,
            ..TrainerConfig::default()
        }
    }

    /// These options with every one that `kind` does not read
    /// ([`TrainerKind::uses_option`]) at its default: two configs that train the same way
    /// are then equal (and share a run id). The local rule's options still shape the
    /// diagnostics `bp` and `frozen` measure; those are then the defaults'.
    pub fn effective(self) -> Self {
        let d = TrainerConfig::new(self.kind);
        match self.kind {
            TrainerKind::Bp | TrainerKind::Frozen => d,
            TrainerKind::Pdm => TrainerConfig {
                guidance: d.guidance,
                ..self
            },
            TrainerKind::PdmGuided => self,
        }
    }

    /// The options the PDM rule runs with: `pdm` with `guidance_weight = guidance.weight`
    /// under `pdm_guided` and 0 otherwise.
    pub fn rule_options(&self) -> PdmOptions {
        PdmOptions {
            guidance_weight: if self.kind == TrainerKind::PdmGuided {
                self.guidance.weight
            } else {
                0.0
            },
            ..self.pdm
        }
    }

    /// The guidance signals of the actor's and the critic's rules (`None` unless
    /// `pdm_guided`).
    pub fn signals(&self) -> (GuidanceSignal, GuidanceSignal) {
        if self.kind == TrainerKind::PdmGuided {
            (self.guidance.actor_signal, self.guidance.critic_signal)
        } else {
            (GuidanceSignal::None, GuidanceSignal::None)
        }
    }
}

impl Check for TrainerConfig {
    type Error = AgentError;

    /// Checks every option.
    ///
    /// # Errors
    /// [`AgentError::InvalidConfig`] or [`AgentError::LocalLoss`] naming the option.
    fn check_ref(&self) -> Result<(), AgentError> {
        let bad = |name: &'static str, value: f64, allowed: &str| {
            Err(AgentError::InvalidConfig {
                name,
                value: value.to_string(),
                allowed: allowed.into(),
            })
        };
        if !(self.local_lr > 0.0 && self.local_lr.is_finite()) {
            return bad("trainer.local_lr", self.local_lr, "must be finite and > 0");
        }
        if !(self.local_until > 0.0 && self.local_until <= 1.0) {
            return bad(
                "trainer.local_until",
                self.local_until,
                "must be in (0, 1] (the fraction of the run with local learning)",
            );
        }
        if !(self.local_adam_eps > 0.0 && self.local_adam_eps.is_finite()) {
            return bad(
                "trainer.local_adam_eps",
                self.local_adam_eps,
                "must be finite and > 0",
            );
        }
        if !(0.0..1.0).contains(&self.local_momentum) {
            return bad(
                "trainer.local_momentum",
                self.local_momentum,
                "must be in [0, 1)",
            );
        }
        let d = TrainerConfig::default();
        match self.local_optimizer {
            LocalOptimizer::Adam if self.local_momentum != d.local_momentum => {
                return bad(
                    "trainer.local_momentum",
                    self.local_momentum,
                    "is read by local_optimizer = \"sgd\" only (this config uses adam)",
                );
            }
            LocalOptimizer::Sgd if self.local_adam_eps != d.local_adam_eps => {
                return bad(
                    "trainer.local_adam_eps",
                    self.local_adam_eps,
                    "is read by local_optimizer = \"adam\" only (this config uses sgd)",
                );
            }
            _ => {}
        }
        if !(0.0..1.0).contains(&self.feature_ema) {
            return bad(
                "trainer.feature_ema",
                self.feature_ema,
                "must be in [0, 1) (the decay of the slow copy; 0 = off)",
            );
        }
        let w = self.guidance.weight;
        if !(w > 0.0 && w <= 1.0) {
            return bad(
                "trainer.guidance.weight",
                w,
                "must be in (0, 1] (pdm_guided uses it; pdm is the unguided rule)",
            );
        }
        if self.pdm.guidance_weight != 0.0 {
            return bad(
                "trainer.pdm.guidance_weight",
                self.pdm.guidance_weight,
                "is set from guidance.weight for pdm_guided; leave it at 0",
            );
        }
        self.rule_options().check()?;
        Ok(())
    }
}

/// Diagnostics of one hidden layer (docs/method.md: what explains a PDM result).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LayerStats {
    /// The PDM loss of the layer on the minibatch (for `bp`/`frozen`: measured, not used).
    pub local_loss: f64,
    /// Mean pairwise euclidean distance of the layer's outputs over the minibatch.
    pub mean_distance: f64,
    /// Fraction of outputs with `|tanh| > 0.99` (for relu: outputs equal to 0), on the
    /// outputs the local loss saw (before the layer's step).
    pub saturated: f64,
    /// Frobenius norm of the layer's weight after the update.
    pub weight_norm: f64,
    /// Feature drift: `||H_now - H_prev|| / ||H_prev||` (Frobenius) of the layer's outputs
    /// on a fixed probe batch over one iteration's updates (NaN where not measured).
    pub drift: f64,
}

/// What one minibatch update reports.
#[derive(Debug, Clone, Default)]
pub struct UpdateReport {
    /// Global norm of the clipped-over gradients before clipping.
    pub grad_norm: f64,
    /// Per hidden layer of the actor; empty when not measured.
    pub actor_layers: Vec<LayerStats>,
    /// Per hidden layer of the critic; empty when not measured.
    pub critic_layers: Vec<LayerStats>,
}

/// The optimisers of a trainer for these networks (and a log-std of `log_std` components).
fn build_state(
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
    Ok(match config.kind {
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
            let trains = config.kind.trains_locally();
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

enum State {
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

/// An actor network, a critic network and the trainer state that updates them.
pub struct ActorCritic {
    /// The policy network (`[batch, obs_dim] -> [batch, n_actions]` logits, or the
    /// Gaussian mean `[batch, action_dim]`).
    pub actor: Mlp,
    /// The value network (`[batch, obs_dim] -> [batch, 1]`).
    pub critic: Mlp,
    /// The state-independent log-std `[action_dim]` of a Gaussian policy (CleanRL's
    /// `actor_logstd`), trained with the heads; `None` for a categorical policy.
    pub log_std: Option<Array1<f32>>,
    config: TrainerConfig,
    actor_rule: Box<dyn LocalRule<f32>>,
    critic_rule: Box<dyn LocalRule<f32>>,
    state: State,
}

/// What the algorithm's loss sees of one minibatch.
#[derive(Debug, Clone, Copy)]
pub struct HeadOutputs<'a> {
    /// The policy head's output, `[batch, n_out]` (logits or Gaussian mean).
    pub policy: ArrayView2<'a, f32>,
    /// The Gaussian log-std `[action_dim]`, if the policy has one.
    pub log_std: Option<ArrayView1<'a, f32>>,
    /// The values, `[batch]`.
    pub values: ArrayView1<'a, f32>,
}

/// The gradients the algorithm's loss returns, shaped as [`HeadOutputs`].
#[derive(Debug, Clone)]
pub struct HeadGrads {
    /// dLoss/d(policy output), `[batch, n_out]`.
    pub policy: Array2<f32>,
    /// dLoss/dlog_std, `[action_dim]` (ignored if the policy has no log-std).
    pub log_std: Option<Array1<f32>>,
    /// dLoss/dvalues, `[batch]`.
    pub values: Array1<f32>,
}

/// The loss of the algorithm: given the head outputs, returns their gradients.
pub type HeadLoss<'a> = dyn FnMut(HeadOutputs<'_>) -> HeadGrads + 'a;

/// Where a parameter became non-finite: the network (`actor`, `critic`) and the layer
/// (`hidden layer 2`, `head`, `log_std`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonFiniteParameter {
    /// `actor` or `critic`.
    pub network: &'static str,
    /// `hidden layer k` (1-based), `head` or `log_std`.
    pub layer: String,
}

impl ActorCritic {
    /// Wraps two networks with a trainer whose options were checked
    /// ([`Check::check`](crate::Check::check)), the PDM rules seeded with 0 (see
    /// [`ActorCritic::with_seed`]). `lr` and `adam_eps` are the algorithm's (used for every
    /// parameter under `bp`, for the heads under local trainers).
    ///
    /// # Errors
    /// Invalid learning rates.
    pub fn new(
        actor: Mlp,
        critic: Mlp,
        config: Valid<TrainerConfig>,
        lr: f64,
        adam_eps: f64,
    ) -> Result<Self, AgentError> {
        Self::with_seed(actor, critic, config, lr, adam_eps, 0)
    }

    /// As [`ActorCritic::new`], with the actor's and the critic's PDM rules seeded from
    /// `seed` (streams `"actor-local-rule"`, `"critic-local-rule"`).
    ///
    /// # Errors
    /// Invalid learning rates.
    pub fn with_seed(
        actor: Mlp,
        critic: Mlp,
        config: Valid<TrainerConfig>,
        lr: f64,
        adam_eps: f64,
        seed: u64,
    ) -> Result<Self, AgentError> {
        let rule = |stream: &str| -> Result<Box<dyn LocalRule<f32>>, AgentError> {
            Ok(Box::new(Pdm::with_seed(
                config.rule_options(),
                derive_seed(seed, stream),
            )?))
        };
        let (actor_rule, critic_rule) = (rule("actor-local-rule")?, rule("critic-local-rule")?);
        Self::with_rules(actor, critic, config, lr, adam_eps, actor_rule, critic_rule)
    }

    /// As [`ActorCritic::new`], with local rules of your own for the actor's and the
    /// critic's hidden layers (a new [`LocalRule`] needs no change here). The rules are
    /// used by `pdm`/`pdm_guided` to train and by every trainer for the diagnostics.
    ///
    /// # Errors
    /// Invalid learning rates.
    pub fn with_rules(
        actor: Mlp,
        critic: Mlp,
        config: Valid<TrainerConfig>,
        lr: f64,
        adam_eps: f64,
        actor_rule: Box<dyn LocalRule<f32>>,
        critic_rule: Box<dyn LocalRule<f32>>,
    ) -> Result<Self, AgentError> {
        let config = config.into_inner();
        let state = build_state(&config, &actor, &critic, None, lr, adam_eps)?;
        let (mut actor, mut critic) = (actor, critic);
        if config.scale_features && config.kind.trains_locally() {
            actor.feature_scales = vec![1.0; actor.hidden.len()];
            critic.feature_scales = vec![1.0; critic.hidden.len()];
        }
        Ok(ActorCritic {
            actor,
            critic,
            log_std: None,
            config,
            actor_rule,
            critic_rule,
            state,
        })
    }

    /// Gives the actor a Gaussian log-std parameter `[action_dim]` (CleanRL initialises it
    /// to zeros), trained with the heads (with every parameter under `bp`). Call before the
    /// first update: the optimisers start afresh.
    ///
    /// # Errors
    /// [`AgentError::InvalidConfig`] if `log_std` is empty, non-finite, or its length
    /// differs from the actor's outputs.
    pub fn with_log_std(mut self, log_std: Array1<f32>) -> Result<Self, AgentError> {
        if log_std.is_empty()
            || log_std.len() != self.actor.head.outputs()
            || log_std.iter().any(|v| !v.is_finite())
        {
            return Err(AgentError::InvalidConfig {
                name: "init_log_std",
                value: format!("{log_std}"),
                allowed: format!(
                    "finite, one per action component ({})",
                    self.actor.head.outputs()
                ),
            });
        }
        let head = match &self.state {
            State::Backprop { adam: h } | State::Local { heads: h, .. } => match h {
                Optimiser::Adam(a) => *a.config(),
                Optimiser::Sgd(_) => unreachable!("heads step with Adam"),
            },
        };
        self.state = build_state(
            &self.config,
            &self.actor,
            &self.critic,
            Some(log_std.len()),
            head.lr,
            head.eps,
        )?;
        self.log_std = Some(log_std);
        Ok(self)
    }

    /// The names of the trainer's optimisers, in the order of [`ActorCritic::optimisers`]:
    /// `adam` (bp), or `heads`, `actor_hidden_{k}`, `critic_hidden_{k}` (local trainers; k
    /// is 1-based).
    pub fn optimiser_names(&self) -> Vec<String> {
        match &self.state {
            State::Backprop { .. } => vec!["adam".into()],
            State::Local {
                actor_hidden,
                critic_hidden,
                ..
            } => std::iter::once("heads".to_string())
                .chain((1..=actor_hidden.len()).map(|k| format!("actor_hidden_{k}")))
                .chain((1..=critic_hidden.len()).map(|k| format!("critic_hidden_{k}")))
                .collect(),
        }
    }

    /// Every optimiser of the trainer, in a fixed order (see
    /// [`ActorCritic::optimiser_names`]).
    pub fn optimisers(&self) -> Vec<&Optimiser<f32>> {
        match &self.state {
            State::Backprop { adam } => vec![adam],
            State::Local {
                heads,
                actor_hidden,
                critic_hidden,
                ..
            } => std::iter::once(heads)
                .chain(actor_hidden)
                .chain(critic_hidden)
                .collect(),
        }
    }

    /// The optimisers, mutably, in the same order.
    pub fn optimisers_mut(&mut self) -> Vec<&mut Optimiser<f32>> {
        match &mut self.state {
            State::Backprop { adam } => vec![adam],
            State::Local {
                heads,
                actor_hidden,
                critic_hidden,
                ..
            } => std::iter::once(heads)
                .chain(actor_hidden)
                .chain(critic_hidden)
                .collect(),
        }
    }

    /// The local rules of the actor and the critic (for their RNG states).
    pub fn rules_mut(&mut self) -> [&mut dyn LocalRule<f32>; 2] {
        [self.actor_rule.as_mut(), self.critic_rule.as_mut()]
    }

    /// The local rules, read-only.
    pub fn rules(&self) -> [&dyn LocalRule<f32>; 2] {
        [self.actor_rule.as_ref(), self.critic_rule.as_ref()]
    }

    /// The first parameter that is NaN or infinite, if any, named by network and layer.
    pub fn first_non_finite(&self) -> Option<NonFiniteParameter> {
        let bad = |l: &pdmrl_tensor::Dense<f32>| {
            l.weight.iter().chain(l.bias.iter()).any(|v| !v.is_finite())
        };
        for (network, net) in [("actor", &self.actor), ("critic", &self.critic)] {
            for (k, layer) in net.hidden.iter().enumerate() {
                if bad(layer) {
                    return Some(NonFiniteParameter {
                        network,
                        layer: format!("hidden layer {}", k + 1),
                    });
                }
            }
            if bad(&net.head) {
                return Some(NonFiniteParameter {
                    network,
                    layer: "head".into(),
                });
            }
        }
        if let Some(ls) = &self.log_std
            && ls.iter().any(|v| !v.is_finite())
        {
            return Some(NonFiniteParameter {
                network: "actor",
                layer: "log_std".into(),
            });
        }
        None
    }

    /// The trainer options.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// Sets the algorithm's learning rate (annealing); local learning rates follow
    /// [`ActorCritic::set_progress`].
    pub fn set_lr(&mut self, lr: f64) {
        match &mut self.state {
            State::Backprop { adam } => adam.set_lr(lr),
            State::Local { heads, .. } => heads.set_lr(lr),
        }
    }

    /// The local state of the actor's and the critic's hidden layers (fast copies and
    /// running scales; empty unless `feature_ema` or `scale_features`).
    pub fn local_states(&self) -> Option<[&LocalState; 2]> {
        match &self.state {
            State::Local {
                actor_local,
                critic_local,
                ..
            } => Some([actor_local, critic_local]),
            State::Backprop { .. } => None,
        }
    }

    /// Restores the local state of the actor's and the critic's hidden layers (from a
    /// checkpoint) and sets the networks' feature multipliers from the scales.
    ///
    /// # Errors
    /// [`AgentError::Checkpoint`] if the layers or scales do not fit this trainer's.
    pub fn set_local_states(&mut self, states: [LocalState; 2]) -> Result<(), AgentError> {
        let State::Local {
            actor_local,
            critic_local,
            ..
        } = &mut self.state
        else {
            return Err(AgentError::Checkpoint(
                "local-trainer state given to a bp trainer".into(),
            ));
        };
        let [a, c] = states;
        for (name, now, new) in [("actor", &*actor_local, &a), ("critic", &*critic_local, &c)] {
            let shapes = |s: &LocalState| {
                (
                    s.fast
                        .as_ref()
                        .map(|f| f.iter().map(|l| l.weight.dim()).collect::<Vec<_>>()),
                    s.scales.len(),
                )
            };
            if shapes(now) != shapes(new) {
                return Err(AgentError::Checkpoint(format!(
                    "the {name}'s local state (fast layers, feature scales) does not fit this trainer's"
                )));
            }
        }
        *actor_local = a;
        *critic_local = c;
        self.actor.feature_scales = actor_local
            .scales
            .iter()
            .map(FeatureScale::multiplier)
            .collect();
        self.critic.feature_scales = critic_local
            .scales
            .iter()
            .map(FeatureScale::multiplier)
            .collect();
        Ok(())
    }

    /// Tells a local trainer where the next [`ActorCritic::update`] falls within the
    /// iteration (0-based epoch and minibatch), which decides by `local_steps` whether the
    /// hidden layers step on it. Not calling it steps them on every update. A no-op under
    /// `bp`.
    pub fn set_position(&mut self, epoch: usize, minibatch: usize) {
        let mode = self.config.local_steps;
        if let State::Local { step_now, .. } = &mut self.state {
            *step_now = match mode {
                LocalSteps::Minibatch => true,
                LocalSteps::Epoch => minibatch == 0,
                LocalSteps::Iteration => epoch == 0 && minibatch == 0,
            };
        }
    }

    /// Tells a local trainer how far the run is, `progress` in [0, 1) the fraction of it
    /// done before this iteration (`(iteration - 1) / num_iterations`): sets the hidden
    /// layers' learning rate by `local_lr_schedule` and stops their training from
    /// `local_until` on. A no-op under `bp` and `frozen`.
    pub fn set_progress(&mut self, progress: f64) {
        let c = self.config;
        if let State::Local {
            actor_hidden,
            critic_hidden,
            train_hidden,
            ..
        } = &mut self.state
        {
            if !c.kind.trains_locally() {
                return;
            }
            *train_hidden = progress < c.local_until;
            let lr = c.local_lr_schedule.rate(c.local_lr, progress);
            for adam in actor_hidden.iter_mut().chain(critic_hidden.iter_mut()) {
                adam.set_lr(lr);
            }
        }
    }

    /// One update on a minibatch `obs: [batch, obs_dim]`.
    ///
    /// `guidance` carries the per-sample guidance signals `[batch]` for the actor's and the
    /// critic's local rule (used only when the rule's guidance weight is > 0). `loss`
    /// receives the head outputs and returns their gradients. Gradients are clipped to
    /// `max_grad_norm` (all parameters under `bp`, the heads under local trainers).
    /// With `diagnose`, per-layer statistics are measured even when the trainer does not
    /// compute the local loss itself.
    ///
    /// A minibatch of one row has no pairs: the local rule neither steps nor measures the
    /// hidden layers then (only the heads learn from it, or everything under `bp`).
    ///
    /// # Errors
    /// A local-rule error (e.g. sampled pairs with `k` at least the minibatch size).
    pub fn update(
        &mut self,
        obs: ArrayView2<f32>,
        guidance: (Option<ArrayView1<f32>>, Option<ArrayView1<f32>>),
        max_grad_norm: f64,
        diagnose: bool,
        loss: &mut HeadLoss<'_>,
    ) -> Result<UpdateReport, AgentError> {
        let has_pairs = obs.nrows() >= 2;
        let diagnose = diagnose && has_pairs;
        let mut report = UpdateReport::default();
        match &mut self.state {
            State::Backprop { adam } => {
                if diagnose {
                    report.actor_layers =
                        measure(&self.actor, obs, self.actor_rule.as_mut(), guidance.0)?;
                    report.critic_layers =
                        measure(&self.critic, obs, self.critic_rule.as_mut(), guidance.1)?;
                }
                let a_acts = self.actor.forward_cached(obs);
                let c_acts = self.critic.forward_cached(obs);
                let values = c_acts.last().expect("output").column(0).to_owned();
                let g = loss(HeadOutputs {
                    policy: a_acts.last().expect("output").view(),
                    log_std: self.log_std.as_ref().map(|a| a.view()),
                    values: values.view(),
                });
                let mut ga = self.actor.backward(&a_acts, g.policy.view());
                let mut gc = self
                    .critic
                    .backward(&c_acts, g.values.insert_axis(Axis(1)).view());
                drop((a_acts, c_acts));
                let mut g_log_std = log_std_grad(self.log_std.as_ref(), g.log_std);
                let mut grads: Vec<&mut [f32]> = ga
                    .layers_mut()
                    .chain(gc.layers_mut())
                    .flat_map(layer_grads)
                    .chain(
                        g_log_std
                            .as_mut()
                            .map(|g| g.as_slice_mut().expect("standard layout")),
                    )
                    .collect();
                report.grad_norm = f64::from(clip_grad_norm(&mut grads, max_grad_norm));
                let grads: Vec<&[f32]> = grads.into_iter().map(|g| &*g).collect();
                let mut params: Vec<&mut [f32]> = self
                    .actor
                    .layers_mut()
                    .chain(self.critic.layers_mut())
                    .flat_map(layer_params)
                    .chain(
                        self.log_std
                            .as_mut()
                            .map(|p| p.as_slice_mut().expect("standard layout")),
                    )
                    .collect();
                adam.step(&mut params, &grads);
                if diagnose {
                    set_weight_norms(&mut report.actor_layers, &self.actor);
                    set_weight_norms(&mut report.critic_layers, &self.critic);
                }
            }
            State::Local {
                heads,
                actor_hidden,
                critic_hidden,
                train_hidden,
                step_now,
                actor_local,
                critic_local,
            } => {
                let train = *train_hidden && *step_now && has_pairs;
                let features = self.config.features;
                let ema = self.config.feature_ema;
                let (a_feat, a_stats) = local_forward(
                    &mut self.actor,
                    obs,
                    self.actor_rule.as_mut(),
                    guidance.0,
                    train.then_some(LocalTraining {
                        optimisers: actor_hidden,
                        local: actor_local,
                        ema,
                    }),
                    features,
                    diagnose,
                )?;
                let (c_feat, c_stats) = local_forward(
                    &mut self.critic,
                    obs,
                    self.critic_rule.as_mut(),
                    guidance.1,
                    train.then_some(LocalTraining {
                        optimisers: critic_hidden,
                        local: critic_local,
                        ema,
                    }),
                    features,
                    diagnose,
                )?;
                report.actor_layers = a_stats;
                report.critic_layers = c_stats;
                // Heads on the features as constants.
                let a_out = self.actor.head.forward(a_feat.view());
                let c_out = self.critic.head.forward(c_feat.view());
                let values = c_out.column(0).to_owned();
                let g = loss(HeadOutputs {
                    policy: a_out.view(),
                    log_std: self.log_std.as_ref().map(|a| a.view()),
                    values: values.view(),
                });
                let mut ga =
                    self.actor
                        .head
                        .backward(a_feat.view(), a_out.view(), g.policy.view(), false);
                let mut gc = self.critic.head.backward(
                    c_feat.view(),
                    c_out.view(),
                    g.values.insert_axis(Axis(1)).view(),
                    false,
                );
                let mut g_log_std = log_std_grad(self.log_std.as_ref(), g.log_std);
                let mut grads: Vec<&mut [f32]> = [&mut ga, &mut gc]
                    .into_iter()
                    .flat_map(layer_grads)
                    .chain(
                        g_log_std
                            .as_mut()
                            .map(|g| g.as_slice_mut().expect("standard layout")),
                    )
                    .collect();
                report.grad_norm = f64::from(clip_grad_norm(&mut grads, max_grad_norm));
                let grads: Vec<&[f32]> = grads.into_iter().map(|g| &*g).collect();
                let mut params: Vec<&mut [f32]> = [&mut self.actor.head, &mut self.critic.head]
                    .into_iter()
                    .flat_map(layer_params)
                    .chain(
                        self.log_std
                            .as_mut()
                            .map(|p| p.as_slice_mut().expect("standard layout")),
                    )
                    .collect();
                heads.step(&mut params, &grads);
            }
        }
        Ok(report)
    }
}

/// The log-std gradient to step with: the loss's, or zeros if the loss gave none for a
/// policy that has a log-std; `None` without a log-std.
///
/// # Panics
/// If the loss's gradient has the wrong length.
fn log_std_grad(log_std: Option<&Array1<f32>>, grad: Option<Array1<f32>>) -> Option<Array1<f32>> {
    let ls = log_std?;
    let g = grad.unwrap_or_else(|| Array1::zeros(ls.len()));
    assert_eq!(g.len(), ls.len(), "HeadLoss: log_std gradient length");
    Some(g)
}

/// What a local trainer steps on one network: the optimisers of its hidden layers, its
/// local state (fast copies, running scales) and the slow copy's decay.
struct LocalTraining<'a> {
    optimisers: &'a mut [Optimiser<f32>],
    local: &'a mut LocalState,
    ema: f64,
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
fn local_forward(
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
            let out = rule.loss_and_grad(target_input, seen.view(), guidance)?;
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
fn ema_into(slow: &mut Dense<f32>, fast: &Dense<f32>, decay: f64) {
    let (d, f) = (decay as f32, (1.0 - decay) as f32);
    ndarray::Zip::from(&mut slow.weight)
        .and(&fast.weight)
        .for_each(|s, &v| *s = d * *s + f * v);
    ndarray::Zip::from(&mut slow.bias)
        .and(&fast.bias)
        .for_each(|s, &v| *s = d * *s + f * v);
}

/// Per-layer statistics of a network on `obs` without changing it.
fn measure(
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

fn set_weight_norms(stats: &mut [LayerStats], net: &Mlp) {
    for (s, layer) in stats.iter_mut().zip(&net.hidden) {
        s.weight_norm = frobenius(&layer.weight);
    }
}

fn frobenius(w: &Array2<f32>) -> f64 {
    w.iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

fn saturated_fraction(h: ArrayView2<f32>, activation: Activation) -> f64 {
    let n = h.len().max(1) as f64;
    let count = match activation {
        Activation::Tanh => h.iter().filter(|v| v.abs() > 0.99).count(),
        Activation::Relu => h.iter().filter(|&&v| v == 0.0).count(),
        Activation::Identity => 0,
    };
    count as f64 / n
}
