//! Deterministic evaluation: one greedy episode on each eval env copy, every
//! `eval_every` steps and after the last iteration.

use super::Agent;
use super::events::EvalRecord;
use super::rollout::check_env_output;
use crate::error::AgentError;
use crate::policy::sample_actions;
use pdmrl_envs::Action;
use pdmrl_tensor::{derive_seed, rng_from_seed};

impl Agent {
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
}
