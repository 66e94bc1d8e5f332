//! N copies of an environment stepped together: Gymnasium's `SyncVectorEnv`
//! (`gymnasium/vector/sync_vector_env.py`) in its same-step auto-reset mode.

use crate::env::{Env, Info};
use crate::error::EnvError;
use crate::registry::Registry;
use crate::space::{Action, Space};
use ndarray::{Array1, Array2};
use std::fmt;

/// What [`SyncVectorEnv::step`] returns: one entry (or row) per copy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VectorStep {
    /// Observations, `[num_envs, obs_dim]`. Row `i` is the observation after the step, except
    /// for a copy whose episode ended at this step: then it is the first observation of its
    /// next episode (the copy was auto-reset), and the last observation of the ended episode
    /// is in `final_observations[i]`.
    pub observations: Array2<f32>,
    /// Rewards, `[num_envs]`: the reward of this step (for an ended copy, the reward of its
    /// last step).
    pub rewards: Vec<f64>,
    /// Terminated flags, `[num_envs]`: the copy reached a terminal state at this step.
    pub terminated: Vec<bool>,
    /// Truncated flags, `[num_envs]`: the copy's episode was cut at this step (time limit).
    /// Both flags may be set; then `terminated` wins (no bootstrapping).
    pub truncated: Vec<bool>,
    /// `[num_envs]`: `Some(last observation of the ended episode)`, `[obs_dim]`, for each copy
    /// with `terminated || truncated` at this step, `None` for the others. A truncated
    /// episode bootstraps from the value of this observation (Gymnasium's
    /// `info["final_obs"]`, formerly `info["final_observation"]`).
    pub final_observations: Vec<Option<Array1<f32>>>,
    /// `[num_envs]`: the info of each copy's step; for an ended copy, the info of its last
    /// step (where `EpisodeStatistics` puts `episode_return` and `episode_length`;
    /// Gymnasium's `final_info`), not that of the reset.
    pub infos: Vec<Info>,
}

/// `num_envs` copies of an env, stepped one after the other in the calling thread
/// (Gymnasium's `SyncVectorEnv`).
///
/// **Auto-reset mode: same step** (Gymnasium 0.29's behaviour, `AutoresetMode.SAME_STEP` in
/// Gymnasium >= 1.1; Gymnasium 1.x defaults to `NEXT_STEP`). When a copy's episode ends
/// (`terminated || truncated`) during [`SyncVectorEnv::step`], that copy is reset in the
/// same call with `reset(None)` (continuing its RNG): the step returns its reward and flags,
/// the new episode's first observation in `observations`, and the ended episode's last
/// observation in `final_observations`. Every call to `step` therefore advances every copy,
/// and no action is ever spent on a reset.
///
/// Seeding follows Gymnasium's vector envs: `reset(Some(seed))` resets copy `i` with
/// `seed + i` (wrapping on overflow); `reset(None)` continues each copy's RNG.
pub struct SyncVectorEnv {
    /// The copies.
    envs: Vec<Box<dyn Env>>,
    /// The common observation space of one copy.
    observation_space: Space,
    /// The common action space of one copy.
    action_space: Space,
    /// `observation_space.flat_dim()`.
    obs_dim: usize,
    /// Whether the next `step` must be preceded by a `reset` (before the first reset, or
    /// after a copy failed mid-step).
    needs_reset: bool,
    /// Whether `reset` was ever called.
    ever_reset: bool,
    /// Buffers for `VectorStep::final_observations`, lent to a step and taken back by the
    /// next [`SyncVectorEnv::step_into`] on the same `VectorStep`.
    spare: Vec<Array1<f32>>,
}

impl fmt::Debug for SyncVectorEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncVectorEnv")
            .field("id", &self.envs.first().map(|e| e.id()))
            .field("num_envs", &self.envs.len())
            .field("observation_space", &self.observation_space)
            .field("action_space", &self.action_space)
            .finish()
    }
}

impl SyncVectorEnv {
    /// A vector env over `envs` (which it resets itself: call [`SyncVectorEnv::reset`]
    /// before the first step).
    ///
    /// # Errors
    /// [`EnvError::InvalidVectorEnv`] if `envs` is empty or the copies' observation or
    /// action spaces differ.
    pub fn new(envs: Vec<Box<dyn Env>>) -> Result<Self, EnvError> {
        let Some(first) = envs.first() else {
            return Err(EnvError::InvalidVectorEnv {
                reason: "a vector env needs at least one copy (num_envs >= 1)".to_string(),
            });
        };
        let observation_space = first.observation_space();
        let action_space = first.action_space();
        for (i, env) in envs.iter().enumerate().skip(1) {
            let (obs, act) = (env.observation_space(), env.action_space());
            if obs != observation_space {
                return Err(EnvError::InvalidVectorEnv {
                    reason: format!(
                        "copy {i} (`{}`) has observation space {obs}, copy 0 (`{}`) has \
                         {observation_space}",
                        env.id(),
                        first.id()
                    ),
                });
            }
            if act != action_space {
                return Err(EnvError::InvalidVectorEnv {
                    reason: format!(
                        "copy {i} (`{}`) has action space {act}, copy 0 (`{}`) has \
                         {action_space}",
                        env.id(),
                        first.id()
                    ),
                });
            }
        }
        Ok(SyncVectorEnv {
            obs_dim: observation_space.flat_dim(),
            observation_space,
            action_space,
            envs,
            needs_reset: true,
            ever_reset: false,
            spare: Vec::new(),
        })
    }

    /// `num_envs` copies of `registry.make(id)` (each with the spec's time limit).
    ///
    /// # Errors
    /// [`EnvError::InvalidVectorEnv`] if `num_envs == 0`; any error of
    /// [`Registry::make`] (e.g. [`EnvError::UnknownId`]).
    pub fn from_registry(registry: &Registry, id: &str, num_envs: usize) -> Result<Self, EnvError> {
        if num_envs == 0 {
            return Err(EnvError::InvalidVectorEnv {
                reason: format!("num_envs must be at least 1 for `{id}`"),
            });
        }
        let envs = (0..num_envs)
            .map(|_| registry.make(id))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(envs)
    }

    /// Number of copies.
    pub fn num_envs(&self) -> usize {
        self.envs.len()
    }

    /// The observation space of one copy (Gymnasium's `single_observation_space`).
    pub fn single_observation_space(&self) -> &Space {
        &self.observation_space
    }

    /// The action space of one copy (Gymnasium's `single_action_space`).
    pub fn single_action_space(&self) -> &Space {
        &self.action_space
    }

    /// Length of one flattened observation, `single_observation_space().flat_dim()`.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// The copies, e.g. to read their [`Env::state`].
    pub fn envs(&self) -> &[Box<dyn Env>] {
        &self.envs
    }

    /// Resets every copy and returns the first observations, `[num_envs, obs_dim]`.
    ///
    /// `Some(seed)`: copy `i` is reset with `seed + i` (wrapping), as Gymnasium's vector
    /// envs do. `None`: each copy continues its RNG — except on the very first reset of
    /// this vector env, which is done as `reset(Some(0))` so that never-seeded copies do not
    /// all start from the same seed-0 state (a never-seeded vector env behaves as seed 0,
    /// as a never-seeded single env does).
    ///
    /// # Panics
    /// If a copy returns an observation whose length is not `obs_dim()` (a broken [`Env`]
    /// implementation, not a user input).
    pub fn reset(&mut self, seed: Option<u64>) -> Array2<f32> {
        let seed = match (seed, self.ever_reset) {
            (None, false) => Some(0),
            (seed, _) => seed,
        };
        let mut observations = Array2::zeros((self.envs.len(), self.obs_dim));
        for (i, (env, mut row)) in self
            .envs
            .iter_mut()
            .zip(observations.rows_mut())
            .enumerate()
        {
            let (obs, _info) = env.reset(seed.map(|s| s.wrapping_add(i as u64)));
            assert_eq!(
                obs.len(),
                self.obs_dim,
                "copy {i} (`{}`) returned an observation of length {} from reset, but its \
                 observation space has flat_dim {}",
                env.id(),
                obs.len(),
                self.obs_dim
            );
            row.assign(&obs);
        }
        self.ever_reset = true;
        self.needs_reset = false;
        observations
    }

    /// Steps copy `i` with `actions[i]`, auto-resetting copies whose episode ended (see the
    /// type's docs for the same-step mode).
    ///
    /// All actions are checked against [`SyncVectorEnv::single_action_space`] before any
    /// copy is stepped, so an invalid action changes nothing.
    ///
    /// # Errors
    /// [`EnvError::ActionCount`] if `actions.len() != num_envs()`;
    /// [`EnvError::InvalidAction`] for an action outside the action space;
    /// [`EnvError::StepAfterDone`] before the first [`SyncVectorEnv::reset`]. If a copy
    /// itself fails mid-step (its own error, or [`EnvError::InvalidVectorEnv`] for an
    /// observation of the wrong length), the copies before it have been stepped: the error
    /// is returned and the vector env must be reset before the next step.
    pub fn step(&mut self, actions: &[Action]) -> Result<VectorStep, EnvError> {
        let mut out = VectorStep::default();
        self.step_into(actions, &mut out)?;
        Ok(out)
    }

    /// [`SyncVectorEnv::step`] into `out`, reusing its buffers: once `out` has held a
    /// step of this vector env, stepping copies whose [`Env::step_into`] and
    /// [`Env::reset_into`] do not allocate (the built-in discrete classic-control envs)
    /// allocates nothing. The final-observation buffers of the previous step held in `out`
    /// are taken back for reuse. Same results, bit for bit, as `step`.
    ///
    /// # Errors
    /// As [`SyncVectorEnv::step`]; `out` holds no valid step then.
    pub fn step_into(&mut self, actions: &[Action], out: &mut VectorStep) -> Result<(), EnvError> {
        let n = self.envs.len();
        if actions.len() != n {
            return Err(EnvError::ActionCount {
                expected: n,
                got: actions.len(),
            });
        }
        if self.needs_reset {
            return Err(EnvError::StepAfterDone {
                id: self.envs[0].id().to_string(),
            });
        }
        let space = &self.action_space;
        if let Some(bad) = actions.iter().find(|a| !space.contains(a)) {
            return Err(EnvError::invalid_action(bad, space.clone()));
        }
        let result = self.step_copies(actions, out);
        if result.is_err() {
            self.needs_reset = true;
        }
        result
    }

    /// The loop of `step_into`, after the checks.
    fn step_copies(&mut self, actions: &[Action], out: &mut VectorStep) -> Result<(), EnvError> {
        let (n, obs_dim) = (self.envs.len(), self.obs_dim);
        if out.observations.dim() != (n, obs_dim) || !out.observations.is_standard_layout() {
            out.observations = Array2::zeros((n, obs_dim));
        }
        for slot in &mut out.final_observations {
            if let Some(buffer) = slot.take()
                && buffer.len() == obs_dim
                && buffer.is_standard_layout()
            {
                self.spare.push(buffer);
            }
        }
        while self.spare.len() < n {
            self.spare.push(Array1::zeros(obs_dim));
        }
        out.rewards.clear();
        out.terminated.clear();
        out.truncated.clear();
        out.final_observations.clear();
        out.infos.clear();
        let rows = out.observations.rows_mut();
        for (i, ((env, action), mut row)) in self.envs.iter_mut().zip(actions).zip(rows).enumerate()
        {
            let row = row
                .as_slice_mut()
                .expect("rows of a standard-layout array are contiguous");
            let step = env
                .step_into(action, row)
                .map_err(|e| length_error(&**env, i, e))?;
            let final_observation = if step.terminated || step.truncated {
                let mut last = self.spare.pop().expect("one spare buffer per copy");
                last.as_slice_mut()
                    .expect("spare buffers are contiguous (checked when taken back)")
                    .copy_from_slice(row);
                env.reset_into(None, row)
                    .map_err(|e| length_error(&**env, i, e))?;
                Some(last)
            } else {
                None
            };
            out.rewards.push(step.reward);
            out.terminated.push(step.terminated);
            out.truncated.push(step.truncated);
            out.final_observations.push(final_observation);
            out.infos.push(step.info);
        }
        Ok(())
    }
}

/// A copy's [`EnvError::ObservationLength`] as the vector env reports it (naming the
/// copy and its observation space); other errors unchanged.
fn length_error(env: &dyn Env, i: usize, e: EnvError) -> EnvError {
    match e {
        EnvError::ObservationLength {
            what,
            got,
            expected,
            ..
        } => check_len(env, i, what, got, expected)
            .expect_err("lengths differ in an ObservationLength error"),
        other => other,
    }
}

/// [`EnvError::InvalidVectorEnv`] unless a copy's observation has the expected length.
fn check_len(
    env: &dyn Env,
    i: usize,
    what: &str,
    got: usize,
    expected: usize,
) -> Result<(), EnvError> {
    if got == expected {
        Ok(())
    } else {
        Err(EnvError::InvalidVectorEnv {
            reason: format!(
                "copy {i} (`{}`) returned an observation of length {got} from {what}, but its \
                 observation space has flat_dim {expected}",
                env.id()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cartpole::CartPole;
    use crate::env::{Info, Step};
    use ndarray::array;

    fn cartpoles(n: usize) -> SyncVectorEnv {
        SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v1", n).unwrap()
    }

    #[test]
    fn shapes_and_spaces() {
        let mut v = cartpoles(3);
        assert_eq!(v.num_envs(), 3);
        assert_eq!(v.obs_dim(), 4);
        assert_eq!(v.single_action_space(), &Space::Discrete { n: 2 });
        assert_eq!(
            v.single_observation_space(),
            &CartPole::new().observation_space()
        );
        let obs = v.reset(Some(1));
        assert_eq!(obs.dim(), (3, 4));
        let s = v
            .step(&[
                Action::Discrete(0),
                Action::Discrete(1),
                Action::Discrete(0),
            ])
            .unwrap();
        assert_eq!(s.observations.dim(), (3, 4));
        assert_eq!(s.rewards, vec![1.0; 3]);
        assert_eq!(s.terminated, vec![false; 3]);
        assert_eq!(s.truncated, vec![false; 3]);
        assert_eq!(s.final_observations, vec![None, None, None]);
        assert!(format!("{v:?}").contains("CartPole-v1"));
    }

    #[test]
    fn construction_errors() {
        assert!(matches!(
            SyncVectorEnv::new(Vec::new()),
            Err(EnvError::InvalidVectorEnv { .. })
        ));
        assert!(matches!(
            SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v1", 0),
            Err(EnvError::InvalidVectorEnv { .. })
        ));
        assert!(matches!(
            SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v9", 2),
            Err(EnvError::UnknownId { .. })
        ));
    }

    /// An env with a configurable action space and a one-dimensional observation.
    struct Shaped {
        n_actions: usize,
        obs_len: usize,
    }

    impl Env for Shaped {
        fn id(&self) -> &str {
            "Shaped-v0"
        }
        fn observation_space(&self) -> Space {
            Space::box1(vec![0.0], vec![1.0])
        }
        fn action_space(&self) -> Space {
            Space::Discrete { n: self.n_actions }
        }
        fn reset(&mut self, _seed: Option<u64>) -> (Array1<f32>, Info) {
            (Array1::zeros(1), Info::new())
        }
        fn step(&mut self, _action: &Action) -> Result<Step, EnvError> {
            Ok(Step {
                observation: Array1::zeros(self.obs_len),
                reward: 0.0,
                terminated: false,
                truncated: false,
                info: Info::new(),
            })
        }
    }

    #[test]
    fn mismatched_spaces_are_rejected() {
        let envs: Vec<Box<dyn Env>> = vec![
            Box::new(Shaped {
                n_actions: 2,
                obs_len: 1,
            }),
            Box::new(Shaped {
                n_actions: 3,
                obs_len: 1,
            }),
        ];
        let err = SyncVectorEnv::new(envs).unwrap_err();
        assert!(err.to_string().contains("copy 1"), "{err}");
        assert!(err.to_string().contains("Discrete(3)"), "{err}");

        let envs: Vec<Box<dyn Env>> = vec![
            Box::new(Shaped {
                n_actions: 2,
                obs_len: 1,
            }),
            Box::new(CartPole::new()),
        ];
        let err = SyncVectorEnv::new(envs).unwrap_err();
        assert!(err.to_string().contains("observation space"), "{err}");
    }

    #[test]
    fn wrong_observation_length_is_an_error_not_a_panic() {
        let envs: Vec<Box<dyn Env>> = vec![
            Box::new(Shaped {
                n_actions: 2,
                obs_len: 1,
            }),
            Box::new(Shaped {
                n_actions: 2,
                obs_len: 3,
            }),
        ];
        let mut v = SyncVectorEnv::new(envs).unwrap();
        v.reset(None);
        let err = v
            .step(&[Action::Discrete(0), Action::Discrete(0)])
            .unwrap_err();
        assert!(matches!(err, EnvError::InvalidVectorEnv { .. }), "{err}");
        // The vector env is now inconsistent and must be reset.
        assert!(matches!(
            v.step(&[Action::Discrete(0), Action::Discrete(0)]),
            Err(EnvError::StepAfterDone { .. })
        ));
    }

    #[test]
    fn action_errors_change_nothing() {
        let mut v = cartpoles(2);
        assert!(matches!(
            v.step(&[Action::Discrete(0), Action::Discrete(0)]),
            Err(EnvError::StepAfterDone { .. })
        ));
        v.reset(Some(3));
        let before: Vec<Vec<f64>> = v.envs().iter().map(|e| e.state().unwrap()).collect();
        assert!(matches!(
            v.step(&[Action::Discrete(0)]),
            Err(EnvError::ActionCount {
                expected: 2,
                got: 1
            })
        ));
        assert!(matches!(
            v.step(&[
                Action::Discrete(0),
                Action::Discrete(0),
                Action::Discrete(0)
            ]),
            Err(EnvError::ActionCount {
                expected: 2,
                got: 3
            })
        ));
        // Copy 0's action is valid, copy 1's is not: copy 0 must not have been stepped.
        assert!(matches!(
            v.step(&[Action::Discrete(1), Action::Discrete(2)]),
            Err(EnvError::InvalidAction { .. })
        ));
        assert!(matches!(
            v.step(&[Action::Discrete(1), Action::Continuous(array![1.0])]),
            Err(EnvError::InvalidAction { .. })
        ));
        let after: Vec<Vec<f64>> = v.envs().iter().map(|e| e.state().unwrap()).collect();
        assert_eq!(before, after);
        assert!(v.step(&[Action::Discrete(1), Action::Discrete(0)]).is_ok());
    }

    #[test]
    fn copy_i_is_seeded_with_seed_plus_i() {
        let mut v = cartpoles(3);
        let obs = v.reset(Some(10));
        for i in 0..3 {
            let mut single = CartPole::new();
            let (o, _) = single.reset(Some(10 + i as u64));
            assert_eq!(obs.row(i), o, "copy {i}");
        }
        assert_ne!(obs.row(0), obs.row(1));
        // reset(None) continues each copy's RNG.
        let again = v.reset(None);
        let mut single = CartPole::new();
        single.reset(Some(11));
        assert_eq!(again.row(1), single.reset(None).0);
        // Wrapping seeds do not panic.
        let wrapped = v.reset(Some(u64::MAX));
        assert_eq!(wrapped.row(1), CartPole::new().reset(Some(0)).0);
    }

    #[test]
    fn first_unseeded_reset_is_seed_zero() {
        let mut a = cartpoles(2);
        let mut b = cartpoles(2);
        let oa = a.reset(None);
        assert_eq!(oa, b.reset(Some(0)));
        assert_ne!(oa.row(0), oa.row(1), "copies must not start identically");
        // Later unseeded resets continue.
        assert_ne!(a.reset(None), oa);
    }

    #[test]
    fn auto_reset_matches_single_envs() {
        let registry = Registry::with_builtins();
        let n = 3;
        let mut v = SyncVectorEnv::from_registry(&registry, "CartPole-v1", n).unwrap();
        let mut singles: Vec<Box<dyn Env>> = (0..n)
            .map(|_| registry.make("CartPole-v1").unwrap())
            .collect();
        let mut obs = v.reset(Some(100));
        for (i, s) in singles.iter_mut().enumerate() {
            assert_eq!(obs.row(i), s.reset(Some(100 + i as u64)).0);
        }
        let mut episodes_ended = vec![0; n];
        // Constant pushes (a different direction per copy) end episodes within a few dozen
        // steps, so 200 vector steps see several auto-resets per copy.
        for t in 0..200 {
            let actions: Vec<Action> = (0..n).map(|i| Action::Discrete((i + t / 50) % 2)).collect();
            let out = v.step(&actions).unwrap();
            for (i, single) in singles.iter_mut().enumerate() {
                let s = single.step(&actions[i]).unwrap();
                assert_eq!(out.rewards[i], s.reward);
                assert_eq!(out.terminated[i], s.terminated);
                assert_eq!(out.truncated[i], s.truncated);
                if s.terminated || s.truncated {
                    episodes_ended[i] += 1;
                    assert_eq!(out.final_observations[i].as_ref(), Some(&s.observation));
                    let (fresh, _) = single.reset(None);
                    assert_eq!(out.observations.row(i), fresh);
                    assert!(fresh.iter().all(|x| x.abs() < 0.05), "a fresh reset state");
                    assert_ne!(fresh, s.observation);
                } else {
                    assert_eq!(out.final_observations[i], None);
                    assert_eq!(out.observations.row(i), s.observation);
                }
            }
            obs = out.observations;
        }
        assert!(episodes_ended.iter().all(|&e| e >= 3), "{episodes_ended:?}");
        assert_eq!(obs.dim(), (n, 4));
    }
}
