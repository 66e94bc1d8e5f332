//! Same config and seed give identical results, whatever the number of worker threads.

use pdmrl_agents::TrainerKind;
use pdmrl_envs::Registry;
use pdmrl_runner::experiment::Experiment;
use pdmrl_runner::experiment::run_experiment;
use pdmrl_runner::run::{RunConfig, RunOptions, train_run};
use std::path::Path;

fn small(kind: TrainerKind, seed: u64) -> RunConfig {
    RunConfig {
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
        "name = \"tiny\"\nenv_id = \"CartPole-v1\"\nalgo = \"ppo\"\ntrainers = [\"bp\", \"pdm\"]\nseeds = [1, 2]\ntotal_timesteps = 2048\n",
    )
    .unwrap();
    let registry = Registry::with_builtins();
    let exp = Experiment::from_file(&config).unwrap();
    let runs = exp.plan(&config, &registry).unwrap();
    assert_eq!(runs.len(), 4);
    let (one, two) = (d.path().join("one"), d.path().join("two"));
    let r1 = run_experiment(&runs, &one, 1, &registry, &|_| {}).unwrap();
    let r2 = run_experiment(&runs, &two, 2, &registry, &|_| {}).unwrap();
    assert_eq!(
        (r1.done.len(), r2.done.len()),
        (4, 4),
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
    let again = run_experiment(&runs, &one, 2, &registry, &|_| {}).unwrap();
    assert_eq!((again.done.len(), again.skipped.len()), (0, 4));
}

#[test]
fn invalid_experiment_files_are_rejected_before_any_run() {
    let d = tempfile::tempdir().unwrap();
    let registry = Registry::with_builtins();
    let cases = [
        (
            "name = \"x\"\nenv_id = \"CartPole-v1\"\nalgo = \"ppo\"\ntrainers = [\"bp\"]\nseeds = [1, 1]\ntotal_timesteps = 2048\n",
            "seed 1 is listed twice",
        ),
        (
            "name = \"x\"\nenv_id = \"CartPole-v1\"\nalgo = \"ppo\"\ntrainers = [\"sgd\"]\nseeds = [1]\ntotal_timesteps = 2048\n",
            "unknown variant `sgd`",
        ),
        (
            "name = \"x\"\nenv_id = \"Pong-v5\"\nalgo = \"ppo\"\ntrainers = [\"bp\"]\nseeds = [1]\ntotal_timesteps = 2048\n",
            "unknown environment id `Pong-v5`",
        ),
        (
            "name = \"x\"\nenv_id = \"CartPole-v1\"\nalgo = \"ppo\"\ntrainers = [\"bp\"]\nseeds = [1]\ntotal_timesteps = 2048\nlearnin_rate = 1\n",
            "unknown field `learnin_rate`",
        ),
        (
            "name = \"x\"\nenv_id = \"CartPole-v1\"\nalgo = \"ppo\"\ntrainers = [\"bp\"]\nseeds = [1]\ntotal_timesteps = 2048\n[agent]\nnum_minibatches = 3\n",
            "num_minibatches",
        ),
    ];
    let base = "env_id = \"CartPole-v1\"\nalgo = \"ppo\"\nseeds = [1]\ntotal_timesteps = 2048\n";
    let more = [
        (
            format!("name = \"x\"\ntrainers = [\"bp\", \"bp\"]\n{base}"),
            "trainer `bp` is listed twice",
        ),
        (
            format!("name = \"../escape\"\ntrainers = [\"bp\"]\n{base}"),
            "`name`",
        ),
        (
            format!("name = \"\"\ntrainers = [\"bp\"]\n{base}"),
            "`name`",
        ),
        (
            format!("name = \"figures\"\ntrainers = [\"bp\"]\n{base}"),
            "is reserved",
        ),
        (
            format!("name = \"x\"\ntrainers = [\"bp\"]\n{base}[agent]\ntotal_timesteps = 5\n"),
            "`agent.total_timesteps` is not allowed",
        ),
        (
            format!("name = \"x\"\ntrainers = [\"bp\"]\n{base}[trainer]\nkind = \"pdm\"\n"),
            "`trainer.kind` is not allowed",
        ),
        (
            format!(
                "name = \"x\"\ntrainers = [\"pdm\"]\n{base}[trainer]\npdm.guidance_weight = 2.0\n"
            ),
            "pdm.guidance_weight",
        ),
        (
            format!("name = \"x\"\ntrainers = [\"pdm\"]\n{base}[agent]\nnum_minibatches = 512\n"),
            "num_minibatches",
        ),
        (
            "name = \"x\"\nenv_id = \"Pendulum-v1\"\nalgo = \"dqn\"\ntrainers = [\"bp\"]\nseeds = [1]\ntotal_timesteps = 2048\n".to_string(),
            "unknown variant `dqn`",
        ),
        // A bad key of the agent section is named.
        (
            format!("name = \"x\"\ntrainers = [\"bp\"]\n{base}[agent]\nlearning_rat = 1.0\n"),
            "unknown field `learning_rat`",
        ),
        (
            format!("name = \"x\"\ntrainers = [\"bp\"]\n{base}[agent]\nalgo = \"a2c\"\n"),
            "`agent.algo` is not allowed",
        ),
    ];
    let cases: Vec<(String, &str)> = cases
        .iter()
        .map(|(t, n)| (t.to_string(), *n))
        .chain(more)
        .collect();
    for (i, (text, needle)) in cases.iter().enumerate() {
        let path = d.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let err = Experiment::from_file(&path)
            .and_then(|e| e.plan(&path, &registry))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(needle) && err.contains(&format!("bad{i}.toml")),
            "case {i}: {err}"
        );
    }
}

#[test]
fn a_run_without_episodes_is_complete_and_summarised() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("noep.toml");
    // One step per env per iteration over 512 envs: no CartPole episode can finish.
    std::fs::write(
        &config,
        "name = \"noep\"\nenv_id = \"CartPole-v1\"\nalgo = \"ppo\"\ntrainers = [\"bp\"]\nseeds = [1]\ntotal_timesteps = 512\n[agent]\nnum_envs = 512\nnum_steps = 1\n",
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
env_id = "CartPole-v1"
algo = "ppo"
trainers = ["pdm", "pdm_guided"]
seeds = [1]
total_timesteps = 2048
[trainer]
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
        .plan(&path, &Registry::with_builtins())
        .unwrap();
    let t = runs[1].config.trainer;
    assert_eq!(t.kind, TrainerKind::PdmGuided);
    assert_eq!(t.features, pdmrl_agents::Features::PostUpdate);
    assert_eq!(t.guidance.weight, 0.5);
    assert_eq!(t.guidance.critic_signal, pdmrl_agents::GuidanceSignal::None);
    assert_eq!(t.pdm.pairs, pdmrl_agents::Pairs::Sampled { k: 16 });
    assert_eq!(t.pdm.target.name(), "observation");
    // The resolved config round-trips through config.toml.
    let text = toml::to_string(&runs[1].config).unwrap();
    assert_eq!(toml::from_str::<RunConfig>(&text).unwrap(), runs[1].config);
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
        "name = \"sh\"\nenv_id = \"CartPole-v1\"\nalgo = \"ppo\"\ntrainers = [\"bp\", \"pdm\"]\nseeds = [1, 2]\ntotal_timesteps = 1024\n[agent]\neval_every = 512\neval_episodes = 2\n",
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
            format!(
                "name = \"{name}\"\nenv_id = \"CartPole-v1\"\nalgo = \"ppo\"\ntrainers = [\"pdm\"]\nseeds = [1]\ntotal_timesteps = 512\n[agent]\neval_every = 0\n[trainer.pdm]\nnormalize = \"max\"\n[sweep]\n{sweep}"
            ),
        )
        .unwrap();
        path
    };
    let registry = Registry::with_builtins();
    let path = write(
        "sw",
        "\"trainer.local_lr\" = [1e-3, 1e-4]\n\"agent.hidden_sizes\" = [[8], [8, 8]]\n\"trainer.pdm.metric\" = [\"euclidean\"]\n",
    );
    let plan = || {
        Experiment::from_file(&path)
            .unwrap()
            .plan(&path, &registry)
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
    // Keys in order: agent.hidden_sizes varies slowest.
    assert_eq!(runs[0].config.agent.hidden_sizes, vec![8]);
    assert_eq!(runs[0].config.trainer.local_lr, 1e-3);
    assert_eq!(runs[1].config.trainer.local_lr, 1e-4);
    assert_eq!(runs[3].config.agent.hidden_sizes, vec![8, 8]);
    // Nested trainer keys merge into the [trainer] table instead of replacing it.
    assert_eq!(runs[0].config.trainer.pdm.normalize.name(), "max");
    assert!(runs[1].label.starts_with("pdm ") && runs[1].label.contains("trainer.local_lr=0.0001"));
    assert!(runs[0].id.starts_with("ppo-CartPole-v1-pdm-seed1-"));
    // Each point is its own row.
    let r = pdmrl_runner::reproduce::reproduce(&path, d.path(), 2).unwrap();
    assert_eq!(r.report.done.len(), 4, "{:?}", r.report.failed);
    let md = std::fs::read_to_string(&r.summary_md).unwrap();
    for run in &runs {
        assert!(md.contains(&format!("| `{}` | 1 |", run.label)), "{md}");
    }
    for (sweep, needle) in [
        (
            "\"agent.total_timesteps\" = [1024]\n",
            "must be `agent.KEY` or `trainer.KEY`",
        ),
        (
            "\"trainer.kind\" = [\"bp\"]\n",
            "must be `agent.KEY` or `trainer.KEY`",
        ),
        (
            "\"network.width\" = [8]\n",
            "must be `agent.KEY` or `trainer.KEY`",
        ),
        ("\"agent.learning_rate\" = []\n", "lists no values"),
        ("\"agent.learning_rat\" = [1.0]\n", "learning_rat"),
        ("\"agent.learning_rate\" = [1e-3, 1e-3]\n", "same config"),
        ("\"trainer.local_lr\" = [-1.0]\n", "local_lr"),
    ] {
        let p = write("bad", sweep);
        let err = Experiment::from_file(&p)
            .and_then(|e| e.plan(&p, &registry))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(needle) && err.contains("bad.toml"),
            "{sweep}: {err}"
        );
    }
}
