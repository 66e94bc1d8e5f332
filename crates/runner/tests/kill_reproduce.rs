//! A reproduction killed mid-run (SIGTERM, then SIGKILL) and started again skips the runs
//! that were complete, resumes the interrupted ones from their checkpoints, and ends with
//! the results of an uninterrupted reproduction.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EXPERIMENT: &str = r#"name = "killed"
[env]
id = "CartPole-v1"
[algo]
name = "ppo"
[trainer]
kind = ["bp", "pdm"]
[run]
seeds = [1, 2]
total_timesteps = 40960
eval_every = 8192
eval_episodes = 2
checkpoint_every = 1
"#;

fn reproduce(config: &Path, results: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pdmrl"))
        .args([
            "reproduce",
            config.to_str().unwrap(),
            "--jobs",
            "1",
            "--results",
        ])
        .arg(results)
        .env("PDMRL_PROGRESS_EVERY", "0.05")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn run_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Waits until one more run is complete than `before` and another has a checkpoint but
/// no summary: the moment to kill.
fn wait_for_mid_run(dir: &Path, before: usize, child: &mut Child) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let runs = run_dirs(dir);
        let complete = runs
            .iter()
            .filter(|r| r.join("summary.json").is_file())
            .count();
        let partial = runs
            .iter()
            .any(|r| !r.join("summary.json").is_file() && r.join("checkpoint").is_dir());
        if complete > before && partial {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn complete_runs(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    run_dirs(dir)
        .into_iter()
        .filter(|r| r.join("summary.json").is_file())
        .map(|r| {
            let s = r.join("summary.json");
            let bytes = std::fs::read(&s).unwrap();
            let mtime = std::fs::metadata(&s).unwrap().modified().unwrap();
            (r, bytes, mtime)
        })
        .collect()
}

/// The progress lines of a reproduction that found `complete` runs complete and resumed
/// an interrupted one (stderr is a pipe, so lines, not a bar): a line per run start (the
/// resumed one says where it resumes) and end, status lines, and a rate that counts only
/// the steps trained by this process. (Counting the complete runs' steps as done at once
/// gave millions of steps/s.)
fn check_progress_lines(stderr: &str, complete: usize) {
    assert!(
        stderr.lines().any(|l| l.starts_with("killed: resumed ")
            && l.contains(" at step ")
            && l.ends_with(" of 40960")),
        "{stderr}"
    );
    let statuses: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("killed [") && l.contains(" runs done"))
        .collect();
    assert!(!statuses.is_empty(), "{stderr}");
    let last = statuses.last().unwrap();
    assert!(
        last.contains("]: 4/4 runs done, 163840/163840 steps, "),
        "{last}"
    );
    assert!(last.ends_with(" steps/s, nothing left to train"), "{last}");
    let completed = stderr
        .lines()
        .filter(|l| l.starts_with("killed: completed "))
        .count();
    assert_eq!(completed, 4 - complete, "{stderr}");
    for line in statuses {
        if let Some(rate) = line
            .split(", ")
            .find_map(|part| part.strip_suffix(" steps/s"))
        {
            let rate: f64 = rate.parse().unwrap();
            // One thread trains PPO on CartPole-v1 at tens of thousands of steps/s.
            assert!(rate > 0.0 && rate < 300_000.0, "{line}");
        }
    }
}

#[test]
fn a_killed_reproduce_resumes_without_redoing_complete_runs() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("killed.toml");
    std::fs::write(&config, EXPERIMENT).unwrap();
    let (reference, interrupted) = (d.path().join("reference"), d.path().join("interrupted"));
    finish(reproduce(&config, &reference));

    let dir = interrupted.join("killed");
    let mut kills = 0;
    // SIGTERM stands for Ctrl-C: both end the process by their default action (a shell
    // without job control starts background jobs with SIGINT ignored, so a test cannot
    // rely on SIGINT reaching the child).
    for signal in ["TERM", "KILL"] {
        let before = complete_runs(&dir);
        let mut child = reproduce(&config, &interrupted);
        if !wait_for_mid_run(&dir, before.len(), &mut child) {
            // It finished before a kill could land (a very fast machine): still checked below.
            finish(child);
            break;
        }
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "SIG{signal} stopped it");
        kills += 1;
        // Starting again: what was complete is skipped, bytes and mtime untouched.
        let complete = complete_runs(&dir);
        assert!(complete.len() > before.len());
        let again = reproduce(&config, &interrupted);
        if signal == "KILL" {
            let stderr = finish(again);
            assert!(
                stderr.contains(&format!("{} skipped (complete)", complete.len())),
                "{stderr}"
            );
            check_progress_lines(&stderr, complete.len());
        } else {
            // Kill the second start too, once it has made progress (next loop turn).
            let mut again = again;
            let _ = again.kill();
            let _ = again.wait();
        }
        for (run, bytes, mtime) in &complete {
            let s = run.join("summary.json");
            assert_eq!(
                &std::fs::read(&s).unwrap(),
                bytes,
                "{} was redone",
                run.display()
            );
            assert_eq!(&std::fs::metadata(&s).unwrap().modified().unwrap(), mtime);
        }
    }
    assert!(kills >= 1, "the reproduction was never caught mid-run");
    // A last start completes whatever is left; then every run equals the reference.
    finish(reproduce(&config, &interrupted));
    let (a, b) = (run_dirs(&reference.join("killed")), run_dirs(&dir));
    assert_eq!(a.len(), 4);
    assert_eq!(
        a.iter().map(|p| p.file_name()).collect::<Vec<_>>(),
        b.iter().map(|p| p.file_name()).collect::<Vec<_>>()
    );
    for (x, y) in a.iter().zip(&b) {
        for file in ["metrics.csv", "eval.csv", "updates.csv", "config.toml"] {
            let (fx, fy) = (std::fs::read(x.join(file)), std::fs::read(y.join(file)));
            if file == "updates.csv" {
                // Its `sps` column is wall-clock; compare everything else.
                let strip = |b: Vec<u8>| {
                    let text = String::from_utf8(b).unwrap();
                    let sps = text
                        .lines()
                        .next()
                        .and_then(|h| h.split(',').position(|c| c == "sps"))
                        .expect("an sps column");
                    text.lines()
                        .map(|l| {
                            let mut cells: Vec<&str> = l.split(',').collect();
                            cells.remove(sps);
                            cells.join(",")
                        })
                        .collect::<Vec<_>>()
                };
                assert_eq!(strip(fx.unwrap()), strip(fy.unwrap()), "{}", y.display());
            } else {
                assert_eq!(fx.unwrap(), fy.unwrap(), "{file} of {}", y.display());
            }
        }
    }
}
