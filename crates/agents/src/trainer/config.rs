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
    /// `trainer.` prefix: `local_lr`, `pdm.normalize`, `guidance.weight`, ...), i.e.
    /// whether its [`TrainerConfig`] variant holds it: `bp` and `frozen` read none (their
    /// hidden layers never see the local rule), `pdm` all but `guidance.*` (its
    /// [`LocalOptions`]), `pdm_guided` all. [`TrainerOptions::config`] drops the others.
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

/// The trainer options as a `[trainer]` table holds them (an experiment file's section, a
/// run's `config.toml`): the trainer's `kind` and every option of every kind, whether
/// `kind` reads it or not. [`TrainerConfig`] is what trains: [`TrainerOptions::config`]
/// keeps the options `kind` reads, and a [`TrainerConfig`] serializes as (and
/// deserializes from) this form.
///
/// `local_lr_schedule`, `local_until`, `local_optimizer`, `local_momentum`, `local_steps`,
/// `scale_features` and `feature_ema` are left out of the serialized config at their
/// defaults, so configs written before they existed keep their run ids.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainerOptions {
    /// Which trainer.
    pub kind: TrainerKind,
    /// [`LocalOptions::local_lr`].
    pub local_lr: f64,
    /// [`LocalOptions::local_lr_schedule`].
    #[serde(skip_serializing_if = "is_default_schedule")]
    pub local_lr_schedule: LocalLrSchedule,
    /// [`LocalOptions::local_until`].
    #[serde(skip_serializing_if = "is_whole_run")]
    pub local_until: f64,
    /// [`LocalOptions::local_adam_eps`].
    pub local_adam_eps: f64,
    /// [`LocalOptions::local_optimizer`].
    #[serde(skip_serializing_if = "is_default")]
    pub local_optimizer: LocalOptimizer,
    /// [`LocalOptions::local_momentum`].
    #[serde(skip_serializing_if = "is_zero")]
    pub local_momentum: f64,
    /// [`LocalOptions::local_steps`].
    #[serde(skip_serializing_if = "is_default")]
    pub local_steps: LocalSteps,
    /// [`LocalOptions::scale_features`].
    #[serde(skip_serializing_if = "is_false")]
    pub scale_features: bool,
    /// [`LocalOptions::feature_ema`].
    #[serde(skip_serializing_if = "is_zero")]
    pub feature_ema: f64,
    /// [`LocalOptions::features`].
    pub features: Features,
    /// Reward guidance, read by `pdm_guided` only.
    pub guidance: GuidanceConfig,
    /// [`LocalOptions::pdm`].
    pub pdm: PdmOptions,
}

/// The options of a local trainer (`pdm`, `pdm_guided`: [`TrainerConfig::Pdm`],
/// [`TrainerConfig::PdmGuided`]): the hidden layers' optimiser and schedule, the features
/// the next layer sees, and the PDM rule's options. Their defaults are docs/method.md's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalOptions {
    /// Learning rate of each hidden layer's own Adam under a local trainer.
    /// **\[choice\]** docs/method.md: 1e-3, constant (see `local_lr_schedule`).
    pub local_lr: f64,
    /// Schedule of `local_lr` over the run (ours: `constant`, docs/method.md).
    pub local_lr_schedule: LocalLrSchedule,
    /// Fraction of the run, in (0, 1], during which a local trainer trains the hidden
    /// layers: from the first iteration whose start is at or past `local_until` of the
    /// run's iterations (of its steps for REINFORCE's episode batches), they stay frozen
    /// and only the heads learn ("PDM first, then frozen"). Default 1: the whole run.
    pub local_until: f64,
    /// Epsilon of the hidden layers' Adam (PyTorch's default 1e-8; read by
    /// `local_optimizer = "adam"` only).
    pub local_adam_eps: f64,
    /// Optimiser of the hidden layers (ours: `adam`, docs/method.md).
    pub local_optimizer: LocalOptimizer,
    /// Momentum of the hidden layers' SGD, in [0, 1) (PyTorch's default 0; read by
    /// `local_optimizer = "sgd"` only).
    pub local_momentum: f64,
    /// When the local rule steps within an iteration (ours: `minibatch`).
    pub local_steps: LocalSteps,
    /// Scale-normalised features: the next layer and the heads see each hidden layer's
    /// output multiplied by `s_0 / s`, where `s` is a running estimate (EMA, rate
    /// [`FEATURE_SCALE_RATE`], updated whenever the layer is trained) of the
    /// root-mean-square pairwise distance of its outputs over a minibatch and `s_0` its
    /// first value: a layer that shrinks its outputs (which the scale-free loss allows)
    /// passes on features of its initial scale. At the first update the network is the
    /// `frozen` one. Default false.
    pub scale_features: bool,
    /// A slow copy: the next layer, the heads and the policy read an exponential moving
    /// average of each hidden layer's parameters with this decay in [0, 1)
    /// (`slow = decay * slow + (1 - decay) * fast` after each local step), while the local
    /// rule trains the fast parameters; 0 (default) reads the trained parameters
    /// themselves.
    pub feature_ema: f64,
    /// Features the next layer and the heads see (`pre_update` or `post_update`).
    pub features: Features,
    /// Options of the PDM rule (its `guidance_weight` is set from `guidance.weight` for
    /// `pdm_guided` and 0 otherwise; leave it at 0).
    pub pdm: PdmOptions,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
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
            pdm: PdmOptions::default(),
        }
    }
}

/// Which trainer updates the networks, with the options it reads and only those: a
/// config cannot hold an option its trainer ignores. Built by [`TrainerConfig::new`] (a
/// kind's defaults), by [`TrainerOptions::config`] (a `[trainer]` table's options), or
/// read from a config file: it serializes as [`TrainerOptions`] (the options it does not
/// hold at their defaults) and deserializes from it, rejecting a table that sets an option
/// its `kind` does not read to other than its default ([`UnreadOption`]).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(into = "TrainerOptions", try_from = "TrainerOptions")]
pub enum TrainerConfig {
    /// End-to-end backpropagation ([`TrainerKind::Bp`]); reads no trainer option.
    #[default]
    Bp,
    /// Hidden layers fixed at their random initialisation ([`TrainerKind::Frozen`]); reads
    /// no trainer option.
    Frozen,
    /// Layer-local pairwise distance matching ([`TrainerKind::Pdm`]).
    Pdm(LocalOptions),
    /// Layer-local pairwise distance matching with reward guidance
    /// ([`TrainerKind::PdmGuided`]).
    PdmGuided {
        /// The local trainer's options.
        local: LocalOptions,
        /// Reward guidance.
        guidance: GuidanceConfig,
    },
}

/// A `[trainer]` table that sets an option its trainer does not read (to other than its
/// default): the error of deserializing a [`TrainerConfig`] ([`TryFrom<TrainerOptions>`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "trainer `{kind}` does not read `trainer.{key}` (bp and frozen read no trainer option, pdm all but guidance.*): it would change nothing"
)]
pub struct UnreadOption {
    /// The trainer.
    pub kind: TrainerKind,
    /// The first such option (dotted, without the `trainer.` prefix: `local_lr`,
    /// `pdm.normalize`, `guidance.weight`, ...).
    pub key: String,
}

impl Default for TrainerOptions {
    fn default() -> Self {
        TrainerOptions::from(TrainerConfig::Bp)
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

impl TrainerOptions {
    /// Default options for `kind` (every option at its default).
    pub fn new(kind: TrainerKind) -> Self {
        TrainerOptions::from(TrainerConfig::new(kind))
    }

    /// Options whose serialized form holds every key: each option that is left out at its
    /// default set to another value (what an experiment file's `[trainer]` section accepts
    /// is the top-level keys of its serialized form). Not options to train with.
    pub fn with_every_key() -> Self {
        TrainerOptions {
            local_lr_schedule: LocalLrSchedule::Linear,
            local_until: 0.5,
            local_optimizer: LocalOptimizer::Sgd,
            local_momentum: 0.5,
            local_steps: LocalSteps::Epoch,
            scale_features: true,
            feature_ema: 0.5,
            ..TrainerOptions::default()
        }
    }

    /// The local trainer's options among these.
    fn local(&self) -> LocalOptions {
        LocalOptions {
            local_lr: self.local_lr,
            local_lr_schedule: self.local_lr_schedule,
            local_until: self.local_until,
            local_adam_eps: self.local_adam_eps,
            local_optimizer: self.local_optimizer,
            local_momentum: self.local_momentum,
            local_steps: self.local_steps,
            scale_features: self.scale_features,
            feature_ema: self.feature_ema,
            features: self.features,
            pdm: self.pdm,
        }
    }

    /// The config of `kind` with the options it reads ([`TrainerKind::uses_option`]);
    /// the others are dropped, so two option sets that train the same way give equal
    /// configs (and share a run id). [`TryFrom`] rejects instead an option dropped at
    /// other than its default.
    pub fn config(self) -> TrainerConfig {
        match self.kind {
            TrainerKind::Bp => TrainerConfig::Bp,
            TrainerKind::Frozen => TrainerConfig::Frozen,
            TrainerKind::Pdm => TrainerConfig::Pdm(self.local()),
            TrainerKind::PdmGuided => TrainerConfig::PdmGuided {
                local: self.local(),
                guidance: self.guidance,
            },
        }
    }

    /// The first option (dotted, without `trainer.`) that [`TrainerOptions::config`]
    /// drops at other than its default, if any.
    pub fn unread_option(&self) -> Option<String> {
        let kept = TrainerOptions::from(self.config());
        // What `config` keeps is copied unchanged (a kept NaN differs only from itself):
        // only the options the kind does not read can differ.
        self.differences(&kept)
            .into_iter()
            .find(|&(key, differs)| differs && !self.kind.uses_option(key))
            .map(|(key, _)| key.to_string())
    }

    /// Each option (dotted, without `trainer.`; `kind` aside) with whether it differs
    /// between `self` and `other`.
    fn differences(&self, other: &TrainerOptions) -> [(&'static str, bool); 20] {
        // Destructured in full: a new option must be listed here.
        let TrainerOptions {
            kind: _,
            local_lr,
            local_lr_schedule,
            local_until,
            local_adam_eps,
            local_optimizer,
            local_momentum,
            local_steps,
            scale_features,
            feature_ema,
            features,
            guidance:
                GuidanceConfig {
                    weight,
                    actor_signal,
                    critic_signal,
                },
            pdm:
                PdmOptions {
                    normalize,
                    metric,
                    eps,
                    guidance_weight,
                    pairs,
                    target,
                    loss,
                },
        } = *self;
        let (b, g, p) = (other, &other.guidance, &other.pdm);
        [
            ("local_lr", local_lr != b.local_lr),
            (
                "local_lr_schedule",
                local_lr_schedule != b.local_lr_schedule,
            ),
            ("local_until", local_until != b.local_until),
            ("local_adam_eps", local_adam_eps != b.local_adam_eps),
            ("local_optimizer", local_optimizer != b.local_optimizer),
            ("local_momentum", local_momentum != b.local_momentum),
            ("local_steps", local_steps != b.local_steps),
            ("scale_features", scale_features != b.scale_features),
            ("feature_ema", feature_ema != b.feature_ema),
            ("features", features != b.features),
            ("guidance.weight", weight != g.weight),
            ("guidance.actor_signal", actor_signal != g.actor_signal),
            ("guidance.critic_signal", critic_signal != g.critic_signal),
            ("pdm.normalize", normalize != p.normalize),
            ("pdm.metric", metric != p.metric),
            ("pdm.eps", eps != p.eps),
            ("pdm.guidance_weight", guidance_weight != p.guidance_weight),
            ("pdm.pairs", pairs != p.pairs),
            ("pdm.target", target != p.target),
            ("pdm.loss", loss != p.loss),
        ]
    }
}

impl From<TrainerConfig> for TrainerOptions {
    /// The serialized form of `config`: its options, and the defaults of those its kind
    /// does not read.
    fn from(config: TrainerConfig) -> Self {
        let l = config.local();
        TrainerOptions {
            kind: config.kind(),
            local_lr: l.local_lr,
            local_lr_schedule: l.local_lr_schedule,
            local_until: l.local_until,
            local_adam_eps: l.local_adam_eps,
            local_optimizer: l.local_optimizer,
            local_momentum: l.local_momentum,
            local_steps: l.local_steps,
            scale_features: l.scale_features,
            feature_ema: l.feature_ema,
            features: l.features,
            guidance: config.guidance().unwrap_or_default(),
            pdm: l.pdm,
        }
    }
}

impl TryFrom<TrainerOptions> for TrainerConfig {
    type Error = UnreadOption;

    /// The config of `options.kind` ([`TrainerOptions::config`]), checking that every
    /// option the kind does not read is at its default (every committed `bp` and `frozen`
    /// config holds them so).
    ///
    /// # Errors
    /// [`UnreadOption`] naming the first option the kind does not read set to other than
    /// its default.
    fn try_from(options: TrainerOptions) -> Result<Self, UnreadOption> {
        match options.unread_option() {
            Some(key) => Err(UnreadOption {
                kind: options.kind,
                key,
            }),
            None => Ok(options.config()),
        }
    }
}

impl TrainerConfig {
    /// Default options for `kind`.
    pub fn new(kind: TrainerKind) -> Self {
        match kind {
            TrainerKind::Bp => TrainerConfig::Bp,
            TrainerKind::Frozen => TrainerConfig::Frozen,
            TrainerKind::Pdm => TrainerConfig::Pdm(LocalOptions::default()),
            TrainerKind::PdmGuided => TrainerConfig::PdmGuided {
                local: LocalOptions::default(),
                guidance: GuidanceConfig::default(),
            },
        }
    }

    /// Which trainer.
    pub fn kind(&self) -> TrainerKind {
        match self {
            TrainerConfig::Bp => TrainerKind::Bp,
            TrainerConfig::Frozen => TrainerKind::Frozen,
            TrainerConfig::Pdm(_) => TrainerKind::Pdm,
            TrainerConfig::PdmGuided { .. } => TrainerKind::PdmGuided,
        }
    }

    /// The local trainer's options: this config's under `pdm` and `pdm_guided`, the
    /// defaults under `bp` and `frozen` (which still build the local rule and per-layer
    /// optimisers from them, for the diagnostics and the never-stepped hidden layers).
    pub fn local(&self) -> LocalOptions {
        match self {
            TrainerConfig::Bp | TrainerConfig::Frozen => LocalOptions::default(),
            TrainerConfig::Pdm(local) | TrainerConfig::PdmGuided { local, .. } => *local,
        }
    }

    /// The local trainer's options to change (`None` under `bp` and `frozen`).
    pub fn local_mut(&mut self) -> Option<&mut LocalOptions> {
        match self {
            TrainerConfig::Bp | TrainerConfig::Frozen => None,
            TrainerConfig::Pdm(local) | TrainerConfig::PdmGuided { local, .. } => Some(local),
        }
    }

    /// The reward guidance (`None` unless `pdm_guided`).
    pub fn guidance(&self) -> Option<GuidanceConfig> {
        match self {
            TrainerConfig::PdmGuided { guidance, .. } => Some(*guidance),
            _ => None,
        }
    }

    /// The options the PDM rule runs with: `pdm` with `guidance_weight = guidance.weight`
    /// under `pdm_guided` and 0 otherwise (the defaults' `pdm` under `bp` and `frozen`).
    pub fn rule_options(&self) -> PdmOptions {
        PdmOptions {
            guidance_weight: self.guidance().map_or(0.0, |g| g.weight),
            ..self.local().pdm
        }
    }

    /// The guidance signals of the actor's and the critic's rules (`None` unless
    /// `pdm_guided`).
    pub fn signals(&self) -> (GuidanceSignal, GuidanceSignal) {
        match self.guidance() {
            Some(g) => (g.actor_signal, g.critic_signal),
            None => (GuidanceSignal::None, GuidanceSignal::None),
        }
    }
}

impl Check for TrainerConfig {
    type Error = AgentError;

    /// Checks every option (under `bp` and `frozen`, the defaults the local rule's
    /// diagnostics run with).
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
        let c = self.local();
        if !(c.local_lr > 0.0 && c.local_lr.is_finite()) {
            return bad("trainer.local_lr", c.local_lr, "must be finite and > 0");
        }
        if !(c.local_until > 0.0 && c.local_until <= 1.0) {
            return bad(
                "trainer.local_until",
                c.local_until,
                "must be in (0, 1] (the fraction of the run with local learning)",
            );
        }
        if !(c.local_adam_eps > 0.0 && c.local_adam_eps.is_finite()) {
            return bad(
                "trainer.local_adam_eps",
                c.local_adam_eps,
                "must be finite and > 0",
            );
        }
        if !(0.0..1.0).contains(&c.local_momentum) {
            return bad(
                "trainer.local_momentum",
                c.local_momentum,
                "must be in [0, 1)",
            );
        }
        let d = LocalOptions::default();
        match c.local_optimizer {
            LocalOptimizer::Adam if c.local_momentum != d.local_momentum => {
                return bad(
                    "trainer.local_momentum",
                    c.local_momentum,
                    "is read by local_optimizer = \"sgd\" only (this config uses adam)",
                );
            }
            LocalOptimizer::Sgd if c.local_adam_eps != d.local_adam_eps => {
                return bad(
                    "trainer.local_adam_eps",
                    c.local_adam_eps,
                    "is read by local_optimizer = \"adam\" only (this config uses sgd)",
                );
            }
            _ => {}
        }
        if !(0.0..1.0).contains(&c.feature_ema) {
            return bad(
                "trainer.feature_ema",
                c.feature_ema,
                "must be in [0, 1) (the decay of the slow copy; 0 = off)",
            );
        }
        let w = self.guidance().unwrap_or_default().weight;
        if !(w > 0.0 && w <= 1.0) {
            return bad(
                "trainer.guidance.weight",
                w,
                "must be in (0, 1] (pdm_guided uses it; pdm is the unguided rule)",
            );
        }
        if c.pdm.guidance_weight != 0.0 {
            return bad(
                "trainer.pdm.guidance_weight",
                c.pdm.guidance_weight,
                "is set from guidance.weight for pdm_guided; leave it at 0",
            );
        }
        self.rule_options().check()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdmrl_local_loss::{MdsLoss, Metric, Normalize, Pairs, Target};

    /// Options each set to other than its default.
    fn all_set(kind: TrainerKind) -> TrainerOptions {
        TrainerOptions {
            kind,
            local_lr: 0.5,
            local_adam_eps: 1e-3,
            features: Features::PostUpdate,
            guidance: GuidanceConfig {
                weight: 0.6,
                actor_signal: GuidanceSignal::Return,
                critic_signal: GuidanceSignal::None,
            },
            pdm: PdmOptions {
                normalize: Normalize::Max,
                metric: Metric::SquaredEuclidean,
                eps: 0.5,
                guidance_weight: 0.5,
                pairs: Pairs::Sampled { k: 4 },
                target: Target::Observation,
                loss: MdsLoss::Sammon,
            },
            ..TrainerOptions::with_every_key()
        }
    }

    #[test]
    fn every_option_is_set_by_all_set() {
        let d = TrainerOptions::default();
        let set = all_set(TrainerKind::Bp);
        for (key, differs) in set.differences(&d) {
            assert!(differs, "{key} is at its default");
        }
    }

    /// A kind's variant holds exactly the options `uses_option` says it reads.
    #[test]
    fn variants_hold_what_their_kind_reads() {
        for kind in TrainerKind::ALL {
            let set = all_set(kind);
            let kept = TrainerOptions::from(set.config());
            assert_eq!(kept.kind, kind);
            assert_eq!(set.config().kind(), kind);
            for (key, differs) in set.differences(&kept) {
                assert_eq!(differs, !kind.uses_option(key), "{kind} {key}");
                if differs {
                    // Dropped: back at its default.
                    let d = TrainerOptions::new(kind);
                    let at_default = kept
                        .differences(&d)
                        .into_iter()
                        .any(|(k, differs)| k == key && !differs);
                    assert!(at_default, "{kind} {key}");
                }
            }
        }
    }

    #[test]
    fn conversions_round_trip_at_defaults() {
        for kind in TrainerKind::ALL {
            let config = TrainerConfig::new(kind);
            let options = TrainerOptions::from(config);
            assert_eq!(options, TrainerOptions::new(kind));
            assert_eq!(options.unread_option(), None);
            assert_eq!(TrainerConfig::try_from(options), Ok(config));
            assert_eq!(options.config(), config);
        }
        assert_eq!(TrainerOptions::default().kind, TrainerKind::Bp);
        assert_eq!(TrainerConfig::default(), TrainerConfig::Bp);
    }

    #[test]
    fn an_unread_option_off_its_default_is_refused_by_name() {
        let err = |kind, change: fn(&mut TrainerOptions)| {
            let mut o = TrainerOptions::new(kind);
            change(&mut o);
            TrainerConfig::try_from(o)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            err(TrainerKind::Bp, |o| o.local_lr = 0.01),
            Err(
                "trainer `bp` does not read `trainer.local_lr` (bp and frozen read no \
                 trainer option, pdm all but guidance.*): it would change nothing"
                    .into()
            )
        );
        assert!(
            err(TrainerKind::Frozen, |o| o.pdm.loss = MdsLoss::Sammon)
                .unwrap_err()
                .contains("trainer `frozen` does not read `trainer.pdm.loss`")
        );
        assert!(err(TrainerKind::Bp, |o| o.local_lr = f64::NAN).is_err());
        assert!(
            err(TrainerKind::Pdm, |o| o.guidance.weight = 0.6)
                .unwrap_err()
                .contains("`trainer.guidance.weight`")
        );
        // What the kind reads is kept, whatever its value (the check judges it).
        assert_eq!(err(TrainerKind::Pdm, |o| o.local_lr = f64::NAN), Ok(()));
        assert_eq!(
            err(TrainerKind::PdmGuided, |o| *o =
                all_set(TrainerKind::PdmGuided)),
            Ok(())
        );
        // The lenient conversion drops them instead.
        let mut o = all_set(TrainerKind::Bp);
        assert_eq!(o.config(), TrainerConfig::Bp);
        o.kind = TrainerKind::Pdm;
        assert_eq!(o.config().guidance(), None);
        assert_eq!(o.config().local().local_lr, 0.5);
    }

    #[test]
    fn bp_and_frozen_run_the_rule_with_the_defaults() {
        for kind in [TrainerKind::Bp, TrainerKind::Frozen] {
            let c = TrainerConfig::new(kind);
            assert_eq!(c.local(), LocalOptions::default());
            assert_eq!(c.rule_options(), PdmOptions::default());
            assert_eq!(c.signals(), (GuidanceSignal::None, GuidanceSignal::None));
            assert!(c.check().is_ok());
        }
    }
}
