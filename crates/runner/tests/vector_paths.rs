//! The same config and seed give the same bits on every vector path the CPU dispatch can
//! choose (`pdmrl_tensor::simd`): each path this CPU has is forced in turn and whole runs
//! are compared file by file (metrics, updates, evaluations, checkpointed parameters).
//! One test in its own binary: forcing a path is process-wide.

use pdmrl_agents::TrainerKind;
use pdmrl_envs::Registry;
use pdmrl_runner::resolve::RunConfig;
use pdmrl_runner::run::{RunOptions, train_run};
use pdmrl_tensor::simd::{self, SimdPath};
use std::path::Path;

fn config(env_id: &str, kind: TrainerKind, total_timesteps: usize, hidden: usize) -> RunConfig {
    RunConfig {
        results_version: pdmrl_runner::RESULTS_VERSION,
        env_id: env_id.into(),
        seed: 3,
        trainer: pdmrl_agents::TrainerConfig::new(kind),
        agent: pdmrl_agents::AgentConfig {
            total_timesteps,
            eval_every: total_timesteps / 2,
            hidden_sizes: vec![hidden, hidden],
            ..Default::default()
        },
    }
}

/// Every file of a finished run that holds results: not the lock; not `run.log`,
/// `summary.json` and `checkpoint/progress.json`, which hold wall-clock times; `updates.csv`
/// without its `sps` column.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                stack.push(path);
            } else if !["summary.json", "progress.json", ".lock", ".log"]
                .iter()
                .any(|skip| name.ends_with(skip))
            {
                let mut bytes = std::fs::read(&path).unwrap();
                if name == "updates.csv" {
                    bytes = without_column(&bytes, "sps");
                }
                out.push((name, bytes));
            }
        }
    }
    out.sort();
    out
}

/// A CSV file without one column (`updates.csv`'s `sps` is wall-clock steps per second).
fn without_column(csv: &[u8], column: &str) -> Vec<u8> {
    let text = String::from_utf8(csv.to_vec()).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let skip = header.iter().position(|h| *h == column).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let kept: Vec<&str> = (0..fields.len())
            .filter(|i| *i != skip)
            .map(|i| fields[i])
            .collect();
        out.push_str(&kept.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

#[test]
fn every_vector_path_gives_the_same_bits() {
    let paths = simd::available();
    eprintln!(
        "vector paths on this CPU: {:?} (detected: {})",
        paths,
        simd::detected()
    );
    assert_eq!(paths[0], SimdPath::Portable);
    let registry = Registry::with_builtins();
    let options = RunOptions::new(&|_| {});
    let d = tempfile::tempdir().unwrap();
    let runs = [
        // CartPole: 4 inputs, [64, 64], heads of 2 and 1 columns (the partial tiles).
        ("CartPole-v1", TrainerKind::Bp, 2048, 64),
        ("CartPole-v1", TrainerKind::PdmGuided, 2048, 64),
        // MinAtar: 400 inputs (chains longer than one block of the AVX2 kernel), hidden
        // width 40 (tiles of 16, 16 and 8 columns), 3 actions.
        ("MinAtar/Breakout-v1", TrainerKind::Bp, 1024, 40),
        ("MinAtar/Breakout-v1", TrainerKind::Pdm, 1024, 40),
    ];
    for (env_id, kind, steps, hidden) in runs {
        let mut first: Option<Vec<(String, Vec<u8>)>> = None;
        for &path in &paths {
            simd::force(Some(path)).unwrap();
            let out = d
                .path()
                .join(format!("{}-{kind}-{path}", env_id.replace('/', "_")));
            train_run(
                &config(env_id, kind, steps, hidden),
                &registry,
                &out,
                &options,
            )
            .unwrap();
            let got = files(&out);
            assert!(got.iter().any(|(n, _)| n == "metrics.csv"), "{got:?}");
            match &first {
                None => first = Some(got),
                Some(want) => {
                    let names =
                        |v: &[(String, Vec<u8>)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
                    assert_eq!(names(&got), names(want), "{env_id} {kind}: files on {path}");
                    for ((name, a), (_, b)) in got.iter().zip(want) {
                        assert!(
                            a == b,
                            "{env_id} {kind}: {name} differs on {path} from {}",
                            paths[0]
                        );
                    }
                }
            }
        }
    }
    simd::force(None).unwrap();
}
