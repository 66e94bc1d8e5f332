//! The policy-gradient agent: PPO, A2C and REINFORCE, for discrete (categorical) and
//! continuous (diagonal Gaussian) actions. [`Agent::iterate`] reads in CleanRL's `ppo.py`
//! order, one file per step:
//!
//! | step | file |
//! |---|---|
//! | progress, learning rates, when the run ends, minibatch bounds | `batch.rs` (the batch plan: steps or whole episodes) |
//! | rollout, GAE, flattening | `rollout.rs` (GAE itself: [`mod@crate::gae`]) |
//! | epochs of minibatch updates, non-finite checks | `update.rs` (losses: [`crate::loss`]; the trainer: [`crate::trainer`]) |
//! | what PPO, A2C and REINFORCE do differently | `algorithm.rs` |
//! | feature drift, per-layer statistics, explained variance | `diagnostics.rs` |
//! | deterministic evaluation | `evaluate.rs` |
//! | checkpoint, load, bit-exact restore | `resume.rs` |
//! | records and events | `events.rs` |
//!
//! Differences from CleanRL, each deliberate:
//! * truncated episodes bootstrap from `V(final observation)` (`bootstrap_truncated`,
//!   default true); with `false` truncation is treated as termination, as CleanRL does;
//! * logged losses are means over every minibatch of an iteration (CleanRL logs the last
//!   minibatch's);
//! * observation and reward normalisation live in the agent, shared by the env copies
//!   (see [`crate::normalizer`]), so that checkpoints hold them;
//! * the hidden layers may be trained by a local rule (see [`crate::trainer`]).

mod algorithm;
mod batch;
mod diagnostics;
mod evaluate;
pub mod events;
mod resume;
mod rollout;
mod update;

pub use diagnostics::explained_variance;
pub use events::{EpisodeRecord, EvalRecord, Event, IterationStats, PhaseTimes};
pub use update::guidance_signal;

use crate::config::{AgentConfig, Algo};
use crate::error::AgentError;
use crate::mlp::Mlp;
use crate::normalizer::{ObsNormalizer, RewardNormalizer};
use crate::policy::{Actions, PolicyKind, sample_actions};
use crate::spec::AgentSpec;
use crate::trainer::{ActorCritic, TrainerConfig, TrainerKind};
use crate::valid::{Check, Valid};
use batch::BatchPlan;
use ndarray::{Array1, Array2, ArrayView2};
use pdmrl_envs::{RunningMeanStd, Space, SyncVectorEnv};
use pdmrl_tensor::{Rng, Schedule, derive_seed, rng_from_seed};
use rollout::RolloutBuffers;
use std::time::Instant;

/// An agent bound to its vector env: networks, trainer, RNGs, normalisers and rollout
/// state.
pub struct Agent {
    config: AgentConfig,
    /// How batches are cut (steps or episodes), from `config`.
    plan: BatchPlan,
    policy: PolicyKind,
    seed: u64,
    envs: SyncVectorEnv,
    eval_envs: Option<SyncVectorEnv>,
    model: ActorCritic,
    sample_rng: Rng,
    shuffle_rng: Rng,
    /// The observation the policy sees next (normalised if enabled), `[num_envs, obs_dim]`.
    next_obs: Array2<f32>,
    /// The raw observation the envs returned, `[num_envs, obs_dim]`.
    next_obs_raw: Array2<f32>,
    obs_norm: Option<ObsNormalizer>,
    reward_norm: Option<RewardNormalizer>,
    global_step: usize,
    iteration: usize,
    vector_steps: usize,
    next_eval: usize,
    episode_return: Vec<f64>,
    episode_length: Vec<usize>,
    /// Actions sent to the envs since the last [`Agent::take_action_log`], flattened
    /// `[steps, num_envs, action_dim]` (a discrete action as its index).
    action_log: Vec<f32>,
    /// A fixed batch of observations (the first rows of the first rollout) on which the
    /// hidden layers' outputs are compared from one iteration to the next (feature drift).
    probe: Option<Array2<f32>>,
    /// The hidden outputs of actor and critic on `probe` at the last iteration.
    probe_outputs: (Vec<Array2<f32>>, Vec<Array2<f32>>),
    /// Wall-clock time spent in rollouts and in updates since the agent was built.
    phase_times: PhaseTimes,
    /// Buffers the rollout's steps reuse (no state: rebuilt empty if lost).
    buffers: RolloutBuffers,
}

/// The policy a vector env's action space calls for.
fn policy_for(envs: &SyncVectorEnv, algo: Algo) -> Result<PolicyKind, AgentError> {
    let unsupported = |space: &Space| AgentError::UnsupportedActionSpace {
        algo: algo.name(),
        env: envs.envs()[0].id().to_string(),
        space: space.to_string(),
    };
    if envs.obs_dim() == 0 {
        return Err(unsupported(envs.single_action_space()));
    }
    match envs.single_action_space() {
        Space::Discrete { n } if *n >= 1 => Ok(PolicyKind::Categorical { n: *n }),
        Space::Box { shape, .. } if shape.len() == 1 && shape[0] >= 1 => {
            Ok(PolicyKind::Gaussian { dim: shape[0] })
        }
        other => Err(unsupported(other)),
    }
}

impl Agent {
    /// Builds the agent: checks the configs ([`AgentSpec`]) and builds it as
    /// [`Agent::from_checked`] does.
    ///
    /// # Errors
    /// Invalid hyperparameters, and as [`Agent::from_checked`].
    pub fn new(
        config: AgentConfig,
        trainer: TrainerConfig,
        envs: SyncVectorEnv,
        seed: u64,
    ) -> Result<Self, AgentError> {
        Self::from_checked(AgentSpec { config, trainer }.check()?, envs, seed)
    }

    /// Builds the agent from checked configs: initialises actor and critic with CleanRL's
    /// `layer_init` from streams of `seed` (`"actor-init"`, `"critic-init"`), and resets
    /// the envs with `seed` (copy `i` gets `seed + i`, as CleanRL's `envs.reset(seed=seed)`).
    ///
    /// A `Box` action space gets a diagonal Gaussian policy; wrap the envs in
    /// [`pdmrl_envs::ClipAction`] so that the sampled actions are clipped to the space, as
    /// CleanRL does (the policy itself never clips).
    ///
    /// # Errors
    /// A vector env with a number of copies other than `num_envs`, or an action space other
    /// than `Discrete` or a 1-D `Box`.
    pub fn from_checked(
        spec: Valid<AgentSpec>,
        mut envs: SyncVectorEnv,
        seed: u64,
    ) -> Result<Self, AgentError> {
        let (config, trainer) = spec.split();
        let config = config.into_inner();
        if envs.num_envs() != config.num_envs {
            return Err(AgentError::InvalidConfig {
                name: "num_envs",
                value: config.num_envs.to_string(),
                allowed: format!("must equal the vector env's {} copies", envs.num_envs()),
            });
        }
        let policy = policy_for(&envs, config.algo)?;
        let obs_dim = envs.obs_dim();
        let gain = 2f64.sqrt();
        let actor = Mlp::new(
            obs_dim,
            &config.hidden_sizes,
            policy.head_outputs(),
            config.activation,
            gain,
            0.01,
            &mut rng_from_seed(derive_seed(seed, "actor-init")),
        );
        let critic = Mlp::new(
            obs_dim,
            &config.hidden_sizes,
            1,
            config.activation,
            gain,
            1.0,
            &mut rng_from_seed(derive_seed(seed, "critic-init")),
        );
        let mut model = ActorCritic::with_seed(
            actor,
            critic,
            trainer,
            config.learning_rate,
            config.adam_eps,
            seed,
        )?;
        if let PolicyKind::Gaussian { dim } = policy {
            model = model.with_log_std(Array1::from_elem(dim, config.init_log_std as f32))?;
        }
        let n = config.num_envs;
        let mut obs_norm = config
            .normalize_observation
            .then(|| ObsNormalizer::new(obs_dim, config.obs_clip));
        let reward_norm = config
            .normalize_reward
            .then(|| RewardNormalizer::new(n, config.gamma, config.reward_clip));
        let next_obs_raw = envs.reset(Some(seed));
        let next_obs = match &mut obs_norm {
            Some(norm) => norm.update_and_normalize(next_obs_raw.view()),
            None => next_obs_raw.clone(),
        };
        Ok(Agent {
            policy,
            seed,
            model,
            sample_rng: rng_from_seed(derive_seed(seed, "action-sampling")),
            shuffle_rng: rng_from_seed(derive_seed(seed, "minibatch-shuffle")),
            next_obs,
            next_obs_raw,
            obs_norm,
            reward_norm,
            global_step: 0,
            iteration: 0,
            vector_steps: 0,
            next_eval: config.eval_every,
            episode_return: vec![0.0; n],
            episode_length: vec![0; n],
            action_log: Vec::new(),
            probe: None,
            probe_outputs: (Vec::new(), Vec::new()),
            phase_times: PhaseTimes::default(),
            buffers: RolloutBuffers::default(),
            envs,
            eval_envs: None,
            plan: BatchPlan::of(&config),
            config,
        })
    }

    /// Sets the envs of the deterministic evaluations: `eval_episodes` copies of the
    /// training env (wrapped the same way), reset at every evaluation with the seed
    /// `derive_seed(seed, "eval-envs")` (copy `i` gets that `+ i`), so every evaluation
    /// plays the same starting states. Without them, no evaluation runs.
    ///
    /// # Errors
    /// [`AgentError::InvalidConfig`] naming `eval_episodes` if the number of copies
    /// differs, or `env_id` if the spaces differ from the training envs'.
    pub fn with_eval_envs(mut self, eval_envs: SyncVectorEnv) -> Result<Self, AgentError> {
        if eval_envs.num_envs() != self.config.eval_episodes {
            return Err(AgentError::InvalidConfig {
                name: "eval_episodes",
                value: self.config.eval_episodes.to_string(),
                allowed: format!(
                    "must equal the eval vector env's {} copies",
                    eval_envs.num_envs()
                ),
            });
        }
        if eval_envs.single_action_space() != self.envs.single_action_space()
            || eval_envs.obs_dim() != self.envs.obs_dim()
        {
            return Err(AgentError::InvalidConfig {
                name: "env_id",
                value: eval_envs.envs()[0].id().to_string(),
                allowed: "eval envs must have the training envs' spaces".into(),
            });
        }
        self.eval_envs = Some(eval_envs);
        Ok(self)
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The policy distribution.
    pub fn policy(&self) -> PolicyKind {
        self.policy
    }

    /// The networks and their trainer.
    pub fn model(&self) -> &ActorCritic {
        &self.model
    }

    /// The networks and their trainer, mutably (e.g. a custom initialisation before
    /// training; changing shapes breaks the agent).
    pub fn model_mut(&mut self) -> &mut ActorCritic {
        &mut self.model
    }

    /// The trainer kind.
    pub fn trainer(&self) -> TrainerKind {
        self.model.config().kind()
    }

    /// Environment steps taken so far.
    pub fn global_step(&self) -> usize {
        self.global_step
    }

    /// Updates (iterations) done so far.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// Wall-clock time spent in rollouts and updates so far (what `cargo xtask bench`
    /// reports as the time per update).
    pub fn phase_times(&self) -> PhaseTimes {
        self.phase_times
    }

    /// The training envs.
    pub fn envs(&self) -> &SyncVectorEnv {
        &self.envs
    }

    /// The observation normaliser's statistics, if observations are normalised: mean and
    /// variance per observation component, `[obs_dim]`, and the count of samples.
    pub fn observation_stats(&self) -> Option<&RunningMeanStd> {
        self.obs_norm.as_ref().map(|n| &n.stats)
    }

    /// The reward normaliser's statistics, if rewards are normalised: the running mean and
    /// variance of the discounted return, `[1]`, and the count (rewards are divided by the
    /// square root of that variance).
    pub fn return_stats(&self) -> Option<&RunningMeanStd> {
        self.reward_norm.as_ref().map(|n| &n.stats)
    }

    /// Whether training is finished (every iteration done, or for episode batches the
    /// step budget reached).
    pub fn is_done(&self) -> bool {
        self.plan.is_done(self.iteration, self.global_step)
    }

    /// Actions of the current policy for a batch of raw observations `[batch, obs_dim]`
    /// (normalised with the frozen statistics if enabled): the mode of each row's
    /// distribution if `greedy` (deterministic evaluation), else a sample drawn from `rng`.
    ///
    /// # Panics
    /// If `observations.ncols()` differs from the env's observation size.
    pub fn act(&self, observations: ArrayView2<f32>, greedy: bool, rng: &mut Rng) -> Actions {
        let obs = match &self.obs_norm {
            Some(n) => n.normalize(observations),
            None => observations.to_owned(),
        };
        let out = self.model.actor.forward(obs.view());
        sample_actions(
            self.policy,
            out.view(),
            self.model.log_std.as_ref().map(|a| a.view()),
            greedy,
            rng,
        )
    }

    /// Runs every remaining iteration, reporting episodes, iterations and evaluations to
    /// `observer`.
    ///
    /// # Errors
    /// An environment error, a local-rule error, or a non-finite loss or parameter.
    pub fn train(&mut self, observer: &mut dyn FnMut(&Event)) -> Result<(), AgentError> {
        while !self.is_done() {
            self.iterate(observer)?;
        }
        Ok(())
    }

    /// One iteration: a rollout, advantages, `update_epochs` epochs of minibatch updates,
    /// and an evaluation when one is due (every `eval_every` steps and after the last
    /// iteration).
    ///
    /// # Errors
    /// As [`Agent::train`].
    pub fn iterate(&mut self, observer: &mut dyn FnMut(&Event)) -> Result<(), AgentError> {
        self.iteration += 1;
        let progress = self.plan.progress(self.iteration, self.global_step);
        let lr = self
            .head_schedule()
            .rate(self.config.learning_rate, progress);
        self.model.set_lr(lr);
        self.model.set_progress(progress);

        let rollout_start = Instant::now();
        let rollout = self.collect_rollout(observer)?;
        let update_start = Instant::now();
        let batch = self.batch(rollout);
        self.snapshot_probe(&batch.obs);
        let update = self.update(&batch)?;
        let (mut actor_layers, mut critic_layers) = (update.actor_layers, update.critic_layers);
        self.measure_drift(&mut actor_layers, &mut critic_layers);
        self.phase_times.rollout_seconds += (update_start - rollout_start).as_secs_f64();
        self.phase_times.update_seconds += update_start.elapsed().as_secs_f64();
        self.phase_times.iterations += 1;

        let sums = update.losses;
        observer(&Event::Iteration(IterationStats {
            iteration: self.iteration,
            global_step: self.global_step,
            learning_rate: lr,
            value_loss: sums.mean(sums.v_loss),
            policy_loss: sums.mean(sums.pg_loss),
            entropy: sums.mean(sums.entropy),
            old_approx_kl: sums.mean(sums.old_kl),
            approx_kl: sums.mean(sums.kl),
            clipfrac: sums.mean(sums.clipfrac),
            explained_variance: explained_variance(&batch.values, &batch.returns),
            grad_norm: sums.mean(sums.grad_norm),
            actor_layers,
            critic_layers,
        }));
        self.evaluate_if_due(observer)
    }

    /// The schedule of the heads' learning rate (everything's under `bp`): CleanRL's
    /// `anneal_lr`, linear to 0 over the run, or constant.
    fn head_schedule(&self) -> Schedule {
        if self.config.anneal_lr {
            Schedule::Linear
        } else {
            Schedule::Constant
        }
    }

    /// Evaluates when one is due: every `eval_every` steps and after the last iteration.
    fn evaluate_if_due(&mut self, observer: &mut dyn FnMut(&Event)) -> Result<(), AgentError> {
        let due = self.next_eval > 0 && self.global_step >= self.next_eval;
        if self.config.eval_every > 0 && (due || self.is_done()) {
            while self.next_eval <= self.global_step {
                self.next_eval += self.config.eval_every;
            }
            if let Some(record) = self.evaluate()? {
                observer(&Event::Evaluation(record));
            }
        }
        Ok(())
    }

    /// The actions sent to the envs since the last call, flattened
    /// `[vector steps, num_envs, action_dim]` (a discrete action as its index, exact in
    /// f32). Append them to the run's action log: [`Agent::restore`] replays the whole log.
    pub fn take_action_log(&mut self) -> Vec<f32> {
        std::mem::take(&mut self.action_log)
    }

    /// Number of f32 values one vector step adds to the action log.
    pub fn action_log_stride(&self) -> usize {
        self.config.num_envs
            * match self.policy {
                PolicyKind::Categorical { .. } => 1,
                PolicyKind::Gaussian { dim } => dim,
            }
    }
}
