//! Hyperparameters of the policy-gradient agents, with the defaults of each algorithm and
//! their sources ([`AgentConfig::defaults`]).
//!
//! | key | PPO discrete | PPO continuous | PPO `Pendulum-v1` | A2C | REINFORCE |
//! |---|---|---|---|---|---|
//! | source | CleanRL `ppo.py` | CleanRL `ppo_continuous_action.py` | rl-baselines3-zoo `ppo.yml` | SB3 `A2C` / zoo `a2c.yml` | ours |
//! | `num_envs` | 4 | 1 | 4 | 8 | 1 |
//! | `num_steps` | 128 | 2048 | 1024 | 5 | (whole episodes) |
//! | `learning_rate` | 2.5e-4 | 3e-4 | 1e-3 | 7e-4 | 1e-3 |
//! | `anneal_lr` | true | true | false | false | false |
//! | `gamma` | 0.99 | 0.99 | 0.9 | 0.99 | 0.99 |
//! | `gae_lambda` | 0.95 | 0.95 | 0.95 | 1.0 | (1: returns-to-go) |
//! | `num_minibatches` | 4 | 32 | 64 (minibatch 64) | 1 | 1 |
//! | `update_epochs` | 4 | 10 | 10 | 1 | 1 |
//! | `norm_adv` | true | true | true | false | false |
//! | `clip_vloss` | true | true | true | – | – |
//! | `ent_coef` | 0.01 | 0.0 | 0.0 | 0.0 | 0.0 |
//! | `normalize_observation`, `normalize_reward` | false | true | true | false (true if continuous) | false (true if continuous) |
//!
//! Every algorithm shares `vf_coef` 0.5, `max_grad_norm` 0.5, Adam with `adam_eps` 1e-5,
//! networks `[64, 64]` tanh (`[256, 256]` tanh on the flattened `[10, 10, C]` grid of the
//! MinAtar envs, `MinAtar/...`: our choice; MinAtar's own baselines use a convolution),
//! and `bootstrap_truncated` true. Deliberate differences from
//! the sources: A2C uses Adam where SB3 uses RMSprop; the zoo's Pendulum PPO uses gSDE
//! exploration (`use_sde`), we the plain state-independent Gaussian of CleanRL; SB3's
//! A2C value loss is `mse` where ours is `0.5 * mse` (as CleanRL's PPO), so its `vf_coef`
//! 0.5 weighs the value loss half as much here.

use crate::error::AgentError;
use crate::trainer::{TrainerConfig, TrainerKind};
use crate::valid::Check;
use pdmrl_tensor::Activation;
use serde::{Deserialize, Serialize};

/// Upper bound of `num_envs` accepted by [`AgentConfig::check`].
pub const MAX_NUM_ENVS: usize = 4096;
/// Upper bound of the rollout size (`num_envs * num_steps`, or the steps of REINFORCE's
/// episodes) accepted by [`AgentConfig::check`] and the rollout.
pub const MAX_BATCH_SIZE: usize = 1 << 24;
/// Upper bound of the number of hidden layers accepted by [`AgentConfig::check`].
pub const MAX_DEPTH: usize = 256;
/// Upper bound of a hidden layer's width accepted by [`AgentConfig::check`].
pub const MAX_WIDTH: usize = 16_384;

/// The policy-gradient algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Algo {
    /// Proximal Policy Optimization (Schulman et al., 2017), as CleanRL's `ppo.py` /
    /// `ppo_continuous_action.py`: clipped surrogate, several epochs of minibatches.
    #[default]
    Ppo,
    /// Synchronous advantage actor-critic (A2C; Mnih et al., 2016, synchronous as in SB3):
    /// `num_envs` envs, `num_steps`-step rollouts, GAE, one update per rollout.
    A2c,
    /// REINFORCE (Williams, 1992) with a learned value baseline (or none): returns-to-go
    /// over whole episodes or a fixed number of steps, one update per batch.
    Reinforce,
}

// `ALL` (every algorithm), `name`, `Display`, `FromStr`.
pdmrl_tensor::name_enum!(Algo, "algo", AgentError;
    Ppo => "ppo", A2c => "a2c", Reinforce => "reinforce");

/// How REINFORCE cuts its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BatchMode {
    /// `num_steps` steps of each of the `num_envs` envs (the episode running at the cut
    /// bootstraps from `V(s_T)` with a baseline, from 0 without).
    #[default]
    Steps,
    /// `num_episodes` whole episodes of one env (`num_envs = 1`).
    Episodes,
}

/// Hyperparameters of an agent. [`AgentConfig::default`] is PPO for discrete actions with
/// CleanRL's `ppo.py` defaults; [`AgentConfig::defaults`] gives every algorithm's and
/// env's (see the module docs for the table and sources).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// The algorithm (`ppo`, `a2c`, `reinforce`).
    pub algo: Algo,
    /// Total environment steps over all envs (CleanRL 500000 for `ppo.py`). Fixed-size
    /// batches round it down to whole iterations; REINFORCE's episode batches stop at the
    /// first batch that reaches it.
    pub total_timesteps: usize,
    /// Adam learning rate (CleanRL 2.5e-4).
    pub learning_rate: f64,
    /// Parallel environments (CleanRL 4).
    pub num_envs: usize,
    /// Steps per environment per rollout (CleanRL 128; unused by REINFORCE's episode
    /// batches).
    pub num_steps: usize,
    /// Anneal the learning rate linearly to 0 (CleanRL true).
    pub anneal_lr: bool,
    /// Discount factor (CleanRL 0.99).
    pub gamma: f64,
    /// GAE lambda (CleanRL 0.95; REINFORCE uses 1, the returns-to-go).
    pub gae_lambda: f64,
    /// Minibatches per epoch (CleanRL 4).
    pub num_minibatches: usize,
    /// Epochs over each rollout (CleanRL 4).
    pub update_epochs: usize,
    /// Normalise advantages per minibatch (CleanRL true).
    pub norm_adv: bool,
    /// PPO's surrogate clipping coefficient (CleanRL 0.2; also the value clip).
    pub clip_coef: f64,
    /// Clip the value loss (CleanRL true; PPO only).
    pub clip_vloss: bool,
    /// Entropy coefficient (CleanRL 0.01 for `ppo.py`, 0.0 for `ppo_continuous_action.py`).
    pub ent_coef: f64,
    /// Value-loss coefficient (CleanRL 0.5).
    pub vf_coef: f64,
    /// Global gradient-norm clip (CleanRL 0.5).
    pub max_grad_norm: f64,
    /// Stop an iteration's epochs early when approx_kl exceeds this (CleanRL None; PPO
    /// only).
    pub target_kl: Option<f64>,
    /// Adam epsilon (CleanRL 1e-5).
    pub adam_eps: f64,
    /// Bootstrap truncated episodes from V(final observation) (ours, default true).
    /// `false` treats truncation as termination, as CleanRL does (its GAE multiplies by
    /// `1 - done` with `done = terminated or truncated`), so exact CleanRL behaviour is
    /// reachable; with a time limit that ends most episodes (Pendulum-v1: every one) the
    /// difference matters: CleanRL's critic learns that the 200th step is terminal.
    pub bootstrap_truncated: bool,
    /// Hidden layer widths of actor and critic (CleanRL [64, 64]).
    pub hidden_sizes: Vec<usize>,
    /// Hidden activation (CleanRL tanh).
    pub activation: Activation,
    /// REINFORCE: subtract a learned value baseline `V(s)` from the returns-to-go (and
    /// train the critic on them); `false` uses the returns-to-go themselves, and the
    /// critic's loss gets weight 0. Default true.
    pub baseline: bool,
    /// REINFORCE: batches of `num_steps` steps per env (`steps`) or of `num_episodes` whole
    /// episodes (`episodes`, the default of [`AgentConfig::defaults`]).
    pub batch: BatchMode,
    /// REINFORCE with `batch = "episodes"`: episodes per batch (ours: 4).
    pub num_episodes: usize,
    /// REINFORCE: standardise the returns-to-go over each batch before they are used as
    /// value targets and policy weights (a common variance reduction; default false).
    pub normalize_returns: bool,
    /// Initial value of every component of a Gaussian policy's log-std (CleanRL 0), in
    /// `[LOG_STD_MIN, LOG_STD_MAX] = [-20, 2]`.
    pub init_log_std: f64,
    /// Normalise observations with running statistics over every env copy (Gymnasium's
    /// `NormalizeObservation` as CleanRL's `ppo_continuous_action.py` applies it; shared
    /// across copies, updated once per vector step, as SB3's `VecNormalize`). The
    /// statistics are saved in checkpoints and frozen for evaluation.
    pub normalize_observation: bool,
    /// Normalise rewards by the running standard deviation of the discounted return
    /// (Gymnasium's `NormalizeReward` with this `gamma`, as CleanRL; the accumulator of a
    /// copy restarts when its episode ends, as SB3's `VecNormalize`). Logged episodic
    /// returns stay raw.
    pub normalize_reward: bool,
    /// Clip of normalised observations, `[-obs_clip, obs_clip]` (CleanRL 10).
    pub obs_clip: f64,
    /// Clip of normalised rewards, `[-reward_clip, reward_clip]` (CleanRL 10).
    pub reward_clip: f64,
    /// Deterministic evaluation (argmax / mean action) every this many environment steps
    /// on `eval_episodes` separately seeded envs, and after the last update; 0 disables
    /// it (ours: 10000).
    pub eval_every: usize,
    /// Episodes per evaluation, one per eval env copy (ours: 10).
    pub eval_episodes: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            algo: Algo::Ppo,
            total_timesteps: 500_000,
            learning_rate: 2.5e-4,
            num_envs: 4,
            num_steps: 128,
            anneal_lr: true,
            gamma: 0.99,
            gae_lambda: 0.95,
            num_minibatches: 4,
            update_epochs: 4,
            norm_adv: true,
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            target_kl: None,
            adam_eps: 1e-5,
            bootstrap_truncated: true,
            hidden_sizes: vec![64, 64],
            activation: Activation::Tanh,
            baseline: true,
            batch: BatchMode::Steps,
            num_episodes: 4,
            normalize_returns: false,
            init_log_std: 0.0,
            normalize_observation: false,
            normalize_reward: false,
            obs_clip: 10.0,
            reward_clip: 10.0,
            eval_every: 10_000,
            eval_episodes: 10,
        }
    }
}

/// What A2C and REINFORCE share: one update of one minibatch per batch, no clipping, no
/// annealing, no advantage normalisation, no entropy bonus (SB3's A2C defaults).
fn vanilla(base: AgentConfig) -> AgentConfig {
    AgentConfig {
        anneal_lr: false,
        gae_lambda: 1.0,
        num_minibatches: 1,
        update_epochs: 1,
        norm_adv: false,
        clip_vloss: false,
        ent_coef: 0.0,
        ..base
    }
}

impl AgentConfig {
    /// The defaults of `algo` for the env `env_id` with discrete or `continuous` actions
    /// (the module docs list them with their sources).
    pub fn defaults(algo: Algo, env_id: &str, continuous: bool) -> Self {
        let base = AgentConfig {
            algo,
            ..AgentConfig::default()
        };
        // MinAtar: a wider MLP on the flattened 10x10xC grid (ours).
        let base = if env_id.starts_with("MinAtar/") {
            AgentConfig {
                hidden_sizes: vec![256, 256],
                ..base
            }
        } else {
            base
        };
        let normalize = |c: AgentConfig| AgentConfig {
            normalize_observation: continuous,
            normalize_reward: continuous,
            ..c
        };
        match algo {
            Algo::Ppo if env_id == "Pendulum-v1" => AgentConfig {
                // rl-baselines3-zoo hyperparams/ppo.yml, Pendulum-v1 (without gSDE).
                total_timesteps: 1_000_000,
                num_envs: 4,
                num_steps: 1024,
                learning_rate: 1e-3,
                anneal_lr: false,
                gamma: 0.9,
                gae_lambda: 0.95,
                num_minibatches: 64,
                update_epochs: 10,
                ent_coef: 0.0,
                normalize_observation: true,
                normalize_reward: true,
                ..base
            },
            Algo::Ppo if continuous => AgentConfig {
                // CleanRL ppo_continuous_action.py.
                total_timesteps: 1_000_000,
                num_envs: 1,
                num_steps: 2048,
                learning_rate: 3e-4,
                num_minibatches: 32,
                update_epochs: 10,
                ent_coef: 0.0,
                normalize_observation: true,
                normalize_reward: true,
                ..base
            },
            Algo::Ppo => base,
            // SB3 A2C defaults with rl-baselines3-zoo's 8 envs (a2c.yml, CartPole-v1).
            Algo::A2c => normalize(AgentConfig {
                num_envs: 8,
                num_steps: 5,
                learning_rate: 7e-4,
                ..vanilla(base)
            }),
            Algo::Reinforce => normalize(AgentConfig {
                num_envs: 1,
                num_steps: 500,
                batch: BatchMode::Episodes,
                num_episodes: 4,
                learning_rate: 1e-3,
                ..vanilla(base)
            }),
        }
    }

    /// Whether batches are whole episodes (REINFORCE with `batch = "episodes"`).
    pub fn episode_batches(&self) -> bool {
        self.algo == Algo::Reinforce && self.batch == BatchMode::Episodes
    }

    /// `num_envs * num_steps` (saturating; [`AgentConfig::check`] bounds both). For
    /// episode batches, the size is known only once the episodes end.
    pub fn batch_size(&self) -> usize {
        self.num_envs.saturating_mul(self.num_steps)
    }

    /// `batch_size / num_minibatches` (fixed-size batches).
    pub fn minibatch_size(&self) -> usize {
        self.batch_size() / self.num_minibatches.max(1)
    }

    /// `total_timesteps / batch_size` (CleanRL's `num_iterations`); for episode batches,
    /// an upper bound (every batch has at least one step per episode).
    pub fn num_iterations(&self) -> usize {
        if self.episode_batches() {
            self.total_timesteps.div_ceil(self.num_episodes.max(1))
        } else {
            self.total_timesteps / self.batch_size().max(1)
        }
    }

    /// The environment steps a run takes: whole iterations of fixed-size batches, or
    /// at least `total_timesteps` for episode batches.
    pub fn planned_steps(&self) -> usize {
        if self.episode_batches() {
            self.total_timesteps
        } else {
            self.num_iterations() * self.batch_size()
        }
    }
}

impl Check for AgentConfig {
    type Error = AgentError;

    /// Checks every hyperparameter before any work starts.
    ///
    /// # Errors
    /// [`AgentError::InvalidConfig`] naming the first offending key.
    fn check_ref(&self) -> Result<(), AgentError> {
        fn bad(name: &'static str, value: impl ToString, allowed: &str) -> Result<(), AgentError> {
            Err(AgentError::InvalidConfig {
                name,
                value: value.to_string(),
                allowed: allowed.to_string(),
            })
        }
        let positive = |x: f64| x > 0.0 && x.is_finite();
        if !(1..=MAX_NUM_ENVS).contains(&self.num_envs) {
            return bad(
                "num_envs",
                self.num_envs,
                &format!("must be in 1..={MAX_NUM_ENVS}"),
            );
        }
        if self.episode_batches() {
            if self.num_envs != 1 {
                return bad(
                    "num_envs",
                    self.num_envs,
                    "must be 1 for REINFORCE with batch = \"episodes\" (use batch = \"steps\" for several envs)",
                );
            }
            if self.num_episodes == 0 {
                return bad("num_episodes", self.num_episodes, "must be >= 1");
            }
            if self.total_timesteps == 0 {
                return bad("total_timesteps", self.total_timesteps, "must be >= 1");
            }
        } else {
            if self.num_steps == 0 {
                return bad("num_steps", self.num_steps, "must be >= 1");
            }
            if self.batch_size() > MAX_BATCH_SIZE {
                return bad(
                    "num_steps",
                    self.num_steps,
                    &format!(
                        "num_envs * num_steps must be at most {MAX_BATCH_SIZE} (the rollout is kept in memory)"
                    ),
                );
            }
            if self.num_minibatches == 0 || !self.batch_size().is_multiple_of(self.num_minibatches)
            {
                return bad(
                    "num_minibatches",
                    self.num_minibatches,
                    &format!(
                        "must be >= 1 and divide num_envs * num_steps = {}",
                        self.batch_size()
                    ),
                );
            }
            if self.total_timesteps < self.batch_size() {
                return bad(
                    "total_timesteps",
                    self.total_timesteps,
                    &format!(
                        "must be >= num_envs * num_steps = {} (one iteration)",
                        self.batch_size()
                    ),
                );
            }
        }
        if self.num_minibatches == 0 {
            return bad("num_minibatches", self.num_minibatches, "must be >= 1");
        }
        if self.update_epochs == 0 {
            return bad("update_epochs", self.update_epochs, "must be >= 1");
        }
        if !positive(self.learning_rate) {
            return bad(
                "learning_rate",
                self.learning_rate,
                "must be finite and > 0",
            );
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return bad("gamma", self.gamma, "must be in [0, 1]");
        }
        if !(0.0..=1.0).contains(&self.gae_lambda) {
            return bad("gae_lambda", self.gae_lambda, "must be in [0, 1]");
        }
        if !positive(self.clip_coef) {
            return bad("clip_coef", self.clip_coef, "must be finite and > 0");
        }
        if !(self.ent_coef >= 0.0 && self.ent_coef.is_finite()) {
            return bad("ent_coef", self.ent_coef, "must be finite and >= 0");
        }
        if !(self.vf_coef >= 0.0 && self.vf_coef.is_finite()) {
            return bad("vf_coef", self.vf_coef, "must be finite and >= 0");
        }
        if !positive(self.max_grad_norm) {
            return bad(
                "max_grad_norm",
                self.max_grad_norm,
                "must be finite and > 0",
            );
        }
        if let Some(kl) = self.target_kl.filter(|&kl| !positive(kl)) {
            return bad("target_kl", kl, "must be finite and > 0 when set");
        }
        if !positive(self.adam_eps) {
            return bad("adam_eps", self.adam_eps, "must be finite and > 0");
        }
        let (lo, hi) = (crate::policy::LOG_STD_MIN, crate::policy::LOG_STD_MAX);
        if !(lo..=hi).contains(&self.init_log_std) {
            return bad(
                "init_log_std",
                self.init_log_std,
                &format!(
                    "must be in [{lo}, {hi}], the range the Gaussian clamps the log-std to (outside it the log-std gets no gradient and never moves)"
                ),
            );
        }
        if !positive(self.obs_clip) {
            return bad("obs_clip", self.obs_clip, "must be finite and > 0");
        }
        if !positive(self.reward_clip) {
            return bad("reward_clip", self.reward_clip, "must be finite and > 0");
        }
        if self.eval_every > 0 && !(1..=MAX_NUM_ENVS).contains(&self.eval_episodes) {
            return bad(
                "eval_episodes",
                self.eval_episodes,
                &format!("must be in 1..={MAX_NUM_ENVS} when eval_every > 0"),
            );
        }
        if self.hidden_sizes.len() > MAX_DEPTH
            || self
                .hidden_sizes
                .iter()
                .any(|&w| !(1..=MAX_WIDTH).contains(&w))
        {
            return bad(
                "hidden_sizes",
                format!("{:?}", self.hidden_sizes),
                &format!("at most {MAX_DEPTH} layers, widths in 1..={MAX_WIDTH}"),
            );
        }
        Ok(())
    }
}

/// Checks that hold between the algorithm's and the trainer's options: a local trainer needs
/// at least one hidden layer and minibatches of at least 2 rows (pairs).
///
/// # Errors
/// [`AgentError::InvalidConfig`] naming the key.
pub fn check_trainer_fits(config: &AgentConfig, trainer: &TrainerConfig) -> Result<(), AgentError> {
    let local = trainer.kind() != TrainerKind::Bp;
    if local && config.hidden_sizes.is_empty() {
        return Err(AgentError::InvalidConfig {
            name: "hidden_sizes",
            value: "[]".into(),
            allowed: format!(
                "trainer `{}` needs at least one hidden layer",
                trainer.kind()
            ),
        });
    }
    // The PDM loss is measured under every trainer (the diagnostics of `bp` and `frozen`
    // too), so its pairs must fit the minibatches whatever the trainer.
    if let pdmrl_local_loss::Pairs::Sampled { k } = trainer.local().pdm.pairs
        && !config.hidden_sizes.is_empty()
    {
        if config.episode_batches() {
            // Batch sizes vary; no fixed `k` fits every size.
            return Err(AgentError::InvalidConfig {
                name: "trainer.pdm.pairs.sampled.k",
                value: k.to_string(),
                allowed: "sampled pairs need fixed-size minibatches: use batch = \"steps\" with REINFORCE".into(),
            });
        }
        if k >= config.minibatch_size() {
            return Err(AgentError::InvalidConfig {
                name: "trainer.pdm.pairs.sampled.k",
                value: k.to_string(),
                allowed: format!(
                    "must be below the minibatch size num_envs * num_steps / num_minibatches = {}",
                    config.minibatch_size()
                ),
            });
        }
    }
    if !local || config.episode_batches() {
        return Ok(());
    }
    if config.minibatch_size() < 2 {
        return Err(AgentError::InvalidConfig {
            name: "num_minibatches",
            value: config.num_minibatches.to_string(),
            allowed: format!(
                "trainer `{}` needs minibatches of at least 2 rows: num_envs * num_steps / num_minibatches = {}",
                trainer.kind(),
                config.minibatch_size()
            ),
        });
    }
    Ok(())
}
