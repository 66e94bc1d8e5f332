//! The `pdmrl` binary: bad input gives a clear error and a non-zero exit (never a panic),
//! and `env rollout` reproduces a Gymnasium CartPole episode.

use std::path::Path;
use std::process::{Command, Output};

fn pdmrl(args: &[&str]) -> Output {
    pdmrl_with_env(args, &[])
}

/// [`pdmrl`] with environment variables set.
fn pdmrl_with_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pdmrl"))
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
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

/// A bad `PDMRL_SIMD` is a clear error naming the variable and the paths, before any
/// work; a good one runs.
#[test]
fn bad_vector_path_in_the_environment() {
    let d = tmp("simd");
    let run = |value: &str| {
        let out = d.path().join(value);
        let out = out.to_str().unwrap();
        pdmrl_with_env(
            &["train", "--total-steps", "512", "--out", out],
            &[("PDMRL_SIMD", value)],
        )
    };
    let out = run("avx512");
    assert_fails_with(&out, &["PDMRL_SIMD", "avx512", "portable, avx2"]);
    assert!(!d.path().join("avx512").exists(), "nothing written");
    let out = run("portable");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert_fails_with(&out, &["`algo` = dqn", "ppo, a2c, reinforce"]);
    let out = pdmrl(&[
        "train",
        "--trainer",
        "hebb",
        "--total-steps",
        "1024",
        "--out",
        p,
    ]);
    assert_fails_with(&out, &["trainer", "hebb", "bp, pdm, pdm_guided, frozen"]);
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
fn continuous_actions_are_checked() {
    let rollout = |actions: &str| {
        pdmrl(&[
            "env",
            "rollout",
            "--env",
            "Pendulum-v1",
            "--init-state",
            "[0.5,0.0]",
            "--actions",
            actions,
        ])
    };
    let out = rollout("[0.5]");
    assert_fails_with(
        &out,
        &["--actions[0] = 0.5", "expected an array of numbers"],
    );
    let out = rollout("[[1e300]]");
    assert_fails_with(&out, &["--actions[0]", "outside the float32 range"]);
    let out = rollout("[[0.5],[1.0,2.0]]");
    assert_fails_with(&out, &["action 1", "invalid action"]);
    // Out of bounds but finite: clipped by the env, as Gymnasium does.
    let out = rollout("[[3.0],[-1e6]]");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
fn bad_settings_are_rejected_before_a_folder_is_made() {
    let d = tmp("bad-set");
    let out_dir = d.path().join("run");
    let o = out_dir.to_str().unwrap();
    for (set, needles) in [
        ("learning_rat=1e-3", &["learning_rat", "unknown field"][..]),
        (
            "learning_rate=fast",
            &["--set `learning_rate=fast`", "TOML"][..],
        ),
        ("num_minibatches=7", &["num_minibatches", "divide"][..]),
        (
            "algo=\"a2c\"",
            &["--set algo=\"a2c\" is not allowed", "--algo"][..],
        ),
        ("algo.name=\"a2c\"", &["algo.name", "--algo"][..]),
        (
            "network.gamma=0.9",
            &["unknown key `gamma` in [network]"][..],
        ),
        (
            "algo.hidden_sizes=[8]",
            &["`hidden_sizes` is a [network] key"][..],
        ),
        ("run.seeds=[1]", &["--seed"][..]),
        ("run.checkpoint_every=0", &["--checkpoint-every"][..]),
        ("run.foo=1", &["unknown key `foo` in [run]"][..]),
        (
            "trainer.pdm.pairs={sampled={k=100000}}",
            &["trainer `bp` does not read `trainer.pdm.pairs.sampled.k`"][..],
        ),
        ("run=3", &["--set run=3 is not a key"][..]),
        (
            "trainer.local_lrr=1",
            &["trainer settings", "local_lrr"][..],
        ),
        ("trainer.kind=\"bp\"", &["trainer.kind", "--trainer"][..]),
        ("trainer=3", &["not a table of trainer options"][..]),
    ] {
        let out = pdmrl(&["train", "--env", "Pendulum-v1", "--set", set, "--out", o]);
        assert_fails_with(&out, needles);
        assert!(!out_dir.exists(), "nothing is written for an invalid run");
    }
    let out = pdmrl(&["train", "--resume", o]);
    assert_fails_with(&out, &["config.toml"]);
    let out = pdmrl(&["eval", "--checkpoint", o, "--episodes", "2"]);
    assert_fails_with(&out, &["config.toml"]);
}

/// A continuous-action run (PPO on Pendulum-v1 with its per-env defaults, cut short),
/// interrupted and resumed from the command line, then evaluated from its checkpoint.
#[test]
fn continuous_run_resumes_and_evaluates_from_the_command_line() {
    let d = tmp("pendulum");
    let p = d.path().to_str().unwrap();
    let first = pdmrl(&[
        "train",
        "--env",
        "Pendulum-v1",
        "--trainer",
        "pdm",
        "--total-steps",
        "8192",
        "--seed",
        "2",
        "--set",
        "run.eval_every=4096",
        "--set",
        "eval_episodes=3",
        "--set",
        "trainer.local_lr=0.002",
        "--set",
        "trainer.pdm.metric=\"squared_euclidean\"",
        "--out",
        p,
    ]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(summary["total_steps"], 8192);
    assert!(
        summary["final_eval_return_mean"]
            .as_f64()
            .is_some_and(f64::is_finite)
    );
    let config = std::fs::read_to_string(d.path().join("config.toml")).unwrap();
    assert!(config.contains("gamma = 0.9") && config.contains("normalize_observation = true"));
    // Trainer keys under `trainer.` merge into the trainer's defaults.
    assert!(config.contains("local_lr = 0.002"), "{config}");
    assert!(
        config.contains("metric = \"squared_euclidean\"")
            && config.contains("normalize = \"mean\"")
    );
    // A complete run has nothing to resume.
    let again = pdmrl(&["train", "--resume", p]);
    assert_fails_with(&again, &["holds a complete run", "nothing to resume"]);
    // Resume after the summary is gone: the last checkpoint is the end; the run completes
    // again with the same metrics.
    let metrics = std::fs::read(d.path().join("metrics.csv")).unwrap();
    std::fs::remove_file(d.path().join("summary.json")).unwrap();
    for f in ["metrics.csv", "updates.csv", "eval.csv"] {
        let from = d.path().join(f);
        std::fs::rename(&from, d.path().join(format!("{f}.tmp"))).unwrap();
    }
    let resumed = pdmrl(&["train", "--resume", p]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(
        std::fs::read(d.path().join("metrics.csv")).unwrap(),
        metrics
    );
    // Evaluation from the checkpoint, with the saved normalisation statistics.
    let out = pdmrl(&["eval", "--checkpoint", p, "--episodes", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["episodes"], 3);
    assert_eq!(report["global_step"], 8192);
    assert_eq!(report["lengths"], serde_json::json!([200, 200, 200]));
    let mean = report["mean"].as_f64().unwrap();
    // The run's own last evaluation used the same seed and episodes: the same number.
    assert_eq!(mean, summary["final_eval_return_mean"].as_f64().unwrap());
    let ckpt = d.path().join("checkpoint");
    let out = pdmrl(&[
        "eval",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--episodes",
        "0",
    ]);
    assert_fails_with(&out, &["--episodes must be in 1..=4096", "got 0"]);
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

/// Replays recorded Gymnasium 1.4.0 episodes of every classic-control env through the
/// binary (one episode per case, actions from a file, continuous ones as arrays, including
/// out-of-bounds ones) and compares every printed observation, reward, state and flag with
/// the tolerance rule of the fixtures' README.
#[test]
fn rollout_reproduces_gymnasium_episodes_of_every_env() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../envs/tests/fixtures/gymnasium");
    let tmp = tmp("rollout-actions");
    let mut checked = std::collections::BTreeSet::new();
    for env_id in [
        "CartPole-v1",
        "Acrobot-v1",
        "MountainCar-v0",
        "MountainCarContinuous-v0",
        "Pendulum-v1",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{env_id}.jsonl"))).unwrap();
        let mut cases_seen = std::collections::BTreeSet::new();
        for line in text.lines() {
            let episode: serde_json::Value = serde_json::from_str(line).unwrap();
            let case = episode["case"].as_str().unwrap().to_string();
            if !cases_seen.insert(case.clone()) {
                continue;
            }
            let actions_file = tmp.path().join(format!("{env_id}-{case}.json"));
            std::fs::write(&actions_file, episode["actions"].to_string()).unwrap();
            let init = episode["init_state"].to_string();
            let out = pdmrl(&[
                "env",
                "rollout",
                "--env",
                env_id,
                "--init-state",
                &init,
                "--actions-file",
                actions_file.to_str().unwrap(),
            ]);
            let at = format!("{env_id} case {case}");
            assert!(
                out.status.success(),
                "{at}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(
                lines.len(),
                episode["actions"].as_array().unwrap().len(),
                "{at}: length"
            );
            let close = |key: &str, t: usize, atol: f64, rtol: f64| {
                let got = lines[t][key].as_array().unwrap();
                let want = episode[format!("{key}s").as_str()][t].as_array().unwrap();
                assert_eq!(got.len(), want.len(), "{at} step {t}: {key} length");
                for (g, w) in got.iter().zip(want) {
                    let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
                    assert!(
                        (g - w).abs() <= atol + rtol * w.abs(),
                        "{at} step {t}: {key} {g} vs {w}"
                    );
                }
            };
            for t in 0..lines.len() {
                close("observation", t, 1e-6, 1e-5);
                close("state", t, 1e-12, 1e-9);
                let (g, w) = (
                    lines[t]["reward"].as_f64().unwrap(),
                    episode["rewards"][t].as_f64().unwrap(),
                );
                assert!(
                    (g - w).abs() <= 1e-12 + 1e-9 * w.abs(),
                    "{at} step {t}: reward {g} vs {w}"
                );
                assert_eq!(
                    lines[t]["terminated"], episode["terminated"][t],
                    "{at} step {t}"
                );
                assert_eq!(
                    lines[t]["truncated"], episode["truncated"][t],
                    "{at} step {t}"
                );
            }
            checked.insert(format!("{env_id}/{case}"));
        }
    }
    // Every case of the README: random, constant, balance, swingup, truncation, bounce,
    // out_of_bounds, pump.
    assert!(checked.len() >= 17, "{checked:?}");
    assert!(checked.contains("MountainCarContinuous-v0/out_of_bounds"));
    assert!(checked.contains("Pendulum-v1/out_of_bounds"));
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

#[test]
fn config_show_prints_the_expanded_runs() {
    let d = tmp("config-show");
    let path = d.path().join("x.toml");
    std::fs::write(
        &path,
        "name = \"x\"\n[env]\nid = \"Pendulum-v1\"\n[algo]\nname = \"ppo\"\n[trainer]\nkind = [\"bp\", \"pdm\"]\n[run]\nseeds = [1, 2]\ntotal_timesteps = 8192\n[sweep]\n\"algo.learning_rate\" = [1e-3, 3e-4]\n",
    )
    .unwrap();
    let out = pdmrl(&["config", "show", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("8 runs into results/x/"), "{text}");
    assert_eq!(text.matches("# run ppo-Pendulum-v1-").count(), 8, "{text}");
    assert!(
        text.contains("learning_rate = 0.0003") && text.contains("gamma = 0.9"),
        "{text}"
    );
    std::fs::write(&path, "name = \"x\"\n").unwrap();
    let out = pdmrl(&["config", "show", path.to_str().unwrap()]);
    assert_fails_with(&out, &["x.toml", "`[env] id` is missing"]);
}

/// `pdmrl env rollout --seed --kwargs --episodes-file` replays MinAtar's recorded
/// episodes of a case back to back: every observation (flat `[10, 10, C]`, row-major,
/// channels last), reward, terminal flag and episode index as minatar 1.0.15 recorded them.
#[test]
fn env_rollout_replays_minatar_episodes_from_a_seed() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../envs/tests/fixtures/minatar/breakout.jsonl"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut case: Vec<&serde_json::Value> = lines.iter().filter(|e| e["case"] == "a").collect();
    case.sort_by_key(|e| e["episode_index_in_env"].as_u64());
    assert_eq!(case.len(), 3);
    let episodes: Vec<&serde_json::Value> = case.iter().map(|e| &e["actions"]).collect();
    let d = tmp("minatar-rollout");
    let file = d.path().join("episodes.json");
    std::fs::write(&file, serde_json::to_string(&episodes).unwrap()).unwrap();
    let out = pdmrl(&[
        "env",
        "rollout",
        "--env",
        "MinAtar/Breakout-v0",
        "--seed",
        &case[0]["seed"].to_string(),
        "--kwargs",
        "{\"sticky_action_prob\":0.1,\"difficulty_ramping\":true}",
        "--episodes-file",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: usize = case
        .iter()
        .map(|e| e["length"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(steps.len(), want);
    let mut k = 0;
    for (episode, e) in case.iter().enumerate() {
        for i in 0..e["length"].as_u64().unwrap() as usize {
            let s = &steps[k];
            k += 1;
            assert_eq!(s["episode"], episode, "step {k}");
            assert_eq!(s["reward"].as_f64(), e["rewards"][i].as_f64());
            assert_eq!(s["terminated"], e["terminals"][i]);
            let cells: Vec<serde_json::Value> = s["observation"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .filter(|(_, v)| v.as_f64() == Some(1.0))
                .map(|(j, _)| serde_json::json!([j / 40, (j / 4) % 10, j % 4]))
                .collect();
            assert_eq!(
                serde_json::Value::Array(cells),
                e["observations"][i],
                "episode {episode} step {i}"
            );
        }
    }
    // Bad kwargs and actions are clear errors.
    let o = file.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["--kwargs", "{\"sticky\":0.1}", "--episodes-file", o],
            "unknown key `sticky`",
        ),
        (vec!["--kwargs", "[1]", "--episodes-file", o], "JSON object"),
        (vec!["--actions", "[0, 6]"], "action 1"),
    ] {
        let mut full = vec![
            "env",
            "rollout",
            "--env",
            "MinAtar/Breakout-v0",
            "--seed",
            "0",
        ];
        full.extend(args);
        assert_fails_with(&pdmrl(&full), &[needle]);
    }
}

/// `pdmrl train --resume` of an interrupted run of another results version (its
/// `config.toml` without the key: version 1) refuses, naming both versions and what to
/// do, and leaves the folder as it was.
#[test]
fn resume_refuses_a_run_of_another_results_version() {
    let d = tmp("old-version");
    let p = d.path().to_str().unwrap();
    let first = pdmrl(&[
        "train",
        "--env",
        "CartPole-v1",
        "--total-steps",
        "1024",
        "--set",
        "run.eval_every=0",
        "--out",
        p,
    ]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let config_path = d.path().join("config.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let version = format!("results_version = {}\n", pdmrl_runner::RESULTS_VERSION);
    let old = config
        .strip_prefix(&version)
        .expect("the version comes first");
    std::fs::write(&config_path, old).unwrap();
    // Interrupted after its last checkpoint: no summary, the CSV files in progress.
    std::fs::remove_file(d.path().join("summary.json")).unwrap();
    for f in ["metrics.csv", "updates.csv", "eval.csv"] {
        let from = d.path().join(f);
        std::fs::rename(&from, d.path().join(format!("{f}.tmp"))).unwrap();
    }
    let out = pdmrl(&["train", "--resume", p]);
    let current = format!(
        "this code trains results version {}",
        pdmrl_runner::RESULTS_VERSION
    );
    assert_fails_with(
        &out,
        &[
            "holds a run of results version 1",
            &current,
            "start it again from scratch",
            "--force",
        ],
    );
    assert_eq!(std::fs::read_to_string(&config_path).unwrap(), old);
    assert!(!d.path().join("summary.json").exists());
    assert!(d.path().join("metrics.csv.tmp").is_file());
}
