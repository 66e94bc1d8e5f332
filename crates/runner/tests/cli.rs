//! The `pdmrl` binary: bad input gives a clear error and a non-zero exit (never a panic),
//! and `env rollout` reproduces a Gymnasium CartPole episode.

use std::path::Path;
use std::process::{Command, Output};

fn pdmrl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pdmrl"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run pdmrl")
}

/// Asserts a failure whose stderr contains every `needle`, and no panic.
fn assert_fails_with(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "panic instead of an error: {stderr}"
    );
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks `{n}`: {stderr}");
    }
}

fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(name).tempdir().unwrap()
}

#[test]
fn unknown_env_id_lists_known_ids() {
    let d = tmp("unknown-env");
    let out = pdmrl(&[
        "train",
        "--env",
        "CartPol-v1",
        "--out",
        d.path().to_str().unwrap(),
    ]);
    assert_fails_with(
        &out,
        &["unknown environment id `CartPol-v1`", "CartPole-v1"],
    );
    let out = pdmrl(&[
        "env",
        "rollout",
        "--env",
        "Nope-v0",
        "--init-state",
        "[0]",
        "--actions",
        "[0]",
    ]);
    assert_fails_with(&out, &["unknown environment id `Nope-v0`", "CartPole-v1"]);
}

#[test]
fn unknown_algo_and_trainer() {
    let d = tmp("unknown-algo");
    let p = d.path().to_str().unwrap();
    let out = pdmrl(&[
        "train",
        "--algo",
        "dqn",
        "--total-steps",
        "1024",
        "--out",
        p,
    ]);
    assert_fails_with(&out, &["unknown algo `dqn`", "ppo"]);
    let out = pdmrl(&[
        "train",
        "--trainer",
        "hebb",
        "--total-steps",
        "1024",
        "--out",
        p,
    ]);
    assert_fails_with(&out, &["trainer", "hebb", "bp, pdm, frozen"]);
}

#[test]
fn zero_or_too_few_total_steps() {
    let d = tmp("zero-steps");
    let p = d.path().to_str().unwrap();
    let out = pdmrl(&["train", "--total-steps", "0", "--out", p]);
    assert_fails_with(&out, &["--total-steps must be at least 1"]);
    let out = pdmrl(&["train", "--total-steps", "100", "--out", p]);
    assert_fails_with(&out, &["total_timesteps", "512"]);
}

/// `pdmrl env rollout --env CartPole-v1 --init-state STATE ACTIONS...`.
fn cartpole_rollout(state: &str, actions: &[&str]) -> Output {
    let mut args = vec![
        "env",
        "rollout",
        "--env",
        "CartPole-v1",
        "--init-state",
        state,
    ];
    args.extend_from_slice(actions);
    pdmrl(&args)
}

#[test]
fn action_outside_space_and_bad_state() {
    let state = "[0.01,0.0,-0.02,0.03]";
    let out = cartpole_rollout(state, &["--actions", "[0,1,2]"]);
    assert_fails_with(&out, &["action 2", "invalid action 2", "Discrete(2)"]);
    assert!(
        out.stdout.is_empty(),
        "actions are checked before any step is printed"
    );
    // Extreme states whose dynamics overflow are an error, not `null` in the JSON.
    let out = cartpole_rollout("[0,0,0,1e200]", &["--actions", "[0]"]);
    assert_fails_with(&out, &["step 0", "non-finite"]);
    let out = cartpole_rollout(state, &["--actions", "[0,-1]"]);
    assert_fails_with(&out, &["--actions[1]", "non-negative integer"]);
    let out = cartpole_rollout("[0.1,0.2]", &["--actions", "[0]"]);
    assert_fails_with(&out, &["invalid state", "CartPole-v1", "4"]);
    let out = cartpole_rollout("zero", &["--actions", "[0]"]);
    assert_fails_with(&out, &["--init-state must be a JSON array"]);
    let out = cartpole_rollout(state, &["--actions-file", "/nonexistent/actions.json"]);
    assert_fails_with(
        &out,
        &["cannot read --actions-file `/nonexistent/actions.json`"],
    );
}

#[test]
fn refuses_to_overwrite_a_complete_run_without_force() {
    let d = tmp("complete-run");
    let p = d.path().to_str().unwrap();
    let args = [
        "train",
        "--trainer",
        "pdm",
        "--total-steps",
        "1024",
        "--seed",
        "3",
        "--out",
        p,
    ];
    let first = pdmrl(&args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for f in ["config.toml", "metrics.csv", "updates.csv", "summary.json"] {
        assert!(d.path().join(f).is_file(), "{f} missing");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["total_steps"], 1024);
    for key in ["final_return_mean", "wall_seconds", "steps_per_second"] {
        assert!(
            summary[key].as_f64().is_some_and(f64::is_finite),
            "{key}: {}",
            summary[key]
        );
    }
    let metrics = std::fs::read_to_string(d.path().join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with("global_step,episodic_return"),
        "{metrics}"
    );
    assert!(metrics.lines().count() > 10, "episodes recorded");
    let again = pdmrl(&args);
    assert_fails_with(&again, &["already holds a complete run", "--force"]);
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(pdmrl(&forced).status.success());
}

/// Replays the first recorded Gymnasium 1.4.0 episode through the binary and compares
/// every printed step with the fixture (tolerance rule of the fixtures' README).
#[test]
fn rollout_reproduces_a_gymnasium_episode() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../envs/tests/fixtures/gymnasium/CartPole-v1.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let episode: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let init = episode["init_state"].to_string();
    let actions = episode["actions"].to_string();
    let out = cartpole_rollout(&init, &["--actions", &actions]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want_obs = episode["observations"].as_array().unwrap();
    assert_eq!(lines.len(), want_obs.len(), "episode length");
    for (t, line) in lines.iter().enumerate() {
        for (got, want) in line["observation"]
            .as_array()
            .unwrap()
            .iter()
            .zip(want_obs[t].as_array().unwrap())
        {
            let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
            assert!(
                (g - w).abs() <= 1e-6 + 1e-5 * w.abs(),
                "step {t}: {g} vs {w}"
            );
        }
        assert_eq!(line["reward"], episode["rewards"][t]);
        assert_eq!(line["terminated"], episode["terminated"][t]);
        assert_eq!(line["truncated"], episode["truncated"][t]);
    }
    assert_eq!(lines.last().unwrap()["terminated"], true);
}

#[test]
fn env_list_prints_spaces() {
    let out = pdmrl(&["env", "list"]);
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.contains("CartPole-v1") && s.contains("Discrete(2)") && s.contains("500"),
        "{s}"
    );
}
