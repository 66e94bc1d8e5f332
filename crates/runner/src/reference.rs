//! Reference returns of an environment, the scale tables and figures read results
//! against: the return of random play, and the return at which Gymnasium counts the task
//! solved.

use crate::error::RunnerError;
use pdmrl_envs::Registry;
use rand::SeedableRng;

/// Episodes of uniformly random actions averaged for [`EnvReference::random_play`].
pub const RANDOM_PLAY_EPISODES: u64 = 100;

/// Steps after which a random-play episode is cut (an env without a time limit whose
/// random play never ends).
pub const RANDOM_PLAY_MAX_STEPS: usize = 100_000;

/// The reference returns of one env.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvReference {
    /// Mean undiscounted return of [`RANDOM_PLAY_EPISODES`] episodes of uniformly random
    /// actions (Gymnasium's `action_space.sample()`), the env reset with seeds
    /// `0..RANDOM_PLAY_EPISODES` and the actions drawn from a ChaCha8 stream seeded with
    /// 0: deterministic, the same in every table.
    pub random_play: f64,
    /// Gymnasium's `reward_threshold` of the id ([`solved_threshold`]), if it has one.
    pub solved: Option<f64>,
}

/// The return at which Gymnasium 1.x counts a task solved (`EnvSpec.reward_threshold` in
/// `gymnasium/envs/__init__.py`): CartPole-v1 475, Acrobot-v1 -100, MountainCar-v0 -110,
/// MountainCarContinuous-v0 90; `None` for every other id (Pendulum-v1 and the MinAtar
/// games have none).
pub fn solved_threshold(env_id: &str) -> Option<f64> {
    match env_id {
        "CartPole-v1" => Some(475.0),
        "Acrobot-v1" => Some(-100.0),
        "MountainCar-v0" => Some(-110.0),
        "MountainCarContinuous-v0" => Some(90.0),
        _ => None,
    }
}

/// The reference returns of `env_id` (random play is simulated here: about a second for
/// the slowest built-in env).
///
/// # Errors
/// The env cannot be made, or fails while stepping.
pub fn env_reference(registry: &Registry, env_id: &str) -> Result<EnvReference, RunnerError> {
    let mut env = registry.make(env_id)?;
    let space = env.action_space();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut total = 0.0;
    for seed in 0..RANDOM_PLAY_EPISODES {
        env.reset(Some(seed));
        for _ in 0..RANDOM_PLAY_MAX_STEPS {
            let step = env.step(&space.sample(&mut rng))?;
            total += step.reward;
            if step.terminated || step.truncated {
                break;
            }
        }
    }
    Ok(EnvReference {
        random_play: total / RANDOM_PLAY_EPISODES as f64,
        solved: solved_threshold(env_id),
    })
}

/// References of several envs, each computed once.
#[derive(Debug, Default)]
pub struct References {
    known: Vec<(String, EnvReference)>,
}

impl References {
    /// The reference of `env_id`, computed on first use.
    ///
    /// # Errors
    /// As [`env_reference`].
    pub fn of(&mut self, registry: &Registry, env_id: &str) -> Result<EnvReference, RunnerError> {
        if let Some((_, r)) = self.known.iter().find(|(id, _)| id == env_id) {
            return Ok(*r);
        }
        let r = env_reference(registry, env_id)?;
        self.known.push((env_id.to_string(), r));
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random play on the classic-control envs lands where Gymnasium's random agents do
    /// (CartPole-v1 about 22, Acrobot-v1 near the -500 floor, Pendulum-v1 between -1500
    /// and -1000), is the same on every call, and the thresholds are Gymnasium's.
    #[test]
    fn random_play_and_thresholds() {
        let registry = Registry::with_builtins();
        let cartpole = env_reference(&registry, "CartPole-v1").unwrap();
        assert!((15.0..30.0).contains(&cartpole.random_play), "{cartpole:?}");
        assert_eq!(cartpole.solved, Some(475.0));
        assert_eq!(env_reference(&registry, "CartPole-v1").unwrap(), cartpole);
        let acrobot = env_reference(&registry, "Acrobot-v1").unwrap();
        assert!(
            (-500.0..-450.0).contains(&acrobot.random_play),
            "{acrobot:?}"
        );
        let pendulum = env_reference(&registry, "Pendulum-v1").unwrap();
        assert!(
            (-1500.0..-1000.0).contains(&pendulum.random_play),
            "{pendulum:?}"
        );
        assert_eq!(pendulum.solved, None);
        let mut cache = References::default();
        assert_eq!(cache.of(&registry, "CartPole-v1").unwrap(), cartpole);
        assert!(cache.of(&registry, "NoSuchEnv-v0").is_err());
    }
}
