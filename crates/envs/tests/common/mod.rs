//! Shared harness of the Gymnasium parity tests: read a fixture file of
//! `tests/fixtures/gymnasium/`, replay every episode through the registry and compare
//! every step with the tolerance rule of the fixtures' README.

#![allow(dead_code)] // each test binary uses a part of this module

use pdmrl_envs::{Action, EnvError, Registry};
use serde_json::Value;

/// float32 observations: `|got - want| <= 1e-6 + 1e-5 * |want|`.
pub fn close_f32(got: f32, want: f64) -> bool {
    let want = want as f32;
    (got - want).abs() <= 1e-6 + 1e-5 * want.abs()
}

/// float64 values: `|got - want| <= 1e-12 + 1e-9 * |want|`.
pub fn close_f64(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-12 + 1e-9 * want.abs()
}

/// Asserts an f32 observation against the recorded one (length and every component);
/// returns the largest absolute difference.
pub fn check_obs(at: &str, got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "{at}: observation length");
    let mut max_err = 0f64;
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(close_f32(g, w), "{at}: obs[{k}] = {g} want {w}");
        max_err = max_err.max((f64::from(g) - w).abs());
    }
    max_err
}

/// Asserts f64 values against the recorded ones (length and every component); returns the
/// largest absolute difference.
pub fn check_f64(at: &str, got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "{at}: length");
    let mut max_err = 0f64;
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(close_f64(g, w), "{at}[{k}] = {g:e} want {w:e}");
        max_err = max_err.max((g - w).abs());
    }
    max_err
}

pub fn floats(v: &Value, what: &str) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: not an array"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("{what}: not a number")))
        .collect()
}

pub fn rows(v: &Value, what: &str) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: not an array"))
        .iter()
        .map(|r| floats(r, what))
        .collect()
}

pub fn bools(v: &Value, what: &str) -> Vec<bool> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: not an array"))
        .iter()
        .map(|x| x.as_bool().unwrap_or_else(|| panic!("{what}: not a bool")))
        .collect()
}

/// The episodes of `tests/fixtures/gymnasium/<env_id>.jsonl`, one JSON object each.
pub fn episodes(env_id: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/fixtures/gymnasium/{env_id}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: bad JSON: {e}", i + 1))
        })
        .collect()
}

/// The action of a fixture: an integer for discrete envs, an array of float32 values
/// (stored exactly as f64) for continuous ones.
pub fn action(v: &Value) -> Action {
    match v {
        Value::Number(n) => {
            Action::Discrete(n.as_u64().expect("non-negative integer action") as usize)
        }
        Value::Array(_) => {
            Action::Continuous(floats(v, "action").into_iter().map(|x| x as f32).collect())
        }
        other => panic!("unexpected action {other}"),
    }
}

/// What [`replay_all`] checked.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Episodes replayed.
    pub episodes: usize,
    /// Steps compared.
    pub steps: usize,
    /// Largest |observation error|.
    pub max_obs_err: f64,
    /// Largest |state error|.
    pub max_state_err: f64,
}

/// Replays every episode of the fixture of `env_id` through
/// `Registry::with_builtins().make(env_id)` (so its TimeLimit is exercised): `set_state`
/// to `init_state`, then every recorded action, comparing observations (f32 rule),
/// rewards and internal states (f64 rule), `terminated`/`truncated` and the episode length
/// exactly; a further step must be `StepAfterDone`.
pub fn replay_all(env_id: &str) -> Replayed {
    let registry = Registry::with_builtins();
    let eps = episodes(env_id);
    assert!(!eps.is_empty(), "{env_id}: empty fixture");
    let mut out = Replayed::default();
    for (e, ep) in eps.iter().enumerate() {
        assert_eq!(ep["env_id"], env_id);
        let name = format!(
            "{env_id} episode {e} (case {}, seed {})",
            ep["case"].as_str().unwrap_or("?"),
            ep["seed"]
        );
        let init_state = floats(&ep["init_state"], "init_state");
        let init_obs = floats(&ep["init_obs"], "init_obs");
        let actions: Vec<Action> = ep["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(action)
            .collect();
        let observations = rows(&ep["observations"], "observations");
        let states = rows(&ep["states"], "states");
        let rewards = floats(&ep["rewards"], "rewards");
        let terminated = bools(&ep["terminated"], "terminated");
        let truncated = bools(&ep["truncated"], "truncated");
        let n = actions.len();
        assert!(n > 0, "{name}: empty episode");
        for (len, what) in [
            (observations.len(), "observations"),
            (states.len(), "states"),
            (rewards.len(), "rewards"),
            (terminated.len(), "terminated"),
            (truncated.len(), "truncated"),
        ] {
            assert_eq!(len, n, "{name}: {what} length");
        }

        let mut env = registry.make(env_id).unwrap();
        let obs = env.set_state(&init_state).unwrap();
        check_obs(&format!("{name}: init"), obs.as_slice().unwrap(), &init_obs);
        check_f64(
            &format!("{name}: init state"),
            &env.state().unwrap(),
            &init_state,
        );

        for (t, action) in actions.iter().enumerate() {
            let step = env
                .step(action)
                .unwrap_or_else(|err| panic!("{name}: step {t} failed: {err}"));
            let at = format!("{name}: step {t}");
            let obs_err = check_obs(&at, step.observation.as_slice().unwrap(), &observations[t]);
            let state_err = check_f64(&format!("{at} state"), &env.state().unwrap(), &states[t]);
            check_f64(&format!("{at} reward"), &[step.reward], &[rewards[t]]);
            out.max_obs_err = out.max_obs_err.max(obs_err);
            out.max_state_err = out.max_state_err.max(state_err);
            assert_eq!(step.terminated, terminated[t], "{at} terminated");
            assert_eq!(step.truncated, truncated[t], "{at} truncated");
            let done = step.terminated || step.truncated;
            assert_eq!(
                done,
                t == n - 1,
                "{name}: the episode ends exactly at step {}",
                n - 1
            );
            out.steps += 1;
        }
        match env.step(&actions[0]) {
            Err(EnvError::StepAfterDone { id }) => assert_eq!(id, env_id),
            other => panic!("{name}: step after the end must be StepAfterDone, got {other:?}"),
        }
        out.episodes += 1;
    }
    eprintln!(
        "{env_id}: checked {} steps of {} episodes; max |obs err| = {:e}, max |state err| = {:e}",
        out.steps, out.episodes, out.max_obs_err, out.max_state_err
    );
    out
}

/// Asserts the recording metadata every episode of a fixture shares: env id, gymnasium
/// 1.4.0, numpy 2.4.6, the time limit, float32 observations, and the dtype of
/// `init_state`.
pub fn assert_recorded(ep: &Value, env_id: &str, max_episode_steps: u64, init_state_dtype: &str) {
    assert_eq!(ep["env_id"], env_id);
    assert_eq!(ep["gymnasium_version"], "1.4.0");
    assert_eq!(ep["numpy_version"], "2.4.6");
    assert_eq!(ep["max_episode_steps"], max_episode_steps);
    assert_eq!(ep["obs_dtype"], "float32");
    assert_eq!(ep["init_state_dtype"], init_state_dtype);
}

/// The episodes of `eps` whose `case` is `case`.
pub fn cases<'a>(eps: &'a [Value], case: &str) -> Vec<&'a Value> {
    eps.iter().filter(|ep| ep["case"] == case).collect()
}

/// The actions of a 1-D continuous episode, each `[a]`, as `a`.
pub fn scalar_actions(ep: &Value) -> Vec<f64> {
    rows(&ep["actions"], "actions")
        .into_iter()
        .map(|a| {
            assert_eq!(a.len(), 1, "continuous actions have shape (1,)");
            a[0]
        })
        .collect()
}
