//! An environment checker: Gymnasium 1.4.0's `gymnasium.utils.env_checker.check_env`
//! (`gymnasium/utils/env_checker.py`), adapted to this crate's [`Env`] contract.
//!
//! ```
//! use pdmrl_envs::{Registry, checker::check_env_with_steps};
//!
//! let registry = Registry::with_builtins();
//! for id in registry.ids() {
//!     let mut env = registry.make(&id)?;
//!     // 3000 steps: MinAtar Freeway's episodes last 2501 steps.
//!     let report = check_env_with_steps(&mut *env, 0, 3000).map_err(|e| e.to_string()).unwrap();
//!     assert!(report.episodes_ended >= 1, "{report:?}");
//! }
//! # Ok::<(), pdmrl_envs::EnvError>(())
//! ```

use crate::env::{Env, EnvRng};
use crate::error::EnvError;
use crate::space::{Action, Space};
use ndarray::Array1;
use rand::SeedableRng;
use std::fmt;

/// Steps per rollout pass of [`check_env`]: enough for every built-in classic-control env
/// to end at least one episode under random actions (their time limits are at most 500
/// steps) and for the MinAtar games except Freeway, whose episodes last 2501 steps (use
/// [`check_env_with_steps`] with 3000 for it).
pub const DEFAULT_CHECK_STEPS: usize = 1000;

/// Consecutive `reset(None)` calls compared by the [`Check::UnseededReset`] check.
const UNSEEDED_RESETS: usize = 16;

/// Seeds (offsets from the check's seed) whose first observations decide whether the env's
/// reset depends on the seed at all.
const SEED_PROBES: u64 = 4;

/// A property that [`check_env`] verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// The spaces are well formed (`Box`: `low`, `high` of length `prod(shape)`, no NaN
    /// bound, `low <= high`; `Discrete`: `n >= 1`) and sampled actions belong to the action
    /// space.
    Spaces,
    /// Every observation has length `observation_space().flat_dim()`.
    ObservationShape,
    /// Every observation has only finite components.
    FiniteObservation,
    /// Every observation lies in the observation space (infinite bounds admit any finite
    /// value).
    ObservationBounds,
    /// Every reward is finite.
    FiniteReward,
    /// A valid action during a running episode is accepted.
    ValidStep,
    /// Two passes with the same seed and the same actions give bit-identical observations,
    /// rewards and flags (resets after episode ends are unseeded, so this also checks that
    /// `reset(Some(seed))` fully reseeds).
    Determinism,
    /// `reset(None)` continues the RNG instead of reseeding: checked only for envs whose
    /// first observation depends on the seed, by requiring that 16 consecutive unseeded
    /// resets after a seeded one do not all return the same observation.
    UnseededReset,
    /// `step` after `terminated` or `truncated`, without a reset, is
    /// [`EnvError::StepAfterDone`].
    StepAfterDone,
    /// Actions outside the action space are [`EnvError::InvalidAction`] and do not end the
    /// episode: for `Discrete(n)` the action `n` and a continuous action; for `Box` a NaN
    /// vector, a vector one component too long, and a discrete action.
    InvalidAction,
}

impl Check {
    /// Every check, in the order [`check_env`] runs them.
    pub const ALL: [Check; 10] = [
        Check::Spaces,
        Check::ObservationShape,
        Check::FiniteObservation,
        Check::ObservationBounds,
        Check::FiniteReward,
        Check::ValidStep,
        Check::Determinism,
        Check::UnseededReset,
        Check::StepAfterDone,
        Check::InvalidAction,
    ];
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Check::Spaces => "well-formed spaces",
            Check::ObservationShape => "observation shape",
            Check::FiniteObservation => "finite observations",
            Check::ObservationBounds => "observations within the observation space",
            Check::FiniteReward => "finite rewards",
            Check::ValidStep => "valid actions accepted",
            Check::Determinism => "determinism under a fixed seed",
            Check::UnseededReset => "reset(None) continues the RNG",
            Check::StepAfterDone => "step after the episode ended is StepAfterDone",
            Check::InvalidAction => "invalid actions rejected",
        };
        f.write_str(s)
    }
}

/// A failed check: which env, which property, what was observed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("check_env: `{id}` fails the check \"{check}\": {detail}")]
pub struct CheckError {
    /// The env's id.
    pub id: String,
    /// The property that does not hold.
    pub check: Check,
    /// What happened, with the step or reset where it happened.
    pub detail: String,
}

/// What [`check_env`] saw in a passing env.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The env's id.
    pub id: String,
    /// The seed the check used.
    pub seed: u64,
    /// Steps per rollout pass.
    pub steps: usize,
    /// Episodes that ended within one rollout pass.
    pub episodes_ended: usize,
    /// Of those, episodes that ended with `terminated` (possibly together with
    /// `truncated`).
    pub terminated: usize,
    /// Of those, episodes that ended with `truncated` only.
    pub truncated: usize,
    /// Smallest and largest reward seen.
    pub reward_range: (f64, f64),
    /// The checks that ran and passed.
    pub passed: Vec<Check>,
    /// The checks that could not run, with the reason (e.g. no episode ended, or the first
    /// observation does not depend on the seed).
    pub skipped: Vec<(Check, String)>,
}

/// Checks `env` against the [`Env`] contract with [`DEFAULT_CHECK_STEPS`] steps per pass
/// (Gymnasium's `check_env`, adapted); see [`check_env_with_steps`].
///
/// # Errors
/// The first [`CheckError`] found.
pub fn check_env(env: &mut dyn Env, seed: u64) -> Result<CheckReport, CheckError> {
    check_env_with_steps(env, seed, DEFAULT_CHECK_STEPS)
}

/// Checks `env` against the [`Env`] contract, running every [`Check`]:
///
/// 1. [`Check::Spaces`]: both spaces well formed; 100 actions sampled from the action space
///    with `EnvRng::seed_from_u64(seed)` belong to it.
/// 2. Two rollout passes of `steps` steps each: `reset(Some(seed))`, then actions sampled
///    from the action space (same action RNG seed in both passes), `reset(None)` after each
///    ended episode. Every observation is checked for shape, finiteness and bounds, every
///    reward for finiteness, every step for success ([`Check::ValidStep`]), and after each
///    ended episode one more step must be [`EnvError::StepAfterDone`]. The second pass must
///    repeat the first bit for bit ([`Check::Determinism`]).
/// 3. [`Check::UnseededReset`] (only if `reset(Some(s))` for a few seeds `s` does not always
///    give the same observation).
/// 4. [`Check::InvalidAction`] during a freshly seeded episode.
///
/// The env is left in the middle of an episode; reset it before further use. A wrapper that
/// changes with every step (a normaliser updating its statistics) is not deterministic
/// under this definition; freeze its statistics to check it.
///
/// # Errors
/// The first [`CheckError`] found, naming the env id, the [`Check`] and the step.
pub fn check_env_with_steps(
    env: &mut dyn Env,
    seed: u64,
    steps: usize,
) -> Result<CheckReport, CheckError> {
    let id = env.id().to_string();
    let fail = |check: Check, detail: String| CheckError {
        id: id.clone(),
        check,
        detail,
    };
    let observation_space = env.observation_space();
    let action_space = env.action_space();
    check_space(&observation_space)
        .map_err(|d| fail(Check::Spaces, format!("observation space {d}")))?;
    check_space(&action_space).map_err(|d| fail(Check::Spaces, format!("action space {d}")))?;
    let mut rng = EnvRng::seed_from_u64(seed);
    for _ in 0..100 {
        let a = action_space.sample(&mut rng);
        if !action_space.contains(&a) {
            return Err(fail(
                Check::Spaces,
                format!("the action {a} sampled from {action_space} is not in it"),
            ));
        }
    }

    let mut report = CheckReport {
        id: id.clone(),
        seed,
        steps,
        episodes_ended: 0,
        terminated: 0,
        truncated: 0,
        reward_range: (f64::INFINITY, f64::NEG_INFINITY),
        passed: Vec::new(),
        skipped: Vec::new(),
    };

    let first = rollout(
        env,
        &observation_space,
        &action_space,
        seed,
        steps,
        &mut report,
    )
    .map_err(|(c, d)| fail(c, format!("pass 1: {d}")))?;
    let mut second_report = report.clone();
    let second = rollout(
        env,
        &observation_space,
        &action_space,
        seed,
        steps,
        &mut second_report,
    )
    .map_err(|(c, d)| fail(c, format!("pass 2: {d}")))?;
    compare(&first, &second).map_err(|d| fail(Check::Determinism, d))?;
    report.passed.extend([
        Check::Spaces,
        Check::ObservationShape,
        Check::FiniteObservation,
        Check::ObservationBounds,
        Check::FiniteReward,
        Check::ValidStep,
        Check::Determinism,
    ]);
    if report.episodes_ended > 0 {
        report.passed.push(Check::StepAfterDone);
    } else {
        report.skipped.push((
            Check::StepAfterDone,
            format!("no episode ended within {steps} steps"),
        ));
    }

    check_unseeded_reset(env, &observation_space, seed, &mut report)
        .map_err(|(c, d)| fail(c, d))?;
    check_invalid_actions(env, &observation_space, &action_space, seed)
        .map_err(|(c, d)| fail(c, d))?;
    report.passed.push(Check::InvalidAction);
    Ok(report)
}

/// One recorded event of a rollout: observation bits plus, for steps, reward bits and flags.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    /// A reset and its first observation.
    Reset(Vec<u32>),
    /// A step: observation, reward, terminated, truncated.
    Step(Vec<u32>, u64, bool, bool),
}

/// A failed check inside a phase: the check and the detail.
type Failure = (Check, String);

/// The observation's components as bits (for bit-exact comparison).
fn bits(obs: &Array1<f32>) -> Vec<u32> {
    obs.iter().map(|x| x.to_bits()).collect()
}

/// One rollout pass (see [`check_env_with_steps`]), counting episodes into `report`.
fn rollout(
    env: &mut dyn Env,
    observation_space: &Space,
    action_space: &Space,
    seed: u64,
    steps: usize,
    report: &mut CheckReport,
) -> Result<Vec<Event>, Failure> {
    let mut events = Vec::with_capacity(steps + 16);
    // A different stream from the env's own (which may be seeded with the same seed).
    let mut rng = EnvRng::seed_from_u64(seed ^ 0x5eed_ac71_0a5e_ed00);
    let (obs, _) = env.reset(Some(seed));
    check_observation(observation_space, &obs)
        .map_err(|(c, d)| (c, format!("reset(Some({seed})): {d}")))?;
    events.push(Event::Reset(bits(&obs)));
    for t in 0..steps {
        let action = action_space.sample(&mut rng);
        let step = env.step(&action).map_err(|e| {
            (
                Check::ValidStep,
                format!("step {t}: the valid action {action} was rejected: {e}"),
            )
        })?;
        check_observation(observation_space, &step.observation)
            .map_err(|(c, d)| (c, format!("step {t}: {d}")))?;
        if !step.reward.is_finite() {
            return Err((
                Check::FiniteReward,
                format!("step {t}: reward {}", step.reward),
            ));
        }
        report.reward_range.0 = report.reward_range.0.min(step.reward);
        report.reward_range.1 = report.reward_range.1.max(step.reward);
        events.push(Event::Step(
            bits(&step.observation),
            step.reward.to_bits(),
            step.terminated,
            step.truncated,
        ));
        if step.terminated || step.truncated {
            report.episodes_ended += 1;
            if step.terminated {
                report.terminated += 1;
            } else {
                report.truncated += 1;
            }
            match env.step(&action) {
                Err(EnvError::StepAfterDone { .. }) => {}
                other => {
                    let got = match other {
                        Ok(_) => "it succeeded".to_string(),
                        Err(e) => format!("it returned another error: {e}"),
                    };
                    return Err((
                        Check::StepAfterDone,
                        format!(
                            "step {t} ended the episode (terminated = {}, truncated = {}), \
                             but stepping again without reset is not StepAfterDone: {got}",
                            step.terminated, step.truncated
                        ),
                    ));
                }
            }
            let (obs, _) = env.reset(None);
            check_observation(observation_space, &obs)
                .map_err(|(c, d)| (c, format!("reset(None) after step {t}: {d}")))?;
            events.push(Event::Reset(bits(&obs)));
        }
    }
    Ok(events)
}

/// The first difference between two rollouts, if any.
fn compare(first: &[Event], second: &[Event]) -> Result<(), String> {
    for (k, (a, b)) in first.iter().zip(second).enumerate() {
        if a != b {
            let describe = |e: &Event| match e {
                Event::Reset(o) => format!("reset with observation {:?}", floats(o)),
                Event::Step(o, r, term, trunc) => format!(
                    "step with observation {:?}, reward {}, terminated {term}, truncated {trunc}",
                    floats(o),
                    f64::from_bits(*r)
                ),
            };
            return Err(format!(
                "two passes with the same seed and actions differ at event {k}: the first pass \
                 had a {}, the second a {}",
                describe(a),
                describe(b)
            ));
        }
    }
    if first.len() != second.len() {
        return Err(format!(
            "two passes with the same seed and actions had {} and {} events (resets + steps)",
            first.len(),
            second.len()
        ));
    }
    Ok(())
}

/// Bits back to floats, for messages.
fn floats(bits: &[u32]) -> Vec<f32> {
    bits.iter().map(|&b| f32::from_bits(b)).collect()
}

/// [`Check::UnseededReset`], recorded in `report` as passed or skipped.
fn check_unseeded_reset(
    env: &mut dyn Env,
    observation_space: &Space,
    seed: u64,
    report: &mut CheckReport,
) -> Result<(), Failure> {
    let mut probes = Vec::new();
    for k in 0..SEED_PROBES {
        let s = seed.wrapping_add(k);
        let (obs, _) = env.reset(Some(s));
        check_observation(observation_space, &obs)
            .map_err(|(c, d)| (c, format!("reset(Some({s})): {d}")))?;
        probes.push(bits(&obs));
    }
    if probes.iter().all(|p| *p == probes[0]) {
        report.skipped.push((
            Check::UnseededReset,
            format!(
                "reset(Some(s)) returned the same observation for the {SEED_PROBES} seeds \
                 {seed}..; the first observation does not depend on the seed"
            ),
        ));
        return Ok(());
    }
    let (seeded, _) = env.reset(Some(seed));
    let seeded = bits(&seeded);
    let mut unseeded = Vec::with_capacity(UNSEEDED_RESETS);
    for k in 0..UNSEEDED_RESETS {
        let (obs, _) = env.reset(None);
        check_observation(observation_space, &obs)
            .map_err(|(c, d)| (c, format!("unseeded reset {k}: {d}")))?;
        unseeded.push(bits(&obs));
    }
    if unseeded.iter().all(|o| *o == unseeded[0]) {
        let how = if unseeded[0] == seeded {
            "the same observation as reset(Some(seed)): reset(None) seems to reseed with the \
             last seed"
        } else {
            "the same observation: reset(None) seems to reseed with a fixed seed"
        };
        return Err((
            Check::UnseededReset,
            format!(
                "the first observation depends on the seed, but {UNSEEDED_RESETS} consecutive \
                 reset(None) after reset(Some({seed})) all returned {how} ({:?})",
                floats(&unseeded[0])
            ),
        ));
    }
    report.passed.push(Check::UnseededReset);
    Ok(())
}

/// [`Check::InvalidAction`]: invalid actions are rejected and do not end the episode.
fn check_invalid_actions(
    env: &mut dyn Env,
    observation_space: &Space,
    action_space: &Space,
    seed: u64,
) -> Result<(), Failure> {
    let invalid: Vec<Action> = match action_space {
        Space::Discrete { n } => vec![Action::Discrete(*n), Action::Continuous(Array1::zeros(1))],
        Space::Box { low, .. } => vec![
            Action::Continuous(Array1::from_elem(low.len(), f32::NAN)),
            Action::Continuous(Array1::zeros(low.len() + 1)),
            Action::Discrete(0),
        ],
    };
    let (obs, _) = env.reset(Some(seed));
    check_observation(observation_space, &obs)
        .map_err(|(c, d)| (c, format!("reset(Some({seed})): {d}")))?;
    for action in &invalid {
        match env.step(action) {
            Err(EnvError::InvalidAction { .. }) => {}
            Ok(_) => {
                return Err((
                    Check::InvalidAction,
                    format!("the action {action} outside {action_space} was accepted"),
                ));
            }
            Err(e) => {
                return Err((
                    Check::InvalidAction,
                    format!(
                        "the action {action} outside {action_space} gave another error than \
                         InvalidAction: {e}"
                    ),
                ));
            }
        }
    }
    let mut rng = EnvRng::seed_from_u64(seed);
    let action = action_space.sample(&mut rng);
    env.step(&action).map_err(|e| {
        (
            Check::InvalidAction,
            format!("after rejected invalid actions, the valid action {action} failed: {e}"),
        )
    })?;
    Ok(())
}

/// Shape, finiteness and bounds of one observation.
fn check_observation(space: &Space, obs: &Array1<f32>) -> Result<(), Failure> {
    let dim = space.flat_dim();
    if obs.len() != dim {
        return Err((
            Check::ObservationShape,
            format!(
                "observation of length {} but the observation space {space} has flat_dim {dim}",
                obs.len()
            ),
        ));
    }
    if let Some(i) = obs.iter().position(|x| !x.is_finite()) {
        return Err((
            Check::FiniteObservation,
            format!("observation component {i} is {} in {obs}", obs[i]),
        ));
    }
    let inside = match space {
        Space::Box { .. } => space.contains_observation(obs.as_slice().unwrap_or(&[])),
        Space::Discrete { n } => obs[0] >= 0.0 && obs[0].fract() == 0.0 && (obs[0] as usize) < *n,
    };
    if !inside {
        return Err((
            Check::ObservationBounds,
            format!("observation {obs} is outside the observation space {space}"),
        ));
    }
    Ok(())
}

/// Well-formedness of a space; the problem, if any.
fn check_space(space: &Space) -> Result<(), String> {
    match space {
        Space::Discrete { n } => {
            if *n == 0 {
                return Err("Discrete(0) is empty".to_string());
            }
        }
        Space::Box { low, high, shape } => {
            let n: usize = shape.iter().product();
            if low.len() != n || high.len() != n {
                return Err(format!(
                    "{space}: low and high have {} and {} components, shape {shape:?} has {n}",
                    low.len(),
                    high.len()
                ));
            }
            for (i, (&l, &h)) in low.iter().zip(high).enumerate() {
                if l.is_nan() || h.is_nan() || l > h {
                    return Err(format!("{space}: component {i} has bounds [{l}, {h}]"));
                }
            }
        }
    }
    Ok(())
}
