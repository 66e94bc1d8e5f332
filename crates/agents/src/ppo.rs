//! Proximal Policy Optimization for discrete actions, after CleanRL's `ppo.py`
//! (Huang et al., 2022, "The 37 implementation details of PPO"), read top to bottom:
//! rollout, GAE, minibatch loop, losses.
//!
//! Differences from CleanRL, each deliberate:
//! * truncated episodes bootstrap from `V(final observation)` (`bootstrap_truncated`,
//!   default true); with `false` truncation is treated as termination, as CleanRL does;
//! * logged losses are means over every minibatch of an iteration (CleanRL logs the last
//!   minibatch's);
//! * the hidden layers may be trained by a local rule (see [`crate::trainer`]).

use crate::categorical::{log_softmax, sample};
use crate::error::AgentError;
use crate::gae::gae;
use crate::mlp::Mlp;
use crate::ppo_loss::{PpoBatch, PpoLossCoefs, normalize_advantages, ppo_loss};
use crate::trainer::{ActorCritic, GuidanceSignal, LayerStats, TrainerConfig, TrainerKind};
use ndarray::{Array1, Array2, Array3, Axis, s};
use pdmrl_envs::{Action, Space, SyncVectorEnv};
use pdmrl_tensor::{Activation, Rng, derive_seed, linear_anneal, rng_from_seed};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Upper bound of `num_envs` accepted by [`PpoConfig::check`].
pub const MAX_NUM_ENVS: usize = 4096;
/// Upper bound of `num_envs * num_steps` accepted by [`PpoConfig::check`].
pub const MAX_BATCH_SIZE: usize = 1 << 24;
/// Upper bound of the number of hidden layers accepted by [`PpoConfig::check`].
pub const MAX_DEPTH: usize = 256;
/// Upper bound of a hidden layer's width accepted by [`PpoConfig::check`].
pub const MAX_WIDTH: usize = 16_384;

/// PPO hyperparameters, named and defaulted as CleanRL's `ppo.py` (classic control).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PpoConfig {
    /// Total environment steps over all envs (CleanRL 500000; rounded down to whole
    /// iterations of `num_envs * num_steps`).
    pub total_timesteps: usize,
    /// Adam learning rate (CleanRL 2.5e-4).
    pub learning_rate: f64,
    /// Parallel environments (CleanRL 4).
    pub num_envs: usize,
    /// Steps per environment per rollout (CleanRL 128).
    pub num_steps: usize,
    /// Anneal the learning rate linearly to 0 (CleanRL true).
    pub anneal_lr: bool,
    /// Discount factor (CleanRL 0.99).
    pub gamma: f64,
    /// GAE lambda (CleanRL 0.95).
    pub gae_lambda: f64,
    /// Minibatches per epoch (CleanRL 4).
    pub num_minibatches: usize,
    /// Epochs over each rollout (CleanRL 4).
    pub update_epochs: usize,
    /// Normalise advantages per minibatch (CleanRL true).
    pub norm_adv: bool,
    /// Surrogate clipping coefficient (CleanRL 0.2).
    pub clip_coef: f64,
    /// Clip the value loss (CleanRL true).
    pub clip_vloss: bool,
    /// Entropy coefficient (CleanRL 0.01).
    pub ent_coef: f64,
    /// Value-loss coefficient (CleanRL 0.5).
    pub vf_coef: f64,
    /// Global gradient-norm clip (CleanRL 0.5).
    pub max_grad_norm: f64,
    /// Stop an iteration's epochs early when approx_kl exceeds this (CleanRL None).
    pub target_kl: Option<f64>,
    /// Adam epsilon (CleanRL 1e-5).
    pub adam_eps: f64,
    /// Bootstrap truncated episodes from V(final observation) (ours, default true;
    /// false reproduces CleanRL, which treats truncation as termination).
    pub bootstrap_truncated: bool,
    /// Hidden layer widths of actor and critic (CleanRL [64, 64]).
    pub hidden_sizes: Vec<usize>,
    /// Hidden activation (CleanRL tanh).
    pub activation: Activation,
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
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
        }
    }
}

impl PpoConfig {
    /// `num_envs * num_steps` (saturating; [`PpoConfig::check`] bounds both).
    pub fn batch_size(&self) -> usize {
        self.num_envs.saturating_mul(self.num_steps)
    }

    /// `batch_size / num_minibatches`.
    pub fn minibatch_size(&self) -> usize {
        self.batch_size() / self.num_minibatches.max(1)
    }

    /// `total_timesteps / batch_size` (CleanRL's `num_iterations`).
    pub fn num_iterations(&self) -> usize {
        self.total_timesteps / self.batch_size().max(1)
    }

    /// Checks every hyperparameter before any work starts.
    ///
    /// # Errors
    /// [`AgentError::InvalidConfig`] naming the first offending key.
    pub fn check(&self) -> Result<(), AgentError> {
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
        if self.num_minibatches == 0 || !self.batch_size().is_multiple_of(self.num_minibatches) {
            return bad(
                "num_minibatches",
                self.num_minibatches,
                &format!(
                    "must be >= 1 and divide num_envs * num_steps = {}",
                    self.batch_size()
                ),
            );
        }
        if self.update_epochs == 0 {
            return bad("update_epochs", self.update_epochs, "must be >= 1");
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

/// What the agent reports while it trains.
#[derive(Debug, Clone)]
pub enum Event {
    /// An episode of a training env finished.
    Episode(EpisodeRecord),
    /// An iteration (rollout + update) finished.
    Iteration(IterationStats),
}

/// One finished training episode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpisodeRecord {
    /// Environment steps taken over all envs when the episode ended.
    pub global_step: usize,
    /// Undiscounted sum of rewards.
    pub episodic_return: f64,
    /// Number of steps.
    pub episodic_length: usize,
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
    /// Mean over minibatches of the clipped surrogate loss.
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

/// A PPO agent bound to its vector env: networks, trainer, RNGs and rollout state.
pub struct Ppo {
    config: PpoConfig,
    envs: SyncVectorEnv,
    model: ActorCritic,
    sample_rng: Rng,
    shuffle_rng: Rng,
    next_obs: Array2<f32>,
    global_step: usize,
    iteration: usize,
    episode_return: Vec<f64>,
    episode_length: Vec<usize>,
    /// A fixed batch of observations (the first rows of the first rollout) on which the
    /// hidden layers' outputs are compared from one iteration to the next (feature drift).
    probe: Option<Array2<f32>>,
    /// The hidden outputs of actor and critic on `probe` at the last iteration.
    probe_outputs: (Vec<Array2<f32>>, Vec<Array2<f32>>),
}

impl Ppo {
    /// Builds the agent: checks the configs, initialises actor and critic with CleanRL's
    /// `layer_init` from streams of `seed` (`"actor-init"`, `"critic-init"`), and resets
    /// the envs with `seed` (copy `i` gets `seed + i`, as CleanRL's `envs.reset(seed=seed)`).
    ///
    /// # Errors
    /// Invalid hyperparameters, a vector env with a number of copies other than
    /// `num_envs`, or a non-discrete action space.
    pub fn new(
        config: PpoConfig,
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
        let n_actions = match envs.single_action_space() {
            Space::Discrete { n } if *n >= 1 && envs.obs_dim() >= 1 => *n,
            other => {
                return Err(AgentError::UnsupportedActionSpace {
                    algo: "ppo (discrete)",
                    env: envs.envs()[0].id().to_string(),
                    space: other.to_string(),
                });
            }
        };
        let obs_dim = envs.obs_dim();
        let gain = 2f64.sqrt();
        let actor = Mlp::new(
            obs_dim,
            &config.hidden_sizes,
            n_actions,
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
        let model = ActorCritic::with_seed(
            actor,
            critic,
            trainer,
            config.learning_rate,
            config.adam_eps,
            seed,
        )?;
        let next_obs = envs.reset(Some(seed));
        let n = config.num_envs;
        Ok(Ppo {
            model,
            sample_rng: rng_from_seed(derive_seed(seed, "action-sampling")),
            shuffle_rng: rng_from_seed(derive_seed(seed, "minibatch-shuffle")),
            next_obs,
            global_step: 0,
            iteration: 0,
            episode_return: vec![0.0; n],
            episode_length: vec![0; n],
            probe: None,
            probe_outputs: (Vec::new(), Vec::new()),
            envs,
            config,
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &PpoConfig {
        &self.config
    }

    /// The networks and their trainer.
    pub fn model(&self) -> &ActorCritic {
        &self.model
    }

    /// The trainer kind.
    pub fn trainer(&self) -> TrainerKind {
        self.model.config().kind
    }

    /// Environment steps taken so far.
    pub fn global_step(&self) -> usize {
        self.global_step
    }

    /// The training envs.
    pub fn envs(&self) -> &SyncVectorEnv {
        &self.envs
    }

    /// Actions of the current policy for a batch of observations `[batch, obs_dim]`:
    /// the most probable action of each row if `greedy` (deterministic evaluation), else a
    /// sample from the policy drawn from `rng`.
    ///
    /// # Panics
    /// If `observations.ncols()` differs from the env's observation size.
    pub fn act(
        &self,
        observations: ndarray::ArrayView2<f32>,
        greedy: bool,
        rng: &mut Rng,
    ) -> Vec<usize> {
        let logits = self.model.actor.forward(observations);
        if greedy {
            crate::categorical::argmax(logits.view())
        } else {
            sample(log_softmax(logits.view()).view(), rng)
        }
    }

    /// Runs every remaining iteration, reporting episodes and iterations to `observer`.
    ///
    /// # Errors
    /// An environment error, a local-rule error, or a non-finite loss.
    pub fn train(&mut self, observer: &mut dyn FnMut(&Event)) -> Result<(), AgentError> {
        while self.iteration < self.config.num_iterations() {
            self.iterate(observer)?;
        }
        Ok(())
    }

    /// One iteration: a rollout of `num_steps` in every env, GAE, and `update_epochs`
    /// epochs of minibatch updates.
    ///
    /// # Errors
    /// As [`Ppo::train`].
    pub fn iterate(&mut self, observer: &mut dyn FnMut(&Event)) -> Result<(), AgentError> {
        let c = self.config.clone();
        self.iteration += 1;
        let iteration = self.iteration;
        let lr = if c.anneal_lr {
            linear_anneal(c.learning_rate, iteration, c.num_iterations())
        } else {
            c.learning_rate
        };
        self.model.set_lr(lr);

        // ---- Rollout -------------------------------------------------------------
        let (t_len, n, obs_dim) = (c.num_steps, c.num_envs, self.envs.obs_dim());
        let mut obs = Array3::<f32>::zeros((t_len, n, obs_dim));
        let mut actions = Array2::<usize>::zeros((t_len, n));
        let mut logprobs = Array2::<f32>::zeros((t_len, n));
        let mut rewards = Array2::<f32>::zeros((t_len, n));
        let mut values = Array2::<f32>::zeros((t_len, n));
        let mut ended = Array2::<bool>::from_elem((t_len, n), false);
        let mut bootstrap = Array2::<f32>::zeros((t_len, n));
        for t in 0..t_len {
            obs.slice_mut(s![t, .., ..]).assign(&self.next_obs);
            let logp = log_softmax(self.model.actor.forward(self.next_obs.view()).view());
            let v = self.model.critic.forward(self.next_obs.view());
            let a = sample(logp.view(), &mut self.sample_rng);
            for i in 0..n {
                actions[[t, i]] = a[i];
                logprobs[[t, i]] = logp[[i, a[i]]];
                values[[t, i]] = v[[i, 0]];
            }
            let env_actions: Vec<Action> = a.iter().map(|&k| Action::Discrete(k)).collect();
            let step = self.envs.step(&env_actions)?;
            self.global_step += n;
            check_env_output(&self.envs, &step, t, iteration)?;
            for i in 0..n {
                rewards[[t, i]] = step.rewards[i] as f32;
                self.episode_return[i] += step.rewards[i];
                self.episode_length[i] += 1;
                let (term, trunc) = (step.terminated[i], step.truncated[i]);
                if term || trunc {
                    ended[[t, i]] = true;
                    // `terminated` wins when both are set (a time limit on a terminal step).
                    if trunc && !term && c.bootstrap_truncated {
                        let last = step.final_observations[i]
                            .as_ref()
                            .expect("vector env reports the final observation of an ended episode");
                        let fv = self.model.critic.forward(last.view().insert_axis(Axis(0)));
                        bootstrap[[t, i]] = fv[[0, 0]];
                    }
                    observer(&Event::Episode(EpisodeRecord {
                        global_step: self.global_step,
                        episodic_return: self.episode_return[i],
                        episodic_length: self.episode_length[i],
                    }));
                    self.episode_return[i] = 0.0;
                    self.episode_length[i] = 0;
                }
            }
            self.next_obs = step.observations;
        }
        let last_value = self
            .model
            .critic
            .forward(self.next_obs.view())
            .column(0)
            .to_owned();
        let (advantages, returns) = gae(
            rewards.view(),
            values.view(),
            ended.view(),
            bootstrap.view(),
            last_value.view(),
            c.gamma as f32,
            c.gae_lambda as f32,
        );

        // ---- Flatten the batch ---------------------------------------------------
        let batch = c.batch_size();
        let b_obs = obs
            .into_shape_with_order((batch, obs_dim))
            .expect("contiguous rollout");
        let b_actions: Vec<usize> = actions.iter().copied().collect();
        let flat = |a: Array2<f32>| Array1::from_iter(a.iter().copied());
        let (b_logprobs, b_adv, b_returns, b_values) = (
            flat(logprobs),
            flat(advantages),
            flat(returns),
            flat(values),
        );

        // ---- Update --------------------------------------------------------------
        let coefs = PpoLossCoefs {
            clip_coef: c.clip_coef,
            clip_vloss: c.clip_vloss,
            ent_coef: c.ent_coef,
            vf_coef: c.vf_coef,
        };
        let mb_size = c.minibatch_size();
        let signals = self.model.config().signals();
        self.snapshot_probe(&b_obs);
        let mut inds: Vec<usize> = (0..batch).collect();
        let mut sums = LossSums::default();
        let mut actor_layers = LayerSums::default();
        let mut critic_layers = LayerSums::default();
        'epochs: for _epoch in 0..c.update_epochs {
            inds.shuffle(&mut self.shuffle_rng);
            for (k, mb) in inds.chunks(mb_size).enumerate() {
                let mb_obs = b_obs.select(Axis(0), mb);
                let mb_actions: Vec<usize> = mb.iter().map(|&j| b_actions[j]).collect();
                let pick = |a: &Array1<f32>| Array1::from_iter(mb.iter().map(|&j| a[j]));
                let raw_adv = pick(&b_adv);
                let mb_returns = pick(&b_returns);
                let mut mb_adv = raw_adv.clone();
                if c.norm_adv {
                    normalize_advantages(&mut mb_adv);
                }
                // Guidance signals of `pdm_guided` (docs/method.md): by default the raw
                // advantages for the actor, the returns for the critic.
                let guidance = (
                    guidance_signal(signals.0, &raw_adv, &mb_returns),
                    guidance_signal(signals.1, &raw_adv, &mb_returns),
                );
                let (mb_old_logp, mb_old_v) = (pick(&b_logprobs), pick(&b_values));
                let pb = PpoBatch {
                    actions: &mb_actions,
                    old_logprobs: mb_old_logp.view(),
                    advantages: mb_adv.view(),
                    returns: mb_returns.view(),
                    old_values: mb_old_v.view(),
                };
                let mut out = None;
                let diagnose = k == 0 && sums.count == 0;
                let report = self.model.update(
                    mb_obs.view(),
                    guidance,
                    c.max_grad_norm,
                    diagnose,
                    &mut |logits, v| {
                        let l = ppo_loss(logits, v, &pb, &coefs);
                        let grads = (l.grad_logits.clone(), l.grad_values.clone());
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
                        what: "PPO loss".into(),
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
                sums.add(&l, report.grad_norm);
                actor_layers.add(&report.actor_layers);
                critic_layers.add(&report.critic_layers);
                if let Some(target) = c.target_kl
                    && f64::from(l.approx_kl) > target
                {
                    break 'epochs;
                }
            }
        }
        let (mut actor_layers, mut critic_layers) = (actor_layers.mean(), critic_layers.mean());
        self.measure_drift(&mut actor_layers, &mut critic_layers);
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
        Ok(())
    }
}

/// Checks that hold between the algorithm's and the trainer's options: a local trainer needs
/// at least one hidden layer and minibatches of at least 2 rows (pairs).
///
/// # Errors
/// [`AgentError::InvalidConfig`] naming the key.
pub fn check_trainer_fits(config: &PpoConfig, trainer: &TrainerConfig) -> Result<(), AgentError> {
    if trainer.kind == TrainerKind::Bp {
        return Ok(());
    }
    if config.hidden_sizes.is_empty() {
        return Err(AgentError::InvalidConfig {
            name: "hidden_sizes",
            value: "[]".into(),
            allowed: format!("trainer `{}` needs at least one hidden layer", trainer.kind),
        });
    }
    if let pdmrl_local_loss::Pairs::Sampled { k } = trainer.pdm.pairs
        && k >= config.minibatch_size()
    {
        return Err(AgentError::InvalidConfig {
            name: "trainer.pdm.pairs.sampled.k",
            value: k.to_string(),
            allowed: format!(
                "must be below the minibatch size num_envs * num_steps / num_minibatches = {}",
                config.minibatch_size()
            ),
        });
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

impl Ppo {
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
    fn add(&mut self, l: &crate::ppo_loss::PpoLoss<f32>, grad_norm: f64) {
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
                drift: f64::NAN, // set by Ppo::measure_drift
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
