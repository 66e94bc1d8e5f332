//! Same config and seed give identical results, whatever the number of worker threads.

use pdmrl_agents::TrainerKind;
use pdmrl_envs::Registry;
use pdmrl_runner::experiment::Experiment;
use pdmrl_runner::experiment::run_experiment;
use pdmrl_runner::resolve::RunConfig;
use pdmrl_runner::run::{RunOptions, train_run};
use std::path::Path;

fn small(kind: TrainerKind, seed: u64) -> RunConfig {
    RunConfig {
        results_version: pdmrl_runner::RESULTS_VERSION,
        env_id: "CartPole-v1".into(),
        seed,
        trainer: pdmrl_agents::TrainerConfig::new(kind),
        agent: pdmrl_agents::AgentConfig {
            total_timesteps: 4096,
            eval_every: 2048,
            ..Default::default()
        },
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn same_seed_same_metrics() {
    let d = tempfile::tempdir().unwrap();
    let registry = Registry::with_builtins();
    let options = RunOptions::new(&|_| {});
    for kind in [TrainerKind::Bp, TrainerKind::Pdm] {
        let (a, b, c) = (
            d.path().join(format!("{kind}-a")),
            d.path().join(format!("{kind}-b")),
            d.path().join(format!("{kind}-c")),
        );
        train_run(&small(kind, 7), &registry, &a, &options).unwrap();
        train_run(&small(kind, 7), &registry, &b, &options).unwrap();
        train_run(&small(kind, 8), &registry, &c, &options).unwrap();
        let ma = read(&a.join("metrics.csv"));
        assert!(ma.lines().count() > 20);
        assert_eq!(
            ma,
            read(&b.join("metrics.csv")),
            "{kind}: same seed, different metrics"
        );
        assert_ne!(
            ma,
            read(&c.join("metrics.csv")),
            "{kind}: the seed changes nothing"
        );
    }
}

#[test]
fn one_and_two_worker_threads_give_identical_results() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("tiny.toml");
    std::fs::write(
        &config,
        experiment("tiny", "[\"bp\", \"pdm\"]", "[1, 2]", 2048, "", ""),
    )
    .unwrap();
    let registry = Registry::with_builtins();
    let exp = Experiment::from_file(&config).unwrap();
    let runs = exp.plan(&registry).unwrap();
    assert_eq!(runs.len(), 4);
    // Different parents: a folder beside `one` would be a sibling experiment, and its
    // complete runs would be copied instead of trained (experiment::copy_from_siblings).
    let (one, two) = (d.path().join("one/tiny"), d.path().join("two/tiny"));
    let r1 = run_experiment(&runs, &one, 1, 10, &registry, &|_| {}).unwrap();
    let r2 = run_experiment(&runs, &two, 2, 10, &registry, &|_| {}).unwrap();
    assert_eq!(
        (r1.done.len(), r2.done.len(), r2.copied.len()),
        (4, 4, 0),
        "{:?} {:?}",
        r1.failed,
        r2.failed
    );
    for run in &runs {
        let a = read(&one.join(&run.id).join("metrics.csv"));
        assert!(a.lines().count() > 10);
        assert_eq!(
            a,
            read(&two.join(&run.id).join("metrics.csv")),
            "{}",
            run.id
        );
    }
    // A second call skips the complete runs.
    let again = run_experiment(&runs, &one, 2, 10, &registry, &|_| {}).unwrap();
    assert_eq!((again.done.len(), again.skipped.len()), (0, 4));
}

#[test]
fn a_run_without_episodes_is_complete_and_summarised() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("noep.toml");
    // One step per env per iteration over 512 envs: no CartPole episode can finish.
    std::fs::write(
        &config,
        experiment(
            "noep",
            "\"bp\"",
            "[1]",
            512,
            "num_envs = 512\nnum_steps = 1\n",
            "",
        ),
    )
    .unwrap();
    let r = pdmrl_runner::reproduce::reproduce(&config, d.path(), 1).unwrap();
    assert_eq!(r.report.done.len(), 1, "{:?}", r.report.failed);
    let md = std::fs::read_to_string(&r.summary_md).unwrap();
    assert!(
        md.contains("1 without a finished episode") && md.contains("n/a"),
        "{md}"
    );
    // Reproducing again reads the summary back and skips the run.
    let again = pdmrl_runner::reproduce::reproduce(&config, d.path(), 1).unwrap();
    assert_eq!(again.report.skipped.len(), 1);
}

#[test]
fn a_folder_being_written_is_locked() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    let held = std::fs::File::create(out.join(".lock")).unwrap();
    held.lock().unwrap();
    let options = RunOptions::new(&|_| {});
    let err = train_run(
        &small(TrainerKind::Bp, 1),
        &Registry::with_builtins(),
        &out,
        &options,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("another process is writing"), "{err}");
    held.unlock().unwrap();
    train_run(
        &small(TrainerKind::Bp, 1),
        &Registry::with_builtins(),
        &out,
        &options,
    )
    .unwrap();
}

/// The option tables of the README's experiment-file example parse into the configs.
#[test]
fn option_tables_parse() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("opts.toml");
    std::fs::write(
        &path,
        r#"name = "opts"
[env]
id = "CartPole-v1"
[algo]
name = "ppo"
[run]
seeds = [1]
total_timesteps = 2048
[trainer]
kind = ["pdm", "pdm_guided"]
features = "post_update"
[trainer.guidance]
weight = 0.5
actor_signal = "return"
critic_signal = "none"
[trainer.pdm]
normalize = "max"
target = "observation"
pairs = { sampled = { k = 16 } }
"#,
    )
    .unwrap();
    let runs = Experiment::from_file(&path)
        .unwrap()
        .plan(&Registry::with_builtins())
        .unwrap();
    let t = pdmrl_agents::TrainerOptions::from(runs[1].config.trainer);
    assert_eq!(t.kind, TrainerKind::PdmGuided);
    assert_eq!(t.features, pdmrl_agents::Features::PostUpdate);
    assert_eq!(t.guidance.weight, 0.5);
    assert_eq!(t.guidance.critic_signal, pdmrl_agents::GuidanceSignal::None);
    assert_eq!(t.pdm.pairs, pdmrl_agents::Pairs::Sampled { k: 16 });
    assert_eq!(t.pdm.target.name(), "observation");
    // The resolved config round-trips through config.toml.
    let text = toml::to_string(&runs[1].config).unwrap();
    assert_eq!(toml::from_str::<RunConfig>(&text).unwrap(), *runs[1].config);
}

/// `--shard I/N`: disjoint slices that together run every run once; each shard's table
/// counts every complete run in the folder.
#[test]
fn shards_split_the_runs_and_cover_them() {
    use pdmrl_runner::experiment::Shard;
    use pdmrl_runner::reproduce::reproduce_shard;
    for bad in ["0/2", "3/2", "1/0", "2", "a/b", ""] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
    let s: Shard = "2/3".parse().unwrap();
    let picked: Vec<usize> = (0..7).filter(|&k| s.contains(k)).collect();
    assert_eq!(picked, vec![1, 4]);
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("sh.toml");
    std::fs::write(
        &config,
        experiment(
            "sh",
            "[\"bp\", \"pdm\"]",
            "[1, 2]",
            1024,
            "",
            "eval_every = 512\neval_episodes = 2\n",
        ),
    )
    .unwrap();
    let first = reproduce_shard(&config, d.path(), 1, Some("1/2".parse().unwrap())).unwrap();
    assert_eq!(first.report.done.len(), 2);
    let md = std::fs::read_to_string(&first.summary_md).unwrap();
    assert!(
        md.contains("| `bp` | 1 |") && md.contains("| `pdm` | 1 |"),
        "{md}"
    );
    let second = reproduce_shard(&config, d.path(), 1, Some("2/2".parse().unwrap())).unwrap();
    assert_eq!(second.report.done.len(), 2);
    let mut ids: Vec<String> = first.report.done.clone();
    ids.extend(second.report.done.clone());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "the shards are disjoint and cover the runs");
    let md = std::fs::read_to_string(&second.summary_md).unwrap();
    assert!(
        md.contains("| `bp` | 2 |") && md.contains("| `pdm` | 2 |"),
        "{md}"
    );
    let all = pdmrl_runner::reproduce::reproduce(&config, d.path(), 1).unwrap();
    assert_eq!(all.report.skipped.len(), 4);
}

/// `[sweep]` expands into the cartesian product of its lists; every point gets its own
/// stable run id (a hash of the resolved config) and its own row in the tables.
#[test]
fn sweeps_expand_into_distinct_stably_named_runs() {
    let d = tempfile::tempdir().unwrap();
    let write = |name: &str, sweep: &str| {
        let path = d.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            experiment(name, "\"pdm\"", "[1]", 512, "", "eval_every = 0\n")
                + &format!("[trainer.pdm]\nnormalize = \"max\"\n[sweep]\n{sweep}"),
        )
        .unwrap();
        path
    };
    let registry = Registry::with_builtins();
    let path = write(
        "sw",
        "\"trainer.local_lr\" = [1e-3, 1e-4]\n\"network.hidden_sizes\" = [[8], [8, 8]]\n\"trainer.pdm.metric\" = [\"euclidean\"]\n",
    );
    let plan = || {
        Experiment::from_file(&path)
            .unwrap()
            .plan(&registry)
            .unwrap()
    };
    let runs = plan();
    assert_eq!(runs.len(), 4);
    let ids: std::collections::BTreeSet<_> = runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 4, "distinct ids");
    assert_eq!(
        runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        plan().iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        "stable ids"
    );
    // Keys in order: network.hidden_sizes varies slowest.
    assert_eq!(runs[0].config.agent.hidden_sizes, vec![8]);
    assert_eq!(runs[0].config.trainer.local().local_lr, 1e-3);
    assert_eq!(runs[1].config.trainer.local().local_lr, 1e-4);
    assert_eq!(runs[3].config.agent.hidden_sizes, vec![8, 8]);
    // Nested trainer keys merge into the [trainer] table instead of replacing it.
    assert_eq!(runs[0].config.trainer.local().pdm.normalize.name(), "max");
    assert!(runs[1].label.starts_with("pdm ") && runs[1].label.contains("trainer.local_lr=0.0001"));
    assert!(runs[0].id.starts_with("ppo-CartPole-v1-pdm-seed1-"));
    // Each point is its own row.
    let r = pdmrl_runner::reproduce::reproduce(&path, d.path(), 2).unwrap();
    assert_eq!(r.report.done.len(), 4, "{:?}", r.report.failed);
    let md = std::fs::read_to_string(&r.summary_md).unwrap();
    for run in &runs {
        assert!(md.contains(&format!("| `{}` | 1 |", run.label)), "{md}");
    }
    for (sweep, needle, line) in [
        ("\"run.seeds\" = [[1]]\n", "must be `algo.KEY`", 15),
        ("\"trainer.kind\" = [\"bp\"]\n", "must be `algo.KEY`", 15),
        ("\"network.width\" = [8]\n", "must be `algo.KEY`", 15),
        ("\"algo.learning_rate\" = []\n", "lists no values", 15),
        ("\"algo.learning_rat\" = [1.0]\n", "learning_rat", 15),
        ("\"algo.learning_rate\" = [1e-3, 1e-3]\n", "same config", 15),
        ("\"trainer.local_lr\" = [-1.0]\n", "local_lr", 15),
        (
            "\"algo.gamma\" = [0.9, \"high\"]\n",
            "`sweep.algo.gamma` = \"high\"",
            15,
        ),
    ] {
        let p = write("bad", sweep);
        let err = Experiment::from_file(&p)
            .and_then(|e| e.plan(&registry))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(needle) && err.contains(&format!("bad.toml`, line {line}:")),
            "{sweep}: {err}"
        );
    }
}

/// An experiment file on CartPole-v1 with PPO: `algo` and `run` are extra lines of those
/// sections.
fn experiment(
    name: &str,
    trainers: &str,
    seeds: &str,
    steps: usize,
    algo: &str,
    run: &str,
) -> String {
    format!(
        "name = \"{name}\"\n[env]\nid = \"CartPole-v1\"\n[algo]\nname = \"ppo\"\n{algo}[trainer]\nkind = {trainers}\n[run]\nseeds = {seeds}\ntotal_timesteps = {steps}\n{run}"
    )
}

/// A multi-env depth sweep gets a section per env in summary.md, an `env` column in
/// summary.csv, and every figure (curves, final, stability, depth) as PNG and SVG.
#[test]
fn reports_cover_every_env_and_draw_every_figure() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("rep.toml");
    std::fs::write(
        &path,
        "name = \"rep\"\n[env]\nid = [\"CartPole-v1\", \"Acrobot-v1\"]\n[algo]\nname = \"ppo\"\nnum_steps = 64\n[trainer]\nkind = [\"bp\", \"pdm\"]\n[run]\nseeds = [1, 2]\ntotal_timesteps = 512\neval_every = 256\neval_episodes = 2\n[sweep]\n\"network.hidden_sizes\" = [[8], [8, 8]]\n",
    )
    .unwrap();
    let r = pdmrl_runner::reproduce::reproduce(&path, d.path(), 2).unwrap();
    assert_eq!(r.report.done.len(), 16, "{:?}", r.report.failed);
    let md = read(&r.summary_md);
    assert!(
        md.contains("## CartPole-v1") && md.contains("## Acrobot-v1"),
        "{md}"
    );
    let csv = read(&d.path().join("rep").join("summary.csv"));
    assert!(csv.starts_with("env,trainer,metric,seeds,"), "{csv}");
    // 4 groups (2 trainers x 2 networks) per env, under each metric with values: on
    // CartPole-v1 both (eval, train); on Acrobot-v1 only eval, as no training episode ends
    // within 512 steps.
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("Acrobot-v1,")).count(),
        4,
        "{csv}"
    );
    // Labels with commas (`[8, 8]`) are quoted: every row has every column.
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let width = reader.headers().unwrap().len();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 12);
    assert_eq!(
        records.iter().filter(|r| &r[2] == "eval").count(),
        8,
        "{csv}"
    );
    assert!(records.iter().all(|r| r.len() == width), "{csv}");
    assert!(
        records
            .iter()
            .any(|r| &r[1] == "pdm network.hidden_sizes=[8, 8]"),
        "{csv}"
    );
    let mut names: Vec<String> = r
        .figures
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = ["curves", "depth", "final", "stability"]
        .iter()
        .flat_map(|s| [format!("rep_{s}.png"), format!("rep_{s}.svg")])
        .collect();
    want.sort();
    assert_eq!(names, want);
    for f in &r.figures {
        assert!(
            std::fs::metadata(f).unwrap().len() > 1000,
            "{}",
            f.display()
        );
    }
}
