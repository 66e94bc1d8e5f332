//! CartPole-v1 against trajectories recorded from Gymnasium 1.4.0 (numpy 2.4.6); see
//! `tests/fixtures/gymnasium/README.md` for their provenance and the tolerance rule.
//!
//! Each episode is replayed through `Registry::with_builtins().make("CartPole-v1")` (so the
//! TimeLimit wrapper is exercised too): `set_state(init_state)`, then every recorded action,
//! comparing observations, rewards, internal states, flags and the episode length.

use pdmrl_envs::{Action, EnvError, Registry};
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/gymnasium/CartPole-v1.jsonl"
);

/// float32 observations: `|got - want| <= 1e-6 + 1e-5 * |want|`.
fn close_f32(got: f32, want: f64) -> bool {
    let want = want as f32;
    (got - want).abs() <= 1e-6 + 1e-5 * want.abs()
}

/// float64 values: `|got - want| <= 1e-12 + 1e-9 * |want|`.
fn close_f64(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-12 + 1e-9 * want.abs()
}

/// Asserts an f32 observation against the recorded one (length and every component);
/// returns the largest absolute difference.
fn check_obs(at: &str, got: &[f32], want: &[f64]) -> f64 {
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
fn check_f64(at: &str, got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "{at}: length");
    let mut max_err = 0f64;
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(close_f64(g, w), "{at}[{k}] = {g:e} want {w:e}");
        max_err = max_err.max((g - w).abs());
    }
    max_err
}

fn floats(v: &Value, what: &str) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: not an array"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("{what}: not a number")))
        .collect()
}

fn rows(v: &Value, what: &str) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: not an array"))
        .iter()
        .map(|r| floats(r, what))
        .collect()
}

fn bools(v: &Value, what: &str) -> Vec<bool> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: not an array"))
        .iter()
        .map(|x| x.as_bool().unwrap_or_else(|| panic!("{what}: not a bool")))
        .collect()
}

fn episodes() -> Vec<Value> {
    let text = std::fs::read_to_string(FIXTURE)
        .unwrap_or_else(|e| panic!("cannot read fixture {FIXTURE}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: bad JSON: {e}", i + 1))
        })
        .collect()
}

#[test]
fn fixture_is_the_expected_recording() {
    let eps = episodes();
    assert_eq!(eps.len(), 17, "the fixture has 17 episodes");
    for ep in &eps {
        assert_eq!(ep["env_id"], "CartPole-v1");
        assert_eq!(ep["gymnasium_version"], "1.4.0");
        assert_eq!(ep["numpy_version"], "2.4.6");
        assert_eq!(ep["max_episode_steps"], 500);
        assert_eq!(ep["obs_dtype"], "float32");
        assert_eq!(ep["init_state_dtype"], "float64");
    }
    let truncated_at_500 = eps
        .iter()
        .filter(|ep| {
            let tr = bools(&ep["truncated"], "truncated");
            tr.len() == 500 && tr[499]
        })
        .count();
    assert!(
        truncated_at_500 >= 1,
        "at least one episode is truncated at 500 steps"
    );
    let terminated = eps
        .iter()
        .filter(|ep| bools(&ep["terminated"], "terminated").last() == Some(&true))
        .count();
    assert!(terminated >= 1, "at least one episode terminates");
    // Both actions occur, so both force directions are exercised.
    let actions: Vec<u64> = eps
        .iter()
        .flat_map(|ep| ep["actions"].as_array().unwrap().clone())
        .map(|a| a.as_u64().unwrap())
        .collect();
    assert!(actions.contains(&0) && actions.contains(&1));
}

#[test]
fn cartpole_matches_gymnasium_1_4_0() {
    let registry = Registry::with_builtins();
    let eps = episodes();
    assert_eq!(eps.len(), 17);
    let mut steps_checked = 0;
    let mut max_obs_err = 0f64;
    let mut max_state_err = 0f64;

    for (e, ep) in eps.iter().enumerate() {
        let name = format!(
            "episode {e} (case {}, seed {})",
            ep["case"].as_str().unwrap_or("?"),
            ep["seed"]
        );
        let init_state = floats(&ep["init_state"], "init_state");
        let init_obs = floats(&ep["init_obs"], "init_obs");
        let actions: Vec<usize> = ep["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_u64().expect("integer action") as usize)
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

        let mut env = registry.make("CartPole-v1").unwrap();
        let obs = env.set_state(&init_state).unwrap();
        check_obs(&format!("{name}: init"), obs.as_slice().unwrap(), &init_obs);
        check_f64(
            &format!("{name}: init state"),
            &env.state().unwrap(),
            &init_state,
        );

        for (t, &action) in actions.iter().enumerate() {
            let step = env
                .step(&Action::Discrete(action))
                .unwrap_or_else(|err| panic!("{name}: step {t} failed: {err}"));
            let at = format!("{name}: step {t}");
            let obs_err = check_obs(&at, step.observation.as_slice().unwrap(), &observations[t]);
            let state_err = check_f64(&format!("{at} state"), &env.state().unwrap(), &states[t]);
            check_f64(&format!("{at} reward"), &[step.reward], &[rewards[t]]);
            max_obs_err = max_obs_err.max(obs_err);
            max_state_err = max_state_err.max(state_err);
            assert_eq!(step.terminated, terminated[t], "{at} terminated");
            assert_eq!(step.truncated, truncated[t], "{at} truncated");
            let done = step.terminated || step.truncated;
            assert_eq!(
                done,
                t == n - 1,
                "{name}: the episode ends exactly at step {}",
                n - 1
            );
            steps_checked += 1;
        }
        // The episode is over: a further step is an error.
        match env.step(&Action::Discrete(0)) {
            Err(EnvError::StepAfterDone { id }) => assert_eq!(id, "CartPole-v1"),
            other => panic!("{name}: step after the end must be StepAfterDone, got {other:?}"),
        }
    }
    // 5 random episodes (14-41 steps), 10 constant ones (8-11), 2 x 500 balanced.
    assert!(steps_checked > 1100, "checked {steps_checked} steps");
    eprintln!(
        "checked {steps_checked} steps; max |obs err| = {max_obs_err:e}, \
         max |state err| = {max_state_err:e}"
    );
}
