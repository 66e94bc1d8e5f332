//! Many writers of one experiment's tables and figures at once (the shards of a
//! reproduction each redraw them as they end): none fails, the files end as one writer
//! alone draws them, and no temporary file is left behind.

use pdmrl_envs::Registry;
use pdmrl_runner::atomic::write_atomic;
use pdmrl_runner::experiment::Experiment;
use pdmrl_runner::reproduce::{reproduce, write_report};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Barrier;

const EXPERIMENT: &str = r#"name = "crowd"
[env]
id = "CartPole-v1"
[algo]
name = "ppo"
[trainer]
kind = ["bp", "frozen"]
[run]
seeds = [1]
total_timesteps = 2048
eval_every = 1024
eval_episodes = 2
"#;

/// Every file under `dir`, with its bytes, sorted by path.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// Names under `dir` that look like temporary files.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    tree(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.to_string_lossy().contains(".tmp"))
        .collect()
}

/// The files a report writes (the experiment's tables and its figures), with their bytes.
fn report_files(results: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    tree(results)
        .into_iter()
        .filter(|(p, _)| {
            let s = p.to_string_lossy();
            s.starts_with("figures") || s == "crowd/summary.md" || s == "crowd/summary.csv"
        })
        .collect()
}

#[test]
fn fifty_concurrent_report_writers_never_fail_and_leave_no_temporary_file() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("crowd.toml");
    std::fs::write(&config, EXPERIMENT).unwrap();
    let results = d.path().join("results");
    let first = reproduce(&config, &results, 2).unwrap();
    assert_eq!(first.report.done.len(), 2, "{}", first.report_text());
    let expected = report_files(&results);
    // summary.md and .csv, and curves, final and stability as PNG and SVG.
    assert_eq!(expected.len(), 8, "{expected:?}");
    let summary_md = std::fs::read(&first.summary_md).unwrap();

    let registry = Registry::with_builtins();
    let experiment = Experiment::from_file(&config).unwrap();
    let runs = experiment.plan(&registry).unwrap();
    // 50 writers at once: 20 processes (`pdmrl reproduce`, every run complete: it only
    // redraws), 20 threads redrawing with `write_report`, and 10 threads writing the
    // summary through `write_atomic`, each 5 times.
    const PROCESSES: usize = 20;
    const REPORT_THREADS: usize = 20;
    const WRITE_THREADS: usize = 10;
    assert_eq!(PROCESSES + REPORT_THREADS + WRITE_THREADS, 50);
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_pdmrl"))
                .args(["reproduce", config.to_str().unwrap(), "--jobs", "1"])
                .arg("--results")
                .arg(&results)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let barrier = Barrier::new(REPORT_THREADS + WRITE_THREADS);
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for _ in 0..REPORT_THREADS {
            handles.push(s.spawn(|| {
                barrier.wait();
                write_report(&experiment, &runs, &results, &registry).map(|_| ())
            }));
        }
        for _ in 0..WRITE_THREADS {
            handles.push(s.spawn(|| {
                barrier.wait();
                (0..5).try_for_each(|_| write_atomic(&first.summary_md, &summary_md))
            }));
        }
        for h in handles {
            h.join().unwrap().unwrap();
        }
    });
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("0 runs done, 2 skipped (complete), 0 failed"),
            "{stderr}"
        );
    }
    assert_eq!(temporaries(d.path()), Vec::<PathBuf>::new());
    // Every writer drew the same report: the files are the single writer's, byte for byte.
    let after = report_files(&results);
    assert_eq!(
        after.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        expected.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for ((path, a), (_, b)) in after.iter().zip(&expected) {
        assert!(a == b, "{} differs from a single writer's", path.display());
    }
}

#[test]
fn concurrent_atomic_writes_of_one_file_leave_one_whole_version() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("shared").join("table.md");
    // Each writer's version is long (several pages) and its own, so a mix would show.
    let version = |w: usize, k: usize| format!("writer {w} write {k}\n").repeat(2000);
    let barrier = Barrier::new(50);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|w| {
                let (barrier, path, version) = (&barrier, &path, &version);
                s.spawn(move || {
                    barrier.wait();
                    (0..20).try_for_each(|k| write_atomic(path, version(w, k).as_bytes()))
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    });
    let text = std::fs::read_to_string(&path).unwrap();
    let first = text.lines().next().unwrap().to_string();
    assert_eq!(text, format!("{first}\n").repeat(2000));
    assert!(
        first.starts_with("writer ") && first.contains(" write 19"),
        "{first}"
    );
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["table.md"]);
}
