//! `check_env`: every registered env passes it, and each of its checks fails on an env with
//! the corresponding flaw.

use ndarray::Array1;
use pdmrl_envs::Wrapper;
use pdmrl_envs::checker::{Check, check_env, check_env_with_steps};
use pdmrl_envs::wrappers::{EpisodeStatistics, NormalizeObservation, NormalizeReward};
use pdmrl_envs::{Action, Env, EnvError, EnvRng, Info, Registry, Space, Step};
use rand::{Rng, SeedableRng};

#[test]
fn every_registered_env_passes() {
    let registry = Registry::with_builtins();
    let ids = registry.ids();
    assert!(ids.contains(&"CartPole-v1".to_string()));
    for id in ids {
        for seed in [0, 12345] {
            let mut env = registry.make(&id).unwrap();
            // Freeway's episodes last 2501 steps.
            let report = if id.starts_with("MinAtar/Freeway-") {
                check_env_with_steps(&mut *env, seed, 3000)
            } else {
                check_env(&mut *env, seed)
            }
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(report.id, id);
            assert_eq!(report.seed, seed);
            assert!(report.episodes_ended >= 1, "{report:?}");
            assert_eq!(
                report.episodes_ended,
                report.terminated + report.truncated,
                "{report:?}"
            );
            assert!(report.passed.contains(&Check::Determinism), "{report:?}");
            assert!(report.passed.contains(&Check::StepAfterDone), "{report:?}");
            assert!(report.passed.contains(&Check::InvalidAction), "{report:?}");
            // Every built-in env draws its initial state from its seeded RNG, except the
            // MinAtar games whose reset draws nothing (the package's rules): for them the
            // check is skipped, and only it.
            let fixed_start = ["Asterix", "Seaquest", "SpaceInvaders"]
                .iter()
                .any(|g| id.starts_with(&format!("MinAtar/{g}-")));
            if fixed_start {
                assert_eq!(report.skipped.len(), 1, "{report:?}");
                assert_eq!(report.skipped[0].0, Check::UnseededReset, "{report:?}");
                assert_eq!(report.passed.len(), Check::ALL.len() - 1, "{report:?}");
            } else {
                assert!(report.passed.contains(&Check::UnseededReset), "{report:?}");
                assert!(report.skipped.is_empty(), "{report:?}");
                assert_eq!(report.passed.len(), Check::ALL.len(), "{report:?}");
            }
            if seed == 0 {
                println!(
                    "{id}: {} episodes in {} steps ({} terminated, {} truncated), rewards in \
                     [{}, {}]",
                    report.episodes_ended,
                    report.steps,
                    report.terminated,
                    report.truncated,
                    report.reward_range.0,
                    report.reward_range.1
                );
            }
        }
    }
}

#[test]
fn wrapped_registry_envs_pass_when_deterministic() {
    let registry = Registry::with_builtins();
    for id in registry.ids() {
        let mut env = EpisodeStatistics::new(registry.make(&id).unwrap());
        check_env(&mut env, 1).unwrap_or_else(|e| panic!("{e}"));

        // Normalisers with frozen statistics are deterministic.
        let mut env = NormalizeReward::new(NormalizeObservation::new(registry.make(&id).unwrap()));
        env.set_update_running_stats(false);
        env.inner_mut().set_update_running_stats(false);
        check_env(&mut env, 1).unwrap_or_else(|e| panic!("{e}"));

        // Updating statistics make two seeded passes differ: reported, as documented.
        let mut env = NormalizeObservation::new(registry.make(&id).unwrap());
        let err = check_env(&mut env, 1).unwrap_err();
        assert_eq!(err.check, Check::Determinism, "{err}");
    }
}

/// What is wrong with a [`Walk`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaw {
    None,
    /// `low > high` in the observation space.
    BadSpace,
    /// The observation has 3 components at step 3.
    WrongObservationLength,
    /// A NaN observation component at step 4.
    NanObservation,
    /// The second component leaves its `[0, 1]` bound at step 3.
    OutOfBounds,
    /// A NaN reward at step 5.
    NanReward,
    /// The reset draws from a hidden counter that seeding does not reset.
    NondeterministicReset,
    /// `reset(None)` reseeds with the last seed.
    ReseedWithLastSeed,
    /// `reset(None)` reseeds with 0.
    ReseedWithZero,
    /// Stepping after the episode ended continues.
    StepAfterDoneAllowed,
    /// Invalid actions are clamped into the space instead of rejected.
    AcceptsInvalidAction,
    /// An invalid action is rejected but ends the episode.
    InvalidActionEndsEpisode,
    /// The valid action 1 is rejected at step 7.
    RejectsValidAction,
    /// The episode never ends.
    NeverEnds,
    /// The reset ignores the seed: always starts at 0.
    FixedStart,
}

/// A random walk on `[-1, 1]`: observation `[x, t / 50]`, action 0/1 (or a continuous
/// `[-1, 1]` action) moves `x` by `∓0.1`; terminates at `|x| >= 0.9`, truncates after 50
/// steps; reward `-|x|`.
struct Walk {
    flaw: Flaw,
    continuous: bool,
    x: f32,
    t: usize,
    rng: EnvRng,
    last_seed: u64,
    hidden_resets: u64,
    running: bool,
}

impl Walk {
    fn new(flaw: Flaw) -> Self {
        Walk {
            flaw,
            continuous: false,
            x: 0.0,
            t: 0,
            rng: EnvRng::seed_from_u64(0),
            last_seed: 0,
            hidden_resets: 0,
            running: false,
        }
    }

    fn continuous(flaw: Flaw) -> Self {
        Walk {
            continuous: true,
            ..Self::new(flaw)
        }
    }

    fn observation(&self) -> Array1<f32> {
        Array1::from(vec![self.x, self.t as f32 / 50.0])
    }
}

impl Env for Walk {
    fn id(&self) -> &str {
        "Walk-v0"
    }
    fn observation_space(&self) -> Space {
        if self.flaw == Flaw::BadSpace {
            return Space::box1(vec![1.0, 0.0], vec![-1.0, 1.0]);
        }
        Space::box1(vec![-1.0, 0.0], vec![1.0, 1.0])
    }
    fn action_space(&self) -> Space {
        if self.continuous {
            Space::box1(vec![-1.0], vec![1.0])
        } else {
            Space::Discrete { n: 2 }
        }
    }
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        match (seed, self.flaw) {
            (Some(s), _) => {
                self.rng = EnvRng::seed_from_u64(s);
                self.last_seed = s;
            }
            (None, Flaw::ReseedWithLastSeed) => self.rng = EnvRng::seed_from_u64(self.last_seed),
            (None, Flaw::ReseedWithZero) => self.rng = EnvRng::seed_from_u64(0),
            (None, _) => {}
        }
        self.x = self.rng.random_range(-0.5..0.5);
        if self.flaw == Flaw::NondeterministicReset {
            self.x += 1e-4 * self.hidden_resets as f32;
        }
        if self.flaw == Flaw::FixedStart {
            self.x = 0.0;
        }
        self.hidden_resets += 1;
        self.t = 0;
        self.running = true;
        (self.observation(), Info::new())
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let dx = match (action, self.continuous) {
            (Action::Discrete(a @ (0 | 1)), false) => {
                if self.flaw == Flaw::RejectsValidAction && *a == 1 && self.t == 7 {
                    return Err(EnvError::invalid_action(action, self.action_space()));
                }
                if *a == 1 { 0.1 } else { -0.1 }
            }
            (Action::Continuous(v), true) if self.action_space().contains(action) => 0.1 * v[0],
            _ => match self.flaw {
                Flaw::AcceptsInvalidAction => 0.0,
                Flaw::InvalidActionEndsEpisode => {
                    self.running = false;
                    return Err(EnvError::invalid_action(action, self.action_space()));
                }
                _ => return Err(EnvError::invalid_action(action, self.action_space())),
            },
        };
        if !self.running && self.flaw != Flaw::StepAfterDoneAllowed {
            return Err(EnvError::StepAfterDone {
                id: self.id().to_string(),
            });
        }
        self.t += 1;
        self.x = (self.x + dx).clamp(-1.0, 1.0);
        let terminated = self.x.abs() >= 0.9 && self.flaw != Flaw::NeverEnds;
        let truncated = self.t >= 50 && self.flaw != Flaw::NeverEnds;
        self.running = !(terminated || truncated);
        let mut observation = self.observation();
        if self.flaw == Flaw::NeverEnds {
            observation[1] = observation[1].min(1.0);
        }
        let mut reward = -f64::from(self.x.abs());
        match (self.flaw, self.t) {
            (Flaw::WrongObservationLength, 3) => observation = Array1::zeros(3),
            (Flaw::NanObservation, 4) => observation[0] = f32::NAN,
            (Flaw::OutOfBounds, 3) => observation[1] = 2.0,
            (Flaw::NanReward, 5) => reward = f64::NAN,
            _ => {}
        }
        Ok(Step {
            observation,
            reward,
            terminated,
            truncated,
            info: Info::new(),
        })
    }
}

#[test]
fn a_correct_custom_env_passes() {
    for mut env in [Walk::new(Flaw::None), Walk::continuous(Flaw::None)] {
        let report = check_env(&mut env, 7).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.passed.len(), Check::ALL.len(), "{report:?}");
        assert!(report.terminated > 0 && report.truncated > 0, "{report:?}");
        assert!(report.reward_range.0 >= -1.0 && report.reward_range.1 <= 0.0);
    }
}

#[test]
fn checks_that_cannot_run_are_reported_as_skipped() {
    let report = check_env(&mut Walk::new(Flaw::NeverEnds), 3).unwrap();
    assert_eq!(report.episodes_ended, 0);
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert_eq!(report.skipped[0].0, Check::StepAfterDone);
    assert!(
        report.skipped[0]
            .1
            .contains("no episode ended within 1000 steps")
    );
    assert!(!report.passed.contains(&Check::StepAfterDone));

    // A seed-independent start is legitimate; the unseeded-reset check cannot tell.
    let report = check_env_with_steps(&mut Walk::new(Flaw::FixedStart), 3, 200).unwrap();
    assert_eq!(report.steps, 200);
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert_eq!(report.skipped[0].0, Check::UnseededReset);
    assert!(report.skipped[0].1.contains("does not depend on the seed"));
}

#[test]
fn each_flaw_fails_its_check() {
    let cases = [
        (
            Walk::new(Flaw::BadSpace),
            Check::Spaces,
            "component 0 has bounds [1, -1]",
        ),
        (
            Walk::new(Flaw::WrongObservationLength),
            Check::ObservationShape,
            "step 2: observation of length 3",
        ),
        (
            Walk::new(Flaw::NanObservation),
            Check::FiniteObservation,
            "component 0 is NaN",
        ),
        (
            Walk::new(Flaw::OutOfBounds),
            Check::ObservationBounds,
            "is outside the observation space",
        ),
        (
            Walk::new(Flaw::NanReward),
            Check::FiniteReward,
            "step 4: reward NaN",
        ),
        (
            Walk::new(Flaw::NondeterministicReset),
            Check::Determinism,
            "differ at event 0",
        ),
        (
            Walk::new(Flaw::ReseedWithLastSeed),
            Check::UnseededReset,
            "reseed with the last seed",
        ),
        (
            Walk::new(Flaw::ReseedWithZero),
            Check::UnseededReset,
            "reseed with a fixed seed",
        ),
        (
            Walk::new(Flaw::StepAfterDoneAllowed),
            Check::StepAfterDone,
            "it succeeded",
        ),
        (
            Walk::new(Flaw::AcceptsInvalidAction),
            Check::InvalidAction,
            "the action 2 outside Discrete(2) was accepted",
        ),
        (
            Walk::continuous(Flaw::AcceptsInvalidAction),
            Check::InvalidAction,
            "the action [NaN] outside Box(-1, 1, [1], float32) was accepted",
        ),
        (
            Walk::new(Flaw::InvalidActionEndsEpisode),
            Check::InvalidAction,
            "after rejected invalid actions, the valid action",
        ),
        (
            Walk::new(Flaw::RejectsValidAction),
            Check::ValidStep,
            "the valid action 1 was rejected",
        ),
    ];
    for (mut env, check, detail) in cases {
        let flaw = env.flaw;
        let err = check_env(&mut env, 11).unwrap_err();
        assert_eq!(err.check, check, "{flaw:?}: {err}");
        assert_eq!(err.id, "Walk-v0");
        assert!(err.detail.contains(detail), "{flaw:?}: {err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "check_env: `Walk-v0` fails the check \"{check}\": "
            )),
            "{text}"
        );
    }
}

#[test]
fn determinism_is_checked_even_with_short_passes() {
    // 10 steps: no episode ends, the passes differ at their first reset.
    let err = check_env_with_steps(&mut Walk::new(Flaw::NondeterministicReset), 5, 10).unwrap_err();
    assert_eq!(err.check, Check::Determinism);
    assert!(
        err.detail.starts_with("two passes with the same seed"),
        "{err}"
    );
}
