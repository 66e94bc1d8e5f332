//! The trainer's options: [`TrainerKind`], the local optimiser and schedule, features,
//! reward guidance and the PDM rule's options, with their checks.

use crate::error::AgentError;
use crate::valid::Check;
use pdmrl_local_loss::PdmOptions;
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
