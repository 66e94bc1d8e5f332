//! The rollout: `num_steps` vector steps of the current policy (or whole episodes, as the
//! batch plan says), as CleanRL's `ppo.py` stores `obs`, `actions`, `logprobs`,
//! `rewards`, `dones` and `values`; then GAE ([`crate::gae`]) and the flattening into
//! the batch the update reads.

use super::Agent;
use super::algorithm;
use super::events::{EpisodeRecord, Event};
use crate::error::AgentError;
use crate::gae::gae;
use crate::loss::normalize_advantages;
use crate::mlp::MlpWorkspace;
use crate::policy::{Actions, PolicyKind, log_prob_entropy, sample_actions};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use pdmrl_envs::{Action, SyncVectorEnv, VectorStep};

/// What every rollout step reuses: the forward passes' layer outputs, the vector env's
/// step and the env actions, so that the steady-state step allocates little (nothing in
/// the vector env and the forward passes: `tests/rollout_alloc.rs`).
#[derive(Default)]
pub(super) struct RolloutBuffers {
    actor: MlpWorkspace,
    critic: MlpWorkspace,
    step: VectorStep,
    env_actions: Vec<Action>,
}

impl Agent {
    /// Collects one rollout as the batch plan says: `num_steps` vector steps, or the steps
    /// of `num_episodes` episodes (stopping early at the step budget), reporting each
    /// finished episode to `observer`.
    pub(super) fn collect_rollout(
        &mut self,
        observer: &mut dyn FnMut(&Event),
    ) -> Result<Rollout, AgentError> {
        let c = &self.config;
        let iteration = self.iteration;
        let (n, obs_dim) = (c.num_envs, self.envs.obs_dim());
        let mut r = Rollout::with_capacity(self.plan.capacity(), n, obs_dim);
        let mut episodes = 0usize;
        let uses_critic = algorithm::uses_critic(c);
        let mut buffers = std::mem::take(&mut self.buffers);
        while !self
            .plan
            .rollout_full(r.len, n, episodes, self.global_step)?
        {
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

    /// `V(next_obs)`, `[num_envs]` (zeros if the critic is not used).
    fn values_of_next_obs(&self) -> Array1<f32> {
        if algorithm::uses_critic(&self.config) {
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
    pub(super) fn advantages(&self, r: &Rollout) -> (Array1<f32>, Array1<f32>) {
        let c = &self.config;
        let (t_len, n) = (r.len, c.num_envs);
        let shape = (t_len, n);
        let rewards = ArrayView2::from_shape(shape, &r.rewards).expect("[T, N]");
        let values = ArrayView2::from_shape(shape, &r.values).expect("[T, N]");
        let ended = ArrayView2::from_shape(shape, &r.ended).expect("[T, N]");
        let bootstrap = ArrayView2::from_shape(shape, &r.bootstrap).expect("[T, N]");
        let last_value = self.values_of_next_obs();
        let lambda = algorithm::gae_lambda(c);
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
        if algorithm::normalizes_returns(c) {
            normalize_advantages(&mut returns);
            adv = &returns - &Array1::from_iter(values.iter().copied());
        }
        (adv, returns)
    }
}

/// A rollout flattened for the update: every array's first axis is `[T * N]`, row-major
/// over (step, env), as CleanRL's `b_obs`, `b_actions`, ... .
pub(super) struct Batch {
    /// Observations the policy saw, `[T * N, obs_dim]`.
    pub(super) obs: Array2<f32>,
    /// Actions taken (`[T * N]` indices, or `[T * N, action_dim]`).
    pub(super) actions: Actions,
    /// Log-probabilities of the actions under the rollout's policy, `[T * N]`.
    pub(super) logprobs: Array1<f32>,
    /// Critic values of the observations (zeros without a critic), `[T * N]`.
    pub(super) values: Array1<f32>,
    /// Advantages (GAE), `[T * N]`.
    pub(super) advantages: Array1<f32>,
    /// Value targets (returns), `[T * N]`.
    pub(super) returns: Array1<f32>,
}

impl Batch {
    /// Rows of the batch (`T * N`).
    pub(super) fn len(&self) -> usize {
        self.logprobs.len()
    }
}

impl Agent {
    /// The advantages of a rollout and the rollout flattened into a [`Batch`].
    pub(super) fn batch(&self, rollout: Rollout) -> Batch {
        let (advantages, returns) = self.advantages(&rollout);
        let rows = rollout.len * self.config.num_envs;
        let obs = Array2::from_shape_vec((rows, self.envs.obs_dim()), rollout.obs)
            .expect("rollout observations are [T * N, obs_dim]");
        let actions = match self.policy {
            PolicyKind::Categorical { .. } => Actions::Discrete(rollout.discrete),
            PolicyKind::Gaussian { dim } => Actions::Continuous(
                Array2::from_shape_vec((rows, dim), rollout.continuous)
                    .expect("rollout actions are [T * N, dim]"),
            ),
        };
        Batch {
            obs,
            actions,
            logprobs: Array1::from(rollout.logprobs),
            values: Array1::from(rollout.values),
            advantages,
            returns,
        }
    }
}

/// A batch of rollout data, flattened row-major over `[T, N, ...]`.
pub(super) struct Rollout {
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

/// An error naming the env, copy, rollout step and quantity when an environment returns a
/// non-finite reward or observation (checked before it can reach a network).
pub(super) fn check_env_output(
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
