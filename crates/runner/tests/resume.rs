//! A run interrupted after update k and resumed from its checkpoint gives metrics.csv,
//! eval.csv and final weights bit-identical to an uninterrupted run with the same seed;
//! a run that fails keeps its metrics and its last good checkpoint.

use pdmrl_agents::{AgentConfig, Algo, Pairs, PdmOptions, TrainerConfig, TrainerKind};
use pdmrl_envs::{Action, Env, EnvError, EnvSpec, Info, Registry, Space, Step};
use pdmrl_runner::RunnerError;
use pdmrl_runner::resolve::RunConfig;
use pdmrl_runner::run::{RunOptions, RunOutcome, train_run};
use pdmrl_runner::run_dir::read_checkpoint;
use std::io::Write;
use std::path::Path;

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Trains `config` once straight through and once cut after `k` updates (checkpoints every
/// `every`), with junk appended to the files after the cut as a crash would leave it, then
/// resumed; compares the outputs byte for byte.
fn assert_resume_is_exact(config: &RunConfig, k: usize, every: usize) {
    let registry = Registry::with_builtins();
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("straight"), d.path().join("resumed"));
    let progress = |_| {};
    let straight = train_run(config, &registry, &a, &RunOptions::new(&progress)).unwrap();
    let RunOutcome::Complete(sa) = straight else {
        panic!("not complete")
    };
    let cut = RunOptions {
        checkpoint_every: every,
        stop_after: Some(k),
        ..RunOptions::new(&progress)
    };
    assert_eq!(
        train_run(config, &registry, &b, &cut).unwrap(),
        RunOutcome::Stopped { updates: k }
    );
    assert!(!b.join("summary.json").exists());
    assert_eq!(read_checkpoint(&b).unwrap().checkpoint.meta.iteration, k);
    // What a crash after the checkpoint leaves behind: rows and actions beyond it.
    for f in ["metrics.csv.tmp", "eval.csv.tmp", "actions.bin"] {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(b.join(f))
            .unwrap();
        file.write_all(b"999,junk,1\n").unwrap();
    }
    let resume = RunOptions {
        resume: true,
        checkpoint_every: every,
        ..RunOptions::new(&progress)
    };
    let RunOutcome::Complete(sb) = train_run(config, &registry, &b, &resume).unwrap() else {
        panic!("not complete")
    };
    for f in [
        "metrics.csv",
        "eval.csv",
        "checkpoint/model.safetensors",
        "checkpoint/state.safetensors",
        "checkpoint/checkpoint.json",
        "actions.bin",
    ] {
        assert!(
            bytes(&a.join(f)) == bytes(&b.join(f)),
            "{f} differs after resume"
        );
    }
    assert!(bytes(&a.join("metrics.csv")).len() > 100);
    let log = std::fs::read_to_string(b.join("run.log")).unwrap();
    for needle in [
        "started:".to_string(),
        format!("stopped after update {k} (resumable)"),
        format!("resumed at update {k}"),
        "checkpoint after update".to_string(),
        "complete: final return mean".to_string(),
    ] {
        assert!(log.contains(&needle), "run.log lacks `{needle}`: {log}");
    }
    assert_eq!(
        (
            sa.total_steps,
            sa.episodes,
            sa.final_return_mean.to_bits(),
            sa.final_eval_return_mean.to_bits()
        ),
        (
            sb.total_steps,
            sb.episodes,
            sb.final_return_mean.to_bits(),
            sb.final_eval_return_mean.to_bits()
        )
    );
    assert_eq!(sa.final_layers, sb.final_layers);
    let updates = std::fs::read_to_string(b.join("updates.csv")).unwrap();
    let iterations = config.agent.num_iterations();
    if !config.agent.episode_batches() {
        assert_eq!(
            updates.lines().count(),
            iterations + 1,
            "one header, one row per update"
        );
    }
}

fn config(env_id: &str, kind: TrainerKind, agent: AgentConfig) -> RunConfig {
    RunConfig {
        results_version: pdmrl_runner::RESULTS_VERSION,
        env_id: env_id.into(),
        seed: 11,
        trainer: TrainerConfig::new(kind),
        agent,
    }
}

#[test]
fn ppo_discrete_pdm_with_sampled_pairs_resumes_exactly() {
    // Sampled pairs draw from the local rules' RNGs: their state must be restored too.
    let mut c = config(
        "CartPole-v1",
        TrainerKind::PdmGuided,
        AgentConfig {
            total_timesteps: 512 * 6,
            eval_every: 1024,
            eval_episodes: 3,
            ..AgentConfig::default()
        },
    );
    c.trainer
        .local_mut()
        .expect("pdm_guided holds local options")
        .pdm = PdmOptions {
        pairs: Pairs::Sampled { k: 8 },
        ..PdmOptions::default()
    };
    assert_resume_is_exact(&c, 3, 2);
}

#[test]
fn ppo_continuous_with_normalisation_resumes_exactly() {
    let agent = AgentConfig {
        total_timesteps: 6 * 512,
        num_envs: 2,
        num_steps: 256,
        num_minibatches: 8,
        eval_every: 1000,
        eval_episodes: 2,
        ..AgentConfig::defaults(Algo::Ppo, "Pendulum-v1", true)
    };
    assert!(agent.normalize_observation && agent.normalize_reward);
    assert_resume_is_exact(&config("Pendulum-v1", TrainerKind::Bp, agent), 4, 3);
}

#[test]
fn reinforce_episode_batches_and_a2c_resume_exactly() {
    let reinforce = AgentConfig {
        total_timesteps: 3000,
        eval_every: 1000,
        eval_episodes: 2,
        ..AgentConfig::defaults(Algo::Reinforce, "CartPole-v1", false)
    };
    assert_resume_is_exact(&config("CartPole-v1", TrainerKind::Pdm, reinforce), 5, 2);
    let a2c = AgentConfig {
        total_timesteps: 4000,
        eval_every: 0,
        ..AgentConfig::defaults(Algo::A2c, "CartPole-v1", false)
    };
    assert_resume_is_exact(&config("CartPole-v1", TrainerKind::Frozen, a2c), 37, 10);
}

/// One-step episodes whose reward becomes 3e38 (finite, but its sum overflows f32) after
/// `explode_at` steps.
struct Exploding {
    t: usize,
    explode_at: usize,
}

impl Env for Exploding {
    fn id(&self) -> &str {
        "Exploding-v0"
    }
    fn observation_space(&self) -> Space {
        Space::box1(vec![-1.0], vec![1.0])
    }
    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }
    fn reset(&mut self, _seed: Option<u64>) -> (ndarray::Array1<f32>, Info) {
        (ndarray::array![0.5], Info::new())
    }
    fn step(&mut self, _action: &Action) -> Result<Step, EnvError> {
        self.t += 1;
        Ok(Step {
            observation: ndarray::array![(self.t % 7) as f32 / 7.0],
            reward: if self.t > self.explode_at { 3e38 } else { 1.0 },
            terminated: self.t.is_multiple_of(3),
            truncated: false,
            info: Info::new(),
        })
    }
}

#[test]
fn a_failed_run_keeps_its_metrics_and_last_good_checkpoint() {
    let mut registry = Registry::with_builtins();
    registry
        .register(
            EnvSpec {
                id: "Exploding-v0".into(),
                max_episode_steps: None,
            },
            |_| {
                Ok(Box::new(Exploding {
                    t: 0,
                    explode_at: 64 * 5 + 10,
                }))
            },
        )
        .unwrap();
    let c = RunConfig {
        results_version: pdmrl_runner::RESULTS_VERSION,
        env_id: "Exploding-v0".into(),
        seed: 1,
        trainer: TrainerConfig::default(),
        agent: AgentConfig {
            num_envs: 1,
            num_steps: 64,
            num_minibatches: 2,
            total_timesteps: 64 * 20,
            eval_every: 0,
            ..AgentConfig::default()
        },
    };
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run");
    let options = RunOptions {
        checkpoint_every: 2,
        ..RunOptions::new(&|_| {})
    };
    let err = train_run(&c, &registry, &out, &options).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RunnerError::Training { .. }), "{err:?}");
    assert!(msg.contains("update 6") && msg.contains("critic"), "{msg}");
    assert!(
        msg.contains("metrics.csv.tmp") && msg.contains("checkpoint"),
        "{msg}"
    );
    // The metrics of the episodes before the failure are on disk, and the checkpoint is
    // the last good one (after update 4), not a broken one.
    let metrics = std::fs::read_to_string(out.join("metrics.csv.tmp")).unwrap();
    assert!(metrics.lines().count() > 100, "{metrics}");
    assert_eq!(read_checkpoint(&out).unwrap().checkpoint.meta.iteration, 4);
    assert!(!out.join("summary.json").exists());
    let log = std::fs::read_to_string(out.join("run.log")).unwrap();
    assert!(
        log.contains("checkpoint after update 4") && log.contains("failed: non-finite"),
        "{log}"
    );
}

/// A PPO-bp CartPole run of 4 updates, stopped after `k`, in a fresh folder.
fn interrupted_cartpole(k: usize) -> (Registry, tempfile::TempDir, RunConfig) {
    let registry = Registry::with_builtins();
    let d = tempfile::tempdir().unwrap();
    let c = config(
        "CartPole-v1",
        TrainerKind::Bp,
        AgentConfig {
            total_timesteps: 2048,
            eval_every: 0,
            ..AgentConfig::default()
        },
    );
    let cut = RunOptions {
        stop_after: Some(k),
        ..RunOptions::new(&|_| {})
    };
    train_run(&c, &registry, d.path(), &cut).unwrap();
    (registry, d, c)
}

/// A checkpoint of one run does not resume a different one.
#[test]
fn resume_refuses_a_different_config() {
    let (registry, d, c) = interrupted_cartpole(1);
    let progress = |_| {};
    let other = RunConfig {
        seed: 12,
        ..c.clone()
    };
    let resume = RunOptions {
        resume: true,
        ..RunOptions::new(&progress)
    };
    let err = train_run(&other, &registry, d.path(), &resume)
        .unwrap_err()
        .to_string();
    assert!(err.contains("differs from the config"), "{err}");
    // Nothing was lost: the right config still resumes.
    assert!(matches!(
        train_run(&c, &registry, d.path(), &resume).unwrap(),
        RunOutcome::Complete(_)
    ));
}

/// A folder that holds anything is not silently wiped: an interrupted run asks for
/// --resume, other files for --force; with force the old run's files go.
#[test]
fn a_non_empty_folder_needs_force() {
    let (registry, d, c) = interrupted_cartpole(2);
    let progress = |_| {};
    let err = train_run(&c, &registry, d.path(), &RunOptions::new(&progress))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not empty") && err.contains("--resume") && err.contains("--force"),
        "{err}"
    );
    assert!(
        read_checkpoint(d.path()).is_ok(),
        "the interrupted run is still there"
    );
    let mine = tempfile::tempdir().unwrap();
    std::fs::write(mine.path().join("notes.txt"), "mine").unwrap();
    let err = train_run(&c, &registry, mine.path(), &RunOptions::new(&progress))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("notes.txt") && !err.contains("--resume"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(mine.path().join("notes.txt")).unwrap(),
        "mine"
    );
    let force = RunOptions {
        force: true,
        ..RunOptions::new(&progress)
    };
    assert!(matches!(
        train_run(&c, &registry, d.path(), &force).unwrap(),
        RunOutcome::Complete(_)
    ));
}

/// Killed after its last checkpoint, before (or while) its summary was written: the
/// resume finishes it with the summary an uninterrupted run has. An edited config.toml is
/// refused.
#[test]
fn a_run_killed_at_its_end_resumes_to_the_same_summary_and_edits_are_refused() {
    let registry = Registry::with_builtins();
    let d = tempfile::tempdir().unwrap();
    let c = config(
        "CartPole-v1",
        TrainerKind::Pdm,
        AgentConfig {
            total_timesteps: 2048,
            eval_every: 1024,
            eval_episodes: 2,
            ..AgentConfig::default()
        },
    );
    let progress = |_| {};
    let RunOutcome::Complete(first) =
        train_run(&c, &registry, d.path(), &RunOptions::new(&progress)).unwrap()
    else {
        panic!("complete")
    };
    // As a kill leaves it: CSVs under either name, an empty or missing summary.
    std::fs::remove_file(d.path().join("summary.json")).unwrap();
    std::fs::rename(d.path().join("eval.csv"), d.path().join("eval.csv.tmp")).unwrap();
    let resume = RunOptions {
        resume: true,
        ..RunOptions::new(&progress)
    };
    let RunOutcome::Complete(again) = train_run(&c, &registry, d.path(), &resume).unwrap() else {
        panic!("complete")
    };
    assert_eq!(again.final_layers, first.final_layers);
    assert_eq!(
        again.final_eval_return_mean.to_bits(),
        first.final_eval_return_mean.to_bits()
    );
    assert_eq!(
        again.final_return_mean.to_bits(),
        first.final_return_mean.to_bits()
    );
    assert!(!again.final_layers.actor.is_empty());
    // Editing the saved config of an interrupted run is refused.
    std::fs::remove_file(d.path().join("summary.json")).unwrap();
    let path = d.path().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("learning_rate = 0.00025", "learning_rate = 0.001"),
    )
    .unwrap();
    let edited: RunConfig = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_ne!(edited, c);
    let err = train_run(&edited, &registry, d.path(), &resume)
        .unwrap_err()
        .to_string();
    assert!(err.contains("edited after the checkpoint"), "{err}");
}

/// A run complete in another experiment's folder (same id, same config) is copied, not
/// trained again: its files are the same bytes, and the report counts it as copied.
#[test]
fn runs_complete_in_a_sibling_experiment_are_copied() {
    use pdmrl_runner::experiment::{Experiment, run_experiment};
    let d = tempfile::tempdir().unwrap();
    let text = |name: &str, seeds: &str| {
        format!(
            "name = \"{name}\"\n[env]\nid = \"CartPole-v1\"\n[algo]\nname = \"ppo\"\n[trainer]\nkind = \"bp\"\n[run]\nseeds = {seeds}\ntotal_timesteps = 1024\neval_every = 512\neval_episodes = 2\n"
        )
    };
    let registry = Registry::with_builtins();
    let results = d.path().join("results");
    let plan = |name: &str, seeds: &str| {
        let e = Experiment::from_text(std::path::Path::new("x.toml"), &text(name, seeds)).unwrap();
        e.plan(&registry).unwrap()
    };
    let first = plan("a", "[1]");
    let r = run_experiment(&first, &results.join("a"), 1, 10, &registry, &|_| {}).unwrap();
    assert_eq!((r.done.len(), r.copied.len()), (1, 0));
    let second = plan("b", "[1, 2]");
    let r = run_experiment(&second, &results.join("b"), 1, 10, &registry, &|_| {}).unwrap();
    assert_eq!(r.copied, [first[0].id.clone()]);
    assert_eq!(r.done.len(), 1);
    for name in [
        "config.toml",
        "metrics.csv",
        "eval.csv",
        "updates.csv",
        "summary.json",
    ] {
        assert_eq!(
            std::fs::read(results.join("a").join(&first[0].id).join(name)).unwrap(),
            std::fs::read(results.join("b").join(&first[0].id).join(name)).unwrap(),
            "{name}"
        );
    }
    // Once there, it is simply complete: skipped.
    let r = run_experiment(&second, &results.join("b"), 1, 10, &registry, &|_| {}).unwrap();
    assert_eq!((r.skipped.len(), r.copied.len()), (2, 0));

    // Of two copies, the one in the current summary format is taken, even when a copy
    // written by older code (no `final_entropy`) comes first by path.
    let id = &first[0].id;
    let old = results.join("0_old").join(id);
    std::fs::create_dir_all(&old).unwrap();
    for e in std::fs::read_dir(results.join("a").join(id)).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), old.join(e.file_name())).unwrap();
        }
    }
    let summary = std::fs::read_to_string(old.join("summary.json")).unwrap();
    let older: String = summary
        .lines()
        .filter(|l| !l.contains("\"final_entropy\""))
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(older, summary);
    std::fs::write(old.join("summary.json"), &older).unwrap();
    let r = run_experiment(&first, &results.join("c"), 1, 10, &registry, &|_| {}).unwrap();
    assert_eq!(r.copied, std::slice::from_ref(id));
    assert_eq!(
        std::fs::read_to_string(results.join("c").join(id).join("summary.json")).unwrap(),
        summary
    );
}
