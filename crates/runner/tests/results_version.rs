//! Results versions: every run's `config.toml` carries the version of the code that trained
//! it (none: version 1); a run of another version is stale: experiment execution replaces
//! it (trained again, or copied current from another experiment) instead of skipping it,
//! `--resume` refuses it, and tables and figures drawn from it say so.

use pdmrl_agents::{AgentConfig, TrainerConfig, TrainerKind};
use pdmrl_envs::Registry;
use pdmrl_runner::RESULTS_VERSION;
use pdmrl_runner::experiment::{Experiment, PlannedRun, run_experiment, run_id, stale_version};
use pdmrl_runner::progress::RunEvent;
use pdmrl_runner::reproduce::{reproduce, write_report};
use pdmrl_runner::resolve::{RunConfig, read_run_config};
use pdmrl_runner::run::{RunOptions, RunOutcome, train_run};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The first line of a current `config.toml`.
fn version_line() -> String {
    format!("results_version = {RESULTS_VERSION}\n")
}

/// Makes the run in `dir` a run of version 1, as code before results versions wrote it:
/// its `config.toml` without the key.
fn make_version_1(dir: &Path) {
    let path = dir.join("config.toml");
    let text = read(&path);
    let old = text.strip_prefix(&version_line()).unwrap_or_else(|| {
        panic!(
            "{} does not start with the version:\n{text}",
            path.display()
        )
    });
    std::fs::write(&path, old).unwrap();
}

/// A tiny PPO experiment on CartPole-v1: `bp` on `seeds`, 512 steps, two evaluations.
fn experiment_file(dir: &Path, name: &str, seeds: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\n[env]\nid = \"CartPole-v1\"\n[algo]\nname = \"ppo\"\nnum_steps = 64\n[trainer]\nkind = \"bp\"\n[run]\nseeds = {seeds}\ntotal_timesteps = 512\neval_every = 256\neval_episodes = 2\n"
        ),
    )
    .unwrap();
    path
}

fn plan(file: &Path) -> (Experiment, Vec<PlannedRun>) {
    let experiment = Experiment::from_file(file).unwrap();
    let runs = experiment.plan(&Registry::with_builtins()).unwrap();
    (experiment, runs)
}

fn small_config() -> RunConfig {
    RunConfig::new(
        "CartPole-v1".into(),
        1,
        TrainerConfig::new(TrainerKind::Bp),
        AgentConfig {
            num_steps: 64,
            total_timesteps: 512,
            eval_every: 0,
            ..AgentConfig::default()
        },
    )
}

/// A committed `config.toml` (no key) reads as version 1 and writes back byte for byte; a
/// current one starts with the version, reads back equal, and has the same run id.
#[test]
fn a_config_without_the_key_reads_as_version_1() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../results/pendulum/ppo-Pendulum-v1-bp-seed1-a468df93");
    let text = read(&dir.join("config.toml"));
    assert!(!text.contains("results_version"), "{text}");
    let old: RunConfig = toml::from_str(&text).unwrap();
    assert_eq!(old.results_version, 1);
    assert_eq!(toml::to_string(&old).unwrap(), text);
    assert_eq!(run_id(&old), "ppo-Pendulum-v1-bp-seed1-a468df93");

    let current = RunConfig {
        results_version: RESULTS_VERSION,
        ..old.clone()
    };
    let written = toml::to_string(&current).unwrap();
    assert_eq!(written, format!("{}{text}", version_line()));
    assert_eq!(toml::from_str::<RunConfig>(&written).unwrap(), current);
    // Other bits, the same run, the same folder.
    assert_ne!(current, old);
    assert!(current.same_run(&old) && old.same_run(&current));
    assert_eq!(run_id(&current), run_id(&old));
    assert_eq!(current.identity_text(), text);
    // Another seed is another run, whatever the version.
    let other = RunConfig {
        seed: 2,
        ..current.clone()
    };
    assert!(!other.same_run(&old));
}

/// A new run writes the current version first in its `config.toml`, and says it in run.log.
#[test]
fn a_fresh_run_writes_the_current_version() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run");
    let progress = |_| {};
    let outcome = train_run(
        &small_config(),
        &Registry::with_builtins(),
        &out,
        &RunOptions::new(&progress),
    )
    .unwrap();
    assert!(matches!(outcome, RunOutcome::Complete(_)));
    assert!(
        read(&out.join("config.toml")).starts_with(&version_line()),
        "{}",
        read(&out.join("config.toml"))
    );
    assert_eq!(
        read_run_config(&out).unwrap().results_version,
        RESULTS_VERSION
    );
    let log = read(&out.join("run.log"));
    assert!(
        log.contains(&format!("results version {RESULTS_VERSION}\n")),
        "{log}"
    );
}

/// Every event of a run_experiment call, as text.
fn run_collecting(
    runs: &[PlannedRun],
    dir: &Path,
) -> (pdmrl_runner::experiment::ExperimentReport, Vec<String>) {
    let events = Mutex::new(Vec::new());
    let report = run_experiment(
        runs,
        dir,
        2,
        10,
        &Registry::with_builtins(),
        &|e: RunEvent<'_>| {
            if !matches!(e, RunEvent::Trained { .. }) {
                events.lock().unwrap().push(format!("{e:?}"));
            }
        },
    )
    .unwrap();
    (report, events.into_inner().unwrap())
}

/// Of three complete runs, one made stale (version 1) is trained again from scratch, one
/// stale and interrupted is not resumed from its stale checkpoint but trained again, and
/// the current one is skipped with its files untouched.
#[test]
fn experiment_execution_reruns_stale_runs_and_skips_current_ones() {
    let d = tempfile::tempdir().unwrap();
    let file = experiment_file(d.path(), "ver", "[1, 2, 3]");
    let results = d.path().join("results");
    let first = reproduce(&file, &results, 2).unwrap();
    assert_eq!(first.report.done.len(), 3, "{:?}", first.report.failed);
    assert!(first.report.stale.is_empty());
    let (_, runs) = plan(&file);
    let dir = results.join("ver");
    let (stale, current, interrupted) = (&runs[0], &runs[1], &runs[2]);
    let metrics_before = read(&dir.join(&stale.id).join("metrics.csv"));
    make_version_1(&dir.join(&stale.id));
    make_version_1(&dir.join(&interrupted.id));
    // An interrupted run: no summary, a checkpoint (of version 1).
    std::fs::remove_file(dir.join(&interrupted.id).join("summary.json")).unwrap();
    assert!(dir.join(&interrupted.id).join("checkpoint").is_dir());
    assert_eq!(stale_version(&dir.join(&stale.id), &stale.config), Some(1));
    assert_eq!(stale_version(&dir.join(&current.id), &current.config), None);
    let current_files: Vec<(PathBuf, Vec<u8>)> = ["config.toml", "metrics.csv", "summary.json"]
        .iter()
        .map(|f| dir.join(&current.id).join(f))
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();

    let (report, events) = run_collecting(&runs, &dir);
    let mut done = report.done.clone();
    done.sort();
    let mut want = vec![stale.id.clone(), interrupted.id.clone()];
    want.sort();
    assert_eq!(done, want, "{report:?}");
    assert_eq!(report.skipped, vec![current.id.clone()]);
    let mut found = report.stale.clone();
    found.sort();
    let mut want_stale = vec![(stale.id.clone(), 1), (interrupted.id.clone(), 1)];
    want_stale.sort();
    assert_eq!(found, want_stale);
    // Said as it happens: stale, then started from step 0 (never resumed).
    for id in [&stale.id, &interrupted.id] {
        let said = events
            .iter()
            .position(|e| e == &format!("Stale {{ id: {id:?}, version: 1, copied: false }}"))
            .unwrap_or_else(|| panic!("no Stale event for {id}: {events:#?}"));
        let started = events
            .iter()
            .position(|e| e.starts_with(&format!("Started {{ id: {id:?}, resumed_at: 0,")))
            .unwrap_or_else(|| panic!("{id} not started from scratch: {events:#?}"));
        assert!(said < started, "{events:#?}");
        let out = dir.join(id);
        assert!(read(&out.join("config.toml")).starts_with(&version_line()));
        let log = read(&out.join("run.log"));
        assert!(
            log.contains(&format!(
                "run of results version 1 (stale: this code's is {RESULTS_VERSION})"
            )),
            "{log}"
        );
    }
    assert!(
        read(&dir.join(&stale.id).join("run.log")).contains("replaces a complete run"),
        "the complete stale run"
    );
    assert!(
        read(&dir.join(&interrupted.id).join("run.log")).contains("replaces an incomplete run"),
        "the interrupted stale run"
    );
    // This code's numerics are those it trained the run with before.
    assert_eq!(
        read(&dir.join(&stale.id).join("metrics.csv")),
        metrics_before
    );
    for (path, bytes) in current_files {
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
    }
    // Now every run is current: nothing left to do.
    let (again, _) = run_collecting(&runs, &dir);
    assert_eq!(again.skipped.len(), 3);
    assert!(again.done.is_empty() && again.stale.is_empty());
}

/// `reproduce` says in its report how many stale runs it trained again.
#[test]
fn the_reproduction_report_names_the_stale_runs() {
    let d = tempfile::tempdir().unwrap();
    let file = experiment_file(d.path(), "rep", "[1]");
    let results = d.path().join("results");
    reproduce(&file, &results, 1).unwrap();
    let (_, runs) = plan(&file);
    make_version_1(&results.join("rep").join(&runs[0].id));
    let r = reproduce(&file, &results, 1).unwrap();
    assert_eq!(r.report.done, vec![runs[0].id.clone()]);
    let text = r.report_text();
    assert!(
        text.contains(&format!(
            "1 runs were stale (results version 1; this code: {RESULTS_VERSION}): trained again or copied, not skipped"
        )),
        "{text}"
    );
}

/// A stale run whose current version another experiment's folder holds is replaced by a
/// copy of it (not trained), its old files gone first.
#[test]
fn a_stale_run_is_replaced_by_a_current_copy_from_a_sibling() {
    let d = tempfile::tempdir().unwrap();
    let results = d.path().join("results");
    let a = experiment_file(d.path(), "a", "[1]");
    reproduce(&a, &results, 1).unwrap();
    let b = experiment_file(d.path(), "b", "[1]");
    let (_, runs) = plan(&b);
    let id = &runs[0].id;
    // b holds the same run, stale.
    let (from, out) = (results.join("a").join(id), results.join("b").join(id));
    std::fs::create_dir_all(&out).unwrap();
    for f in ["config.toml", "metrics.csv", "eval.csv", "summary.json"] {
        std::fs::copy(from.join(f), out.join(f)).unwrap();
    }
    std::fs::write(out.join("actions.bin"), b"old").unwrap();
    make_version_1(&out);
    let (report, events) = run_collecting(&runs, &results.join("b"));
    assert_eq!(report.copied, vec![id.clone()], "{report:?}");
    assert!(report.done.is_empty());
    assert_eq!(report.stale, vec![(id.clone(), 1)]);
    assert!(
        events.contains(&format!("Stale {{ id: {id:?}, version: 1, copied: true }}")),
        "{events:#?}"
    );
    assert_eq!(
        read(&out.join("config.toml")),
        read(&from.join("config.toml"))
    );
    assert!(
        !out.join("actions.bin").exists(),
        "the stale run's files are removed"
    );
    let log = read(&out.join("run.log"));
    assert!(
        log.contains("replacing a run of results version 1 (stale"),
        "{log}"
    );
}

/// `--resume` of a run of another version refuses, naming both versions and what to do.
#[test]
fn resume_refuses_a_run_of_another_version() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run");
    let registry = Registry::with_builtins();
    let progress = |_| {};
    let cut = RunOptions {
        checkpoint_every: 1,
        stop_after: Some(1),
        ..RunOptions::new(&progress)
    };
    let config = small_config();
    assert_eq!(
        train_run(&config, &registry, &out, &cut).unwrap(),
        RunOutcome::Stopped { updates: 1 }
    );
    make_version_1(&out);
    let resume = RunOptions {
        resume: true,
        ..RunOptions::new(&progress)
    };
    // As `pdmrl train --resume` does: the saved config, of version 1.
    let saved = read_run_config(&out).unwrap();
    assert_eq!(saved.results_version, 1);
    let err = train_run(&saved, &registry, &out, &resume)
        .unwrap_err()
        .to_string();
    for want in [
        "holds a run of results version 1".to_string(),
        format!("this code trains results version {RESULTS_VERSION}"),
        "start it again from scratch".to_string(),
        "--force".to_string(),
    ] {
        assert!(err.contains(&want), "{want:?} not in: {err}");
    }
    // The current config, resumed over the stale run, is refused the same way.
    let err = train_run(&config, &registry, &out, &resume)
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds a run of results version 1"), "{err}");
    // Nothing was touched: still the stale, interrupted run.
    assert_eq!(read_run_config(&out).unwrap(), saved);
    assert!(!out.join("summary.json").exists());
}

/// Tables and figures drawn from stale runs carry the mark, naming the version; drawn from
/// current runs, they do not.
#[test]
fn tables_and_figures_of_stale_runs_are_marked() {
    let d = tempfile::tempdir().unwrap();
    let file = experiment_file(d.path(), "fig", "[1, 2]");
    let results = d.path().join("results");
    let r = reproduce(&file, &results, 2).unwrap();
    let (experiment, runs) = plan(&file);
    let registry = Registry::with_builtins();
    let svg = |r: &[PathBuf]| -> String {
        let curves = r
            .iter()
            .find(|f| f.to_string_lossy().ends_with("fig_curves.svg"))
            .expect("a curves figure");
        read(curves)
    };
    let md = read(&r.summary_md);
    assert!(!md.contains("stale"), "{md}");
    assert!(!svg(&r.figures).contains("stale"));

    make_version_1(&results.join("fig").join(&runs[0].id));
    let (summary, figures) = write_report(&experiment, &runs, &results, &registry).unwrap();
    let md = read(&summary);
    let note = format!(
        "1 of 2 runs of results version 1 (current code: {RESULTS_VERSION}): stale until regenerated"
    );
    // Under the heading and under the env's tables: both runs drawn.
    assert_eq!(md.matches(&format!("_{note}._\n")).count(), 2, "{md}");
    assert!(md.contains("2 of 2 runs complete"), "{md}");
    for f in &figures {
        if f.extension().is_some_and(|e| e == "svg") {
            assert!(read(f).contains(&note), "{}", f.display());
        }
    }
    make_version_1(&results.join("fig").join(&runs[1].id));
    let (summary, figures) = write_report(&experiment, &runs, &results, &registry).unwrap();
    let md = read(&summary);
    let note = format!(
        "_Results version 1 (current code: {RESULTS_VERSION}): stale until regenerated._\n"
    );
    assert_eq!(md.matches(&note).count(), 2, "{md}");
    assert!(svg(&figures).contains("results version 1 (current code:"));
}
