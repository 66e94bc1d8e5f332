//! The policy-gradient agent: PPO, A2C and REINFORCE, for discrete (categorical) and
//! continuous (diagonal Gaussian) actions, read top to bottom as CleanRL's `ppo.py`:
//! rollout, advantages, minibatch loop, losses, and then evaluation.
//!
//! Differences from CleanRL, each deliberate:
//! * truncated episodes bootstrap from `V(final observation)` (`bootstrap_truncated`,
//!   default true); with `false` truncation is treated as termination, as CleanRL does;
//! * logged losses are means over every minibatch of an iteration (CleanRL logs the last
//!   minibatch's);
//! * observation and reward normalisation live in the agent, shared by the env copies
//!   (see [`crate::normalizer`]), so that checkpoints hold them;
//! * the hidden layers may be trained by a local rule (see [`crate::trainer`]).
//!
//! Checkpoints ([`Agent::checkpoint`], [`Agent::restore`]) resume bit-exactly: the
//! networks, optimisers, RNGs, normalisers and counters are saved, and the envs are
//! brought back to their state by replaying the logged actions from the seeded reset
//! ([`Agent::take_action_log`]), which needs no state API from an env, only determinism
//! (checked: the replayed observation must equal the saved one).

use crate::checkpoint::{CHECKPOINT_FORMAT, Checkpoint, CheckpointMeta, NamedTensor};
use crate::config::{AgentConfig, Algo, MAX_BATCH_SIZE};
use crate::error::AgentError;
use crate::gae::gae;
use crate::loss::{
    AlgoLoss, LossBatch, LossCoefs, PolicyObjective, algo_loss, normalize_advantages,
};
use crate::mlp::{Mlp, MlpWorkspace};
use crate::normalizer::{ObsNormalizer, RewardNormalizer};
use crate::policy::{Actions, PolicyKind, log_prob_entropy, sample_actions};
use crate::trainer::{
    ActorCritic, FeatureScale, GuidanceSignal, HeadGrads, LayerStats, LocalState, TrainerConfig,
    TrainerKind,
};
use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use pdmrl_envs::{Action, RunningMeanStd, Space, SyncVectorEnv, VectorStep};
use pdmrl_tensor::{Rng, RngState, derive_seed, linear_anneal, rng_from_seed};
use rand::seq::SliceRandom;
use serde::Serialize;
use std::time::Instant;

/// What the agent reports while it trains.
#[derive(Debug, Clone)]
pub enum Event {
    /// An episode of a training env finished.
    Episode(EpisodeRecord),
    /// An iteration (rollout + update) finished.
    Iteration(IterationStats),
    /// A deterministic evaluation finished.
    Evaluation(EvalRecord),
}

/// One finished training episode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpisodeRecord {
    /// Environment steps taken over all envs when the episode ended.
    pub global_step: usize,
    /// Undiscounted sum of the raw (unnormalised) rewards.
    pub episodic_return: f64,
    /// Number of steps.
    pub episodic_length: usize,
}

/// One deterministic evaluation: an episode on each eval env copy, greedy actions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRecord {
    /// Environment steps of training when the evaluation ran.
    pub global_step: usize,
    /// Raw return of each episode, `[eval_episodes]`.
    pub returns: Vec<f64>,
    /// Length of each episode.
    pub lengths: Vec<usize>,
}

impl EvalRecord {
    /// Mean of the returns (NaN if none).
    pub fn mean(&self) -> f64 {
        self.returns.iter().sum::<f64>() / self.returns.len() as f64
    }

    /// Population standard deviation of the returns (NaN if none).
    pub fn std(&self) -> f64 {
        let mean = self.mean();
        let n = self.returns.len() as f64;
        (self.returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt()
    }

    /// Smallest and largest return (`(inf, -inf)` if none).
    pub fn range(&self) -> (f64, f64) {
        let min = self.returns.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self
            .returns
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (min, max)
    }
}

/// Diagnostics of one iteration (CleanRL's logged scalars plus the local-rule ones).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IterationStats {
    /// 1-based iteration.
    pub iteration: usize,
    /// Environment steps taken so far.
    pub global_step: usize,
    /// Learning rate of this iteration (heads, or everything under bp).
    pub learning_rate: f64,
    /// Mean over minibatches of the value loss.
    pub value_loss: f64,
    /// Mean over minibatches of the policy loss.
    pub policy_loss: f64,
    /// Mean over minibatches of the policy entropy.
    pub entropy: f64,
    /// Mean over minibatches of `mean(-logratio)`.
    pub old_approx_kl: f64,
    /// Mean over minibatches of `mean((ratio - 1) - logratio)`.
    pub approx_kl: f64,
    /// Mean over minibatches of the clipped fraction.
    pub clipfrac: f64,
    /// `1 - Var(returns - values) / Var(returns)` over the rollout (NaN if Var = 0).
    pub explained_variance: f64,
    /// Mean global gradient norm before clipping.
    pub grad_norm: f64,
    /// Per hidden layer of the actor, averaged over the iteration's measurements
    /// (local trainers: every minibatch; bp/frozen: the first minibatch).
    pub actor_layers: Vec<LayerStats>,
    /// Per hidden layer of the critic, likewise.
    pub critic_layers: Vec<LayerStats>,
}

/// An agent bound to its vector env: networks, trainer, RNGs, normalisers and rollout
/// state.
pub struct Agent {
    config: AgentConfig,
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

/// What every rollout step reuses: the forward passes' layer outputs, the vector env's
/// step and the env actions, so that the steady-state step allocates little (nothing in
/// the vector env and the forward passes: `tests/rollout_alloc.rs`).
#[derive(Default)]
struct RolloutBuffers {
    actor: MlpWorkspace,
    critic: MlpWorkspace,
    step: VectorStep,
    env_actions: Vec<Action>,
}

/// Wall-clock seconds an [`Agent`] has spent in each phase of its iterations since it was
/// built (not restored from checkpoints; measurement only, never an input to training).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct PhaseTimes {
    /// Collecting rollouts: policy and value forwards, action sampling, env steps, seconds.
    pub rollout_seconds: f64,
    /// Advantages (GAE) and the epochs of minibatch updates, seconds.
    pub update_seconds: f64,
    /// Iterations measured.
    pub iterations: usize,
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
    /// Builds the agent: checks the configs, initialises actor and critic with CleanRL's
    /// `layer_init` from streams of `seed` (`"actor-init"`, `"critic-init"`), and resets
    /// the envs with `seed` (copy `i` gets `seed + i`, as CleanRL's `envs.reset(seed=seed)`).
    ///
    /// A `Box` action space gets a diagonal Gaussian policy; wrap the envs in
    /// [`pdmrl_envs::ClipAction`] so that the sampled actions are clipped to the space, as
    /// CleanRL does (the policy itself never clips).
    ///
    /// # Errors
    /// Invalid hyperparameters, a vector env with a number of copies other than
    /// `num_envs`, or an action space other than `Discrete` or a 1-D `Box`.
    pub fn new(
        config: AgentConfig,
        trainer: TrainerConfig,
        mut envs: SyncVectorEnv,
        seed: u64,
    ) -> Result<Self, AgentError> {
        config.check()?;
        trainer.check()?;
        check_trainer_fits(&config, &trainer)?;
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
        self.model.config().kind
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
        if self.config.episode_batches() {
            self.global_step >= self.config.total_timesteps
        } else {
            self.iteration >= self.config.num_iterations()
        }
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
        let c = self.config.clone();
        self.iteration += 1;
        let iteration = self.iteration;
        let lr = if !c.anneal_lr {
            c.learning_rate
        } else if c.episode_batches() {
            c.learning_rate * (1.0 - self.global_step as f64 / c.total_timesteps as f64)
        } else {
            linear_anneal(c.learning_rate, iteration, c.num_iterations())
        };
        self.model.set_lr(lr);
        let progress = if c.episode_batches() {
            self.global_step as f64 / c.total_timesteps as f64
        } else {
            (iteration - 1) as f64 / c.num_iterations() as f64
        };
        self.model.set_progress(progress);

        let rollout_start = Instant::now();
        let rollout = self.collect_rollout(iteration, observer)?;
        let update_start = Instant::now();
        let batch = rollout.len * c.num_envs;
        let (b_adv, b_returns) = self.advantages(&rollout);
        let obs_dim = self.envs.obs_dim();
        let b_obs = Array2::from_shape_vec((batch, obs_dim), rollout.obs)
            .expect("rollout observations are [T * N, obs_dim]");
        let b_actions = match self.policy {
            PolicyKind::Categorical { .. } => Actions::Discrete(rollout.discrete),
            PolicyKind::Gaussian { dim } => Actions::Continuous(
                Array2::from_shape_vec((batch, dim), rollout.continuous)
                    .expect("rollout actions are [T * N, dim]"),
            ),
        };
        let b_logprobs = Array1::from(rollout.logprobs);
        let b_values = Array1::from(rollout.values);

        // ---- Update --------------------------------------------------------------
        let coefs = self.loss_coefs();
        let signals = self.model.config().signals();
        self.snapshot_probe(&b_obs);
        let mut inds: Vec<usize> = (0..batch).collect();
        // Episode batches vary in size: cut them into near-equal minibatches of at least 2
        // rows (pairs for the local rule), fewer than `num_minibatches` if need be.
        let num_mb = if c.episode_batches() {
            c.num_minibatches.min((batch / 2).max(1))
        } else {
            c.num_minibatches
        };
        let bounds: Vec<(usize, usize)> = (0..num_mb)
            .map(|k| (k * batch / num_mb, (k + 1) * batch / num_mb))
            .collect();
        let mut sums = LossSums::default();
        let mut actor_layers = LayerSums::default();
        let mut critic_layers = LayerSums::default();
        'epochs: for epoch in 0..c.update_epochs {
            inds.shuffle(&mut self.shuffle_rng);
            for (k, &(lo, hi)) in bounds.iter().enumerate() {
                self.model.set_position(epoch, k);
                let mb = &inds[lo..hi];
                let mb_obs = b_obs.select(Axis(0), mb);
                let mb_actions = match &b_actions {
                    Actions::Discrete(a) => Actions::Discrete(mb.iter().map(|&j| a[j]).collect()),
                    Actions::Continuous(a) => Actions::Continuous(a.select(Axis(0), mb)),
                };
                let pick = |a: &Array1<f32>| Array1::from_iter(mb.iter().map(|&j| a[j]));
                let raw_adv = pick(&b_adv);
                let mb_returns = pick(&b_returns);
                let mut mb_adv = raw_adv.clone();
                if c.norm_adv {
                    normalize_advantages(&mut mb_adv);
                }
                // Guidance signals of `pdm_guided` (docs/method.md): by default the raw
                // advantages for the actor (REINFORCE: the returns-to-go, the signal that
                // weighs its policy gradient), the returns for the critic.
                let actor_adv = if c.algo == Algo::Reinforce {
                    &mb_returns
                } else {
                    &raw_adv
                };
                let guidance = (
                    guidance_signal(signals.0, actor_adv, &mb_returns),
                    guidance_signal(signals.1, &raw_adv, &mb_returns),
                );
                let (mb_old_logp, mb_old_v) = (pick(&b_logprobs), pick(&b_values));
                let lb = LossBatch {
                    actions: mb_actions.view(),
                    old_logprobs: mb_old_logp.view(),
                    advantages: mb_adv.view(),
                    returns: mb_returns.view(),
                    old_values: mb_old_v.view(),
                };
                let mut out: Option<AlgoLoss<f32>> = None;
                let diagnose = k == 0 && sums.count == 0;
                let report = self.model.update(
                    mb_obs.view(),
                    guidance,
                    c.max_grad_norm,
                    diagnose,
                    &mut |h| {
                        let l = algo_loss(h.policy, h.log_std, h.values, &lb, &coefs);
                        let grads = HeadGrads {
                            policy: l.grad_policy.clone(),
                            log_std: l.grad_log_std.clone(),
                            values: l.grad_values.clone(),
                        };
                        out = Some(l);
                        grads
                    },
                )?;
                let l = out.expect("loss evaluated");
                if !l.loss.is_finite() {
                    return Err(AgentError::NonFinite {
                        update: iteration,
                        network: if l.v_loss.is_finite() {
                            "actor"
                        } else {
                            "critic"
                        },
                        what: format!("{} loss (minibatch {})", c.algo, k + 1),
                    });
                }
                for (name, layers) in [
                    ("actor", &report.actor_layers),
                    ("critic", &report.critic_layers),
                ] {
                    if let Some(bad) = layers.iter().position(|s| !s.local_loss.is_finite()) {
                        return Err(AgentError::NonFinite {
                            update: iteration,
                            network: name,
                            what: format!("local loss of hidden layer {}", bad + 1),
                        });
                    }
                }
                if let Some(p) = self.model.first_non_finite() {
                    return Err(AgentError::NonFinite {
                        update: iteration,
                        network: p.network,
                        what: format!("parameter of {} (after minibatch {})", p.layer, k + 1),
                    });
                }
                sums.add(&l, report.grad_norm);
                actor_layers.add(&report.actor_layers);
                critic_layers.add(&report.critic_layers);
                if let (Algo::Ppo, Some(target)) = (c.algo, c.target_kl)
                    && f64::from(l.approx_kl) > target
                {
                    break 'epochs;
                }
            }
        }
        let (mut actor_layers, mut critic_layers) = (actor_layers.mean(), critic_layers.mean());
        self.measure_drift(&mut actor_layers, &mut critic_layers);
        self.phase_times.rollout_seconds += (update_start - rollout_start).as_secs_f64();
        self.phase_times.update_seconds += update_start.elapsed().as_secs_f64();
        self.phase_times.iterations += 1;
        let stats = IterationStats {
            iteration,
            global_step: self.global_step,
            learning_rate: lr,
            value_loss: sums.mean(sums.v_loss),
            policy_loss: sums.mean(sums.pg_loss),
            entropy: sums.mean(sums.entropy),
            old_approx_kl: sums.mean(sums.old_kl),
            approx_kl: sums.mean(sums.kl),
            clipfrac: sums.mean(sums.clipfrac),
            explained_variance: explained_variance(&b_values, &b_returns),
            grad_norm: sums.mean(sums.grad_norm),
            actor_layers,
            critic_layers,
        };
        observer(&Event::Iteration(stats));

        // ---- Evaluation ----------------------------------------------------------
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

    /// The loss coefficients of the algorithm.
    fn loss_coefs(&self) -> LossCoefs {
        let c = &self.config;
        match c.algo {
            Algo::Ppo => LossCoefs {
                objective: PolicyObjective::Clipped {
                    clip_coef: c.clip_coef,
                },
                value_clip: c.clip_vloss.then_some(c.clip_coef),
                ent_coef: c.ent_coef,
                vf_coef: c.vf_coef,
            },
            Algo::A2c => LossCoefs {
                objective: PolicyObjective::Vanilla,
                value_clip: None,
                ent_coef: c.ent_coef,
                vf_coef: c.vf_coef,
            },
            Algo::Reinforce => LossCoefs {
                objective: PolicyObjective::Vanilla,
                value_clip: None,
                ent_coef: c.ent_coef,
                vf_coef: if c.baseline { c.vf_coef } else { 0.0 },
            },
        }
    }

    /// Collects one batch: `num_steps` vector steps, or for episode batches the steps of
    /// `num_episodes` episodes (stopping early at the step budget).
    fn collect_rollout(
        &mut self,
        iteration: usize,
        observer: &mut dyn FnMut(&Event),
    ) -> Result<Rollout, AgentError> {
        let c = &self.config;
        let (n, obs_dim) = (c.num_envs, self.envs.obs_dim());
        let episode_batches = c.episode_batches();
        let capacity = if episode_batches { 1024 } else { c.num_steps };
        let mut r = Rollout::with_capacity(capacity, n, obs_dim);
        let mut episodes = 0usize;
        let uses_critic = self.uses_critic();
        let mut buffers = std::mem::take(&mut self.buffers);
        loop {
            if episode_batches {
                if episodes >= c.num_episodes || self.global_step >= c.total_timesteps {
                    break;
                }
                if r.len * n >= MAX_BATCH_SIZE {
                    return Err(AgentError::InvalidConfig {
                        name: "num_episodes",
                        value: c.num_episodes.to_string(),
                        allowed: format!(
                            "the episodes of one batch exceeded {MAX_BATCH_SIZE} steps; use batch = \"steps\""
                        ),
                    });
                }
            } else if r.len == c.num_steps {
                break;
            }
            let t = r.len;
            r.obs.extend(self.next_obs.iter());
            let out = self
                .model
                .actor
                .forward_into(self.next_obs.view(), &mut buffers.actor);
            let log_std = self.model.log_std.as_ref().map(|a| a.view());
            let actions = sample_actions(self.policy, out, log_std, false, &mut self.sample_rng);
            let (logp, _) = log_prob_entropy(out, log_std, actions.view());
            r.logprobs.extend(logp.iter());
            if uses_critic {
                let values = self
                    .model
                    .critic
                    .forward_into(self.next_obs.view(), &mut buffers.critic);
                r.values.extend(values.column(0).iter());
            } else {
                r.values.extend(std::iter::repeat_n(0.0, n));
            }
            match &actions {
                Actions::Discrete(a) => {
                    r.discrete.extend(a.iter());
                    self.action_log.extend(a.iter().map(|&k| k as f32));
                }
                Actions::Continuous(a) => {
                    r.continuous.extend(a.iter());
                    self.action_log.extend(a.iter());
                }
            }
            buffers.env_actions.clear();
            buffers
                .env_actions
                .extend((0..n).map(|i| actions.env_action(i)));
            self.envs
                .step_into(&buffers.env_actions, &mut buffers.step)?;
            let step = &buffers.step;
            self.global_step += n;
            self.vector_steps += 1;
            check_env_output(&self.envs, step, t, iteration)?;
            let ended: Vec<bool> = (0..n)
                .map(|i| step.terminated[i] || step.truncated[i])
                .collect();
            let rewards = match &mut self.reward_norm {
                Some(norm) => norm.normalize(&step.rewards, &ended),
                None => step.rewards.clone(),
            };
            for i in 0..n {
                r.rewards.push(rewards[i] as f32);
                self.episode_return[i] += step.rewards[i];
                self.episode_length[i] += 1;
                let (term, trunc) = (step.terminated[i], step.truncated[i]);
                r.ended.push(ended[i]);
                let mut bootstrap = 0.0;
                // `terminated` wins when both are set (a time limit on a terminal step).
                if trunc && !term && c.bootstrap_truncated && uses_critic {
                    let last = step.final_observations[i]
                        .as_ref()
                        .expect("vector env reports the final observation of an ended episode");
                    let last = last.view().insert_axis(Axis(0));
                    let last = match &self.obs_norm {
                        Some(norm) => norm.normalize(last),
                        None => last.to_owned(),
                    };
                    bootstrap = self.model.critic.forward(last.view())[[0, 0]];
                }
                r.bootstrap.push(bootstrap);
                if ended[i] {
                    episodes += 1;
                    observer(&Event::Episode(EpisodeRecord {
                        global_step: self.global_step,
                        episodic_return: self.episode_return[i],
                        episodic_length: self.episode_length[i],
                    }));
                    self.episode_return[i] = 0.0;
                    self.episode_length[i] = 0;
                }
            }
            match &mut self.obs_norm {
                Some(norm) => self.next_obs = norm.update_and_normalize(step.observations.view()),
                None => self.next_obs.assign(&step.observations),
            }
            self.next_obs_raw.assign(&step.observations);
            r.len += 1;
        }
        self.buffers = buffers;
        Ok(r)
    }

    /// Whether the critic is used: always but by REINFORCE without a baseline.
    fn uses_critic(&self) -> bool {
        self.config.algo != Algo::Reinforce || self.config.baseline
    }

    /// `V(next_obs)`, `[num_envs]` (zeros if the critic is not used).
    fn values_of_next_obs(&self) -> Array1<f32> {
        if self.uses_critic() {
            self.model
                .critic
                .forward(self.next_obs.view())
                .column(0)
                .to_owned()
        } else {
            Array1::zeros(self.config.num_envs)
        }
    }

    /// Advantages and value targets `[T * N]` of a rollout, row-major (step, env).
    fn advantages(&self, r: &Rollout) -> (Array1<f32>, Array1<f32>) {
        let c = &self.config;
        let (t_len, n) = (r.len, c.num_envs);
        let shape = (t_len, n);
        let rewards = ArrayView2::from_shape(shape, &r.rewards).expect("[T, N]");
        let values = ArrayView2::from_shape(shape, &r.values).expect("[T, N]");
        let ended = ArrayView2::from_shape(shape, &r.ended).expect("[T, N]");
        let bootstrap = ArrayView2::from_shape(shape, &r.bootstrap).expect("[T, N]");
        let last_value = self.values_of_next_obs();
        let lambda = if c.algo == Algo::Reinforce {
            1.0
        } else {
            c.gae_lambda as f32
        };
        let (adv, returns) = gae(
            rewards,
            values,
            ended,
            bootstrap,
            last_value.view(),
            c.gamma as f32,
            lambda,
        );
        let flat = |a: Array2<f32>| Array1::from_iter(a.iter().copied());
        let (mut adv, mut returns) = (flat(adv), flat(returns));
        if c.algo == Algo::Reinforce && c.normalize_returns {
            normalize_advantages(&mut returns);
            adv = &returns - &Array1::from_iter(values.iter().copied());
        }
        (adv, returns)
    }

    /// Runs one deterministic episode on each eval env copy (greedy actions, observations
    /// normalised with the frozen statistics) and returns their raw returns; `None`
    /// without eval envs. An episode still running after 100000 steps counts with its
    /// return so far.
    ///
    /// # Errors
    /// An environment error, or a non-finite observation or reward.
    pub fn evaluate(&mut self) -> Result<Option<EvalRecord>, AgentError> {
        const MAX_EVAL_STEPS: usize = 100_000;
        let Some(envs) = self.eval_envs.as_mut() else {
            return Ok(None);
        };
        let n = envs.num_envs();
        let mut obs = envs.reset(Some(derive_seed(self.seed, "eval-envs")));
        let mut returns = vec![0.0f64; n];
        let mut lengths = vec![0usize; n];
        let mut done = vec![false; n];
        let mut unused = rng_from_seed(0); // greedy actions draw nothing
        for t in 0..MAX_EVAL_STEPS {
            if done.iter().all(|&d| d) {
                break;
            }
            let normalized = match &self.obs_norm {
                Some(norm) => norm.normalize(obs.view()),
                None => obs.clone(),
            };
            let out = self.model.actor.forward(normalized.view());
            let log_std = self.model.log_std.as_ref().map(|a| a.view());
            let actions = sample_actions(self.policy, out.view(), log_std, true, &mut unused);
            let env_actions: Vec<Action> = (0..n).map(|i| actions.env_action(i)).collect();
            let step = envs.step(&env_actions)?;
            check_env_output(envs, &step, t, self.iteration)?;
            for i in 0..n {
                if done[i] {
                    continue;
                }
                returns[i] += step.rewards[i];
                lengths[i] += 1;
                done[i] = step.terminated[i] || step.truncated[i];
            }
            obs = step.observations;
        }
        Ok(Some(EvalRecord {
            global_step: self.global_step,
            returns,
            lengths,
        }))
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

/// A batch of rollout data, flattened row-major over `[T, N, ...]`.
struct Rollout {
    len: usize,
    obs: Vec<f32>,
    discrete: Vec<usize>,
    continuous: Vec<f32>,
    logprobs: Vec<f32>,
    rewards: Vec<f32>,
    values: Vec<f32>,
    ended: Vec<bool>,
    bootstrap: Vec<f32>,
}

impl Rollout {
    fn with_capacity(t: usize, n: usize, obs_dim: usize) -> Self {
        let k = t * n;
        Rollout {
            len: 0,
            obs: Vec::with_capacity(k * obs_dim),
            discrete: Vec::new(),
            continuous: Vec::new(),
            logprobs: Vec::with_capacity(k),
            rewards: Vec::with_capacity(k),
            values: Vec::with_capacity(k),
            ended: Vec::with_capacity(k),
            bootstrap: Vec::with_capacity(k),
        }
    }
}

/// Checks that hold between the algorithm's and the trainer's options: a local trainer needs
/// at least one hidden layer and minibatches of at least 2 rows (pairs).
///
/// # Errors
/// [`AgentError::InvalidConfig`] naming the key.
pub fn check_trainer_fits(config: &AgentConfig, trainer: &TrainerConfig) -> Result<(), AgentError> {
    let local = trainer.kind != TrainerKind::Bp;
    if local && config.hidden_sizes.is_empty() {
        return Err(AgentError::InvalidConfig {
            name: "hidden_sizes",
            value: "[]".into(),
            allowed: format!("trainer `{}` needs at least one hidden layer", trainer.kind),
        });
    }
    // The PDM loss is measured under every trainer (the diagnostics of `bp` and `frozen`
    // too), so its pairs must fit the minibatches whatever the trainer.
    if let pdmrl_local_loss::Pairs::Sampled { k } = trainer.pdm.pairs
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
                trainer.kind,
                config.minibatch_size()
            ),
        });
    }
    Ok(())
}

/// Rows of the probe batch used for the feature-drift diagnostic.
const PROBE_ROWS: usize = 64;

impl Agent {
    /// Before the first update: fixes the probe batch (every `batch / PROBE_ROWS`-th row of
    /// the first rollout, so it spans its steps and envs) and records the initial hidden
    /// outputs on it.
    fn snapshot_probe(&mut self, b_obs: &Array2<f32>) {
        if self.probe.is_some() {
            return;
        }
        let stride = (b_obs.nrows() / PROBE_ROWS).max(1);
        let probe = b_obs.slice(s![..;stride, ..]).to_owned();
        self.probe_outputs = (
            self.model.actor.hidden_outputs(probe.view()),
            self.model.critic.hidden_outputs(probe.view()),
        );
        self.probe = Some(probe);
    }

    /// Sets `drift` of each layer's stats: the relative change of its outputs on the probe
    /// batch over this iteration's updates.
    fn measure_drift(&mut self, actor_layers: &mut [LayerStats], critic_layers: &mut [LayerStats]) {
        let Some(probe) = &self.probe else {
            return;
        };
        let now = (
            self.model.actor.hidden_outputs(probe.view()),
            self.model.critic.hidden_outputs(probe.view()),
        );
        for (stats, (new, old)) in [
            (actor_layers, (&now.0, &self.probe_outputs.0)),
            (critic_layers, (&now.1, &self.probe_outputs.1)),
        ] {
            for (l, s) in stats.iter_mut().enumerate() {
                s.drift = match (new.get(l), old.get(l)) {
                    (Some(n), Some(o)) => relative_change(n, o),
                    _ => f64::NAN,
                };
            }
        }
        self.probe_outputs = now;
    }
}

/// `||new - old||_F / ||old||_F` (NaN if `old` is all zeros).
fn relative_change(new: &Array2<f32>, old: &Array2<f32>) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&n, &o) in new.iter().zip(old.iter()) {
        diff += f64::from(n - o).powi(2);
        norm += f64::from(o).powi(2);
    }
    if norm > 0.0 {
        (diff / norm).sqrt()
    } else {
        f64::NAN
    }
}

/// The guidance signal `[batch]` of one network for a minibatch: the raw (unnormalised)
/// advantages, the returns, or none (docs/method.md, "Reward guidance").
pub fn guidance_signal<'a>(
    signal: GuidanceSignal,
    raw_advantages: &'a Array1<f32>,
    returns: &'a Array1<f32>,
) -> Option<ndarray::ArrayView1<'a, f32>> {
    match signal {
        GuidanceSignal::Advantage => Some(raw_advantages.view()),
        GuidanceSignal::Return => Some(returns.view()),
        GuidanceSignal::None => None,
    }
}

#[derive(Default)]
struct LossSums {
    count: usize,
    v_loss: f64,
    pg_loss: f64,
    entropy: f64,
    old_kl: f64,
    kl: f64,
    clipfrac: f64,
    grad_norm: f64,
}

impl LossSums {
    fn add(&mut self, l: &AlgoLoss<f32>, grad_norm: f64) {
        self.count += 1;
        self.v_loss += f64::from(l.v_loss);
        self.pg_loss += f64::from(l.pg_loss);
        self.entropy += f64::from(l.entropy);
        self.old_kl += f64::from(l.old_approx_kl);
        self.kl += f64::from(l.approx_kl);
        self.clipfrac += f64::from(l.clipfrac);
        self.grad_norm += grad_norm;
    }

    fn mean(&self, x: f64) -> f64 {
        x / self.count.max(1) as f64
    }
}

#[derive(Default)]
struct LayerSums {
    count: usize,
    sums: Vec<LayerStats>,
}

impl LayerSums {
    fn add(&mut self, layers: &[LayerStats]) {
        if layers.is_empty() {
            return;
        }
        if self.sums.is_empty() {
            self.sums = vec![LayerStats::default(); layers.len()];
        }
        for (s, l) in self.sums.iter_mut().zip(layers) {
            s.local_loss += l.local_loss;
            s.mean_distance += l.mean_distance;
            s.saturated += l.saturated;
            s.weight_norm += l.weight_norm;
        }
        self.count += 1;
    }

    fn mean(self) -> Vec<LayerStats> {
        let k = self.count.max(1) as f64;
        self.sums
            .into_iter()
            .map(|s| LayerStats {
                local_loss: s.local_loss / k,
                mean_distance: s.mean_distance / k,
                saturated: s.saturated / k,
                weight_norm: s.weight_norm / k,
                drift: f64::NAN, // set by Agent::measure_drift
            })
            .collect()
    }
}

/// An error naming the env, copy, rollout step and quantity when an environment returns a
/// non-finite reward or observation (checked before it can reach a network).
fn check_env_output(
    envs: &SyncVectorEnv,
    step: &pdmrl_envs::VectorStep,
    t: usize,
    iteration: usize,
) -> Result<(), AgentError> {
    let bad = |i: usize, what: String| AgentError::NonFiniteEnv {
        env: envs.envs()[i].id().to_string(),
        copy: i,
        update: iteration,
        step: t,
        what,
    };
    for i in 0..step.rewards.len() {
        if !step.rewards[i].is_finite() {
            return Err(bad(i, format!("reward ({})", step.rewards[i])));
        }
        if step.observations.row(i).iter().any(|v| !v.is_finite()) {
            return Err(bad(i, "observation".into()));
        }
        if let Some(o) = &step.final_observations[i]
            && o.iter().any(|v| !v.is_finite())
        {
            return Err(bad(i, "final observation".into()));
        }
    }
    Ok(())
}

/// CleanRL's explained variance `1 - Var(y - y_pred) / Var(y)` (population variances, as
/// numpy's `var`); NaN when `Var(y) = 0`.
pub fn explained_variance(y_pred: &Array1<f32>, y: &Array1<f32>) -> f64 {
    let var = |v: &mut dyn Iterator<Item = f64>| {
        let xs: Vec<f64> = v.collect();
        let n = xs.len().max(1) as f64;
        let m = xs.iter().sum::<f64>() / n;
        xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n
    };
    let var_y = var(&mut y.iter().map(|&v| f64::from(v)));
    if var_y == 0.0 {
        return f64::NAN;
    }
    let var_res = var(&mut y
        .iter()
        .zip(y_pred)
        .map(|(&a, &b)| f64::from(a) - f64::from(b)));
    1.0 - var_res / var_y
}

// ---- Checkpoints ---------------------------------------------------------------------

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
                crate::checkpoint::TensorData::F32(v) => v.iter().all(|x| x.is_finite()),
                crate::checkpoint::TensorData::F64(v) => v.iter().all(|x| x.is_finite()),
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
