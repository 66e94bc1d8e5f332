//! The time-limit wrapper: Gymnasium's `TimeLimit` (`gymnasium/wrappers/common.py`).

use crate::env::{Env, Info, Step, impl_wrapper};
use crate::error::EnvError;
use crate::space::Action;
use ndarray::Array1;

/// Truncates episodes after `max_episode_steps` steps (Gymnasium 1.4.0's
/// `gymnasium.wrappers.TimeLimit`, which `gymnasium.make` adds from the env spec's
/// `max_episode_steps`; [`crate::Registry::make`] does the same).
///
/// The wrapper counts the steps since the last [`Env::reset`] or [`Env::set_state`]; the
/// step at which the count reaches `max_episode_steps` is returned with `truncated = true`.
/// `terminated` is passed through unchanged, so when the limit coincides with a true
/// termination **both flags are set**, exactly as in Gymnasium. Agents must then give
/// `terminated` precedence (no bootstrapping from the final observation); `truncated` alone
/// means "bootstrap from the final observation".
///
/// Differences from Gymnasium: stepping after a truncation, or before the first
/// reset/set_state, is [`EnvError::StepAfterDone`] (Gymnasium's `TimeLimit` keeps counting
/// and returning `truncated = True`). After a termination the inner env reports the error.
///
/// Everything else (`id`, spaces, `state`) passes through to the inner env. [`Wrapper`](crate::Wrapper)
/// gives the inner env (stepping it directly through [`Wrapper::inner_mut`](crate::Wrapper::inner_mut) bypasses the
/// step count).
#[derive(Debug, Clone)]
pub struct TimeLimit<E: Env> {
    /// The wrapped env.
    env: E,
    /// The step limit, `> 0`.
    max_episode_steps: usize,
    /// Steps since the last reset/set_state; `None` before the first one (Gymnasium's
    /// `_elapsed_steps`).
    elapsed_steps: Option<usize>,
    /// The last step was truncated by this wrapper.
    truncated: bool,
}

impl<E: Env> TimeLimit<E> {
    /// Wraps `env`, truncating episodes after `max_episode_steps` steps.
    ///
    /// # Errors
    /// [`EnvError::InvalidKwargs`] if `max_episode_steps == 0` (Gymnasium asserts
    /// `max_episode_steps > 0`).
    pub fn new(env: E, max_episode_steps: usize) -> Result<Self, EnvError> {
        if max_episode_steps == 0 {
            return Err(EnvError::InvalidKwargs {
                id: env.id().to_string(),
                reason: "max_episode_steps must be at least 1".to_string(),
            });
        }
        Ok(TimeLimit {
            env,
            max_episode_steps,
            elapsed_steps: None,
            truncated: false,
        })
    }

    /// The step limit.
    pub fn max_episode_steps(&self) -> usize {
        self.max_episode_steps
    }

    /// Steps taken since the last reset/set_state, `None` before the first one.
    pub fn elapsed_steps(&self) -> Option<usize> {
        self.elapsed_steps
    }
}

impl_wrapper!(TimeLimit, env);

impl<E: Env> TimeLimit<E> {
    /// [`EnvError::StepAfterDone`] before the first reset or after a truncation.
    fn running(&self) -> Result<(), EnvError> {
        match self.elapsed_steps {
            Some(_) if !self.truncated => Ok(()),
            _ => Err(EnvError::StepAfterDone {
                id: self.env.id().to_string(),
            }),
        }
    }

    /// Counts a step taken; whether it reached the limit (and truncates).
    fn count_step(&mut self) -> bool {
        let elapsed = self.elapsed_steps.map_or(1, |n| n + 1);
        self.elapsed_steps = Some(elapsed);
        if elapsed >= self.max_episode_steps {
            self.truncated = true;
        }
        self.truncated
    }
}

impl<E: Env> Env for TimeLimit<E> {
    crate::forward_to_inner!(id, observation_space, action_space, state);

    /// Resets the inner env (same seeding semantics) and the step count.
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        let out = self.env.reset(seed);
        self.elapsed_steps = Some(0);
        self.truncated = false;
        out
    }

    /// Steps the inner env and sets `truncated = true` once `max_episode_steps` steps have
    /// been taken since the reset (leaving `terminated` as the inner env returned it).
    ///
    /// # Errors
    /// [`EnvError::StepAfterDone`] after a truncation or before the first reset/set_state;
    /// any error of the inner env (then the step is not counted).
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        self.running()?;
        let mut step = self.env.step(action)?;
        step.truncated |= self.count_step();
        Ok(step)
    }

    fn step_into(
        &mut self,
        action: &Action,
        observation: &mut [f32],
    ) -> Result<crate::env::Transition, EnvError> {
        self.running()?;
        let mut t = self.env.step_into(action, observation)?;
        t.truncated |= self.count_step();
        Ok(t)
    }

    fn reset_into(&mut self, seed: Option<u64>, observation: &mut [f32]) -> Result<Info, EnvError> {
        let info = self.env.reset_into(seed, observation);
        self.elapsed_steps = Some(0);
        self.truncated = false;
        info
    }

    /// Sets the inner env's state (starting an episode from it) and, on success, resets the
    /// step count.
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        let obs = self.env.set_state(state)?;
        self.elapsed_steps = Some(0);
        self.truncated = false;
        Ok(obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Wrapper;
    use crate::space::Space;

    /// A counter env: observation `[t]`, terminates when `t` reaches `terminate_at`.
    #[derive(Debug)]
    struct Counter {
        t: usize,
        terminate_at: usize,
        running: bool,
    }

    impl Counter {
        fn new(terminate_at: usize) -> Self {
            Counter {
                t: 0,
                terminate_at,
                running: false,
            }
        }
    }

    impl Env for Counter {
        fn id(&self) -> &str {
            "Counter-v0"
        }
        fn observation_space(&self) -> Space {
            Space::box1(vec![0.0], vec![f32::INFINITY])
        }
        fn action_space(&self) -> Space {
            Space::Discrete { n: 1 }
        }
        fn reset(&mut self, _seed: Option<u64>) -> (Array1<f32>, Info) {
            self.t = 0;
            self.running = true;
            (Array1::from(vec![0.0]), Info::new())
        }
        fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
            if !self.action_space().contains(action) {
                return Err(EnvError::invalid_action(action, self.action_space()));
            }
            if !self.running {
                return Err(EnvError::StepAfterDone {
                    id: self.id().to_string(),
                });
            }
            self.t += 1;
            let terminated = self.t >= self.terminate_at;
            self.running = !terminated;
            Ok(Step {
                observation: Array1::from(vec![self.t as f32]),
                reward: 1.0,
                terminated,
                truncated: false,
                info: Info::new(),
            })
        }
    }

    fn run(env: &mut TimeLimit<Counter>) -> Vec<(bool, bool)> {
        let mut flags = Vec::new();
        loop {
            let s = env.step(&Action::Discrete(0)).expect("episode running");
            flags.push((s.terminated, s.truncated));
            if s.terminated || s.truncated {
                return flags;
            }
        }
    }

    #[test]
    fn zero_limit_is_rejected() {
        let err = TimeLimit::new(Counter::new(3), 0).unwrap_err();
        assert!(matches!(err, EnvError::InvalidKwargs { .. }), "{err}");
    }

    #[test]
    fn truncates_exactly_at_the_limit() {
        let mut env = TimeLimit::new(Counter::new(100), 5).unwrap();
        assert_eq!(env.max_episode_steps(), 5);
        assert_eq!(env.elapsed_steps(), None);
        env.reset(None);
        let flags = run(&mut env);
        assert_eq!(flags.len(), 5);
        assert!(flags[..4].iter().all(|&f| f == (false, false)));
        assert_eq!(flags[4], (false, true));
        assert_eq!(env.elapsed_steps(), Some(5));
        // The inner env is still running, but the wrapper refuses to step past the limit.
        assert!(env.inner().running);
        assert!(matches!(
            env.step(&Action::Discrete(0)),
            Err(EnvError::StepAfterDone { id }) if id == "Counter-v0"
        ));
        // A reset starts a new full-length episode.
        env.reset(None);
        assert_eq!(run(&mut env).len(), 5);
    }

    #[test]
    fn termination_before_the_limit_is_not_truncation() {
        let mut env = TimeLimit::new(Counter::new(3), 5).unwrap();
        env.reset(None);
        let flags = run(&mut env);
        assert_eq!(flags, vec![(false, false), (false, false), (true, false)]);
        assert!(matches!(
            env.step(&Action::Discrete(0)),
            Err(EnvError::StepAfterDone { .. })
        ));
    }

    #[test]
    fn limit_coinciding_with_termination_sets_both_flags() {
        let mut env = TimeLimit::new(Counter::new(4), 4).unwrap();
        env.reset(None);
        let flags = run(&mut env);
        assert_eq!(flags.len(), 4);
        assert_eq!(
            flags[3],
            (true, true),
            "both flags, as Gymnasium's TimeLimit"
        );
        assert!(matches!(
            env.step(&Action::Discrete(0)),
            Err(EnvError::StepAfterDone { .. })
        ));
    }

    #[test]
    fn step_before_reset_and_invalid_actions_are_errors() {
        let mut env = TimeLimit::new(Counter::new(4), 4).unwrap();
        assert!(matches!(
            env.step(&Action::Discrete(0)),
            Err(EnvError::StepAfterDone { .. })
        ));
        env.reset(None);
        assert!(matches!(
            env.step(&Action::Discrete(1)),
            Err(EnvError::InvalidAction { .. })
        ));
        assert_eq!(
            env.elapsed_steps(),
            Some(0),
            "a rejected action is not counted"
        );
        assert_eq!(run(&mut env).len(), 4);
    }

    #[test]
    fn passes_through_and_unwraps() {
        let env = TimeLimit::new(Counter::new(4), 4).unwrap();
        assert_eq!(env.id(), "Counter-v0");
        assert_eq!(env.action_space(), Space::Discrete { n: 1 });
        assert_eq!(
            env.observation_space(),
            Space::box1(vec![0.0], vec![f32::INFINITY])
        );
        assert!(matches!(env.state(), Err(EnvError::StateUnsupported(_))));
        let inner = env.into_inner();
        assert_eq!(inner.terminate_at, 4);
    }

    #[test]
    fn set_state_restarts_the_count() {
        let mut env = TimeLimit::new(crate::CartPole::new(), 3).unwrap();
        env.reset(Some(0));
        for _ in 0..3 {
            env.step(&Action::Discrete(0)).unwrap();
        }
        assert!(env.step(&Action::Discrete(0)).is_err());
        assert!(env.set_state(&[0.0; 2]).is_err());
        assert!(
            env.step(&Action::Discrete(0)).is_err(),
            "failed set_state changes nothing"
        );
        env.set_state(&[0.0; 4]).unwrap();
        assert_eq!(env.elapsed_steps(), Some(0));
        let flags: Vec<bool> = (0..3)
            .map(|_| env.step(&Action::Discrete(0)).unwrap().truncated)
            .collect();
        assert_eq!(flags, vec![false, false, true]);
        assert_eq!(env.state().unwrap().len(), 4);
    }
}
