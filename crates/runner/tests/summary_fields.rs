//! What `summary.json` records besides the returns: the normalisation statistics the
//! policy was evaluated with, the final entropy and the mid-run layer diagnostics.

use pdmrl_agents::{AgentConfig, Algo, TrainerConfig, TrainerKind};
use pdmrl_envs::Registry;
use pdmrl_runner::resolve::RunConfig;
use pdmrl_runner::run::{RunOptions, train_run};
use pdmrl_runner::run_dir::read_checkpoint;
use pdmrl_runner::summary::{Summary, read_summary};

fn train(config: &RunConfig) -> (tempfile::TempDir, Summary) {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run");
    train_run(
        config,
        &Registry::with_builtins(),
        &out,
        &RunOptions::new(&|_| {}),
    )
    .unwrap();
    let summary = read_summary(&out).unwrap();
    (d, summary)
}

/// A Pendulum-v1 run normalises observations and rewards: its summary holds their final
/// statistics, equal to those in its final checkpoint, in a readable form.
#[test]
fn normalisation_statistics_are_in_the_summary() {
    let agent = AgentConfig {
        total_timesteps: 4 * 512,
        num_envs: 2,
        num_steps: 256,
        num_minibatches: 8,
        eval_every: 1024,
        eval_episodes: 2,
        ..AgentConfig::defaults(Algo::Ppo, "Pendulum-v1", true)
    };
    let config = RunConfig {
        results_version: pdmrl_runner::RESULTS_VERSION,
        env_id: "Pendulum-v1".into(),
        seed: 3,
        trainer: TrainerConfig::new(TrainerKind::Pdm),
        agent,
    };
    let (d, summary) = train(&config);
    let stats = summary.normalization.expect("normalisation statistics");
    let obs = stats.observation.expect("observation statistics");
    let ret = stats.reward.expect("return statistics");
    assert_eq!((obs.mean.len(), obs.var.len()), (3, 3));
    assert_eq!((ret.mean.len(), ret.var.len()), (1, 1));
    // One update per vector step of 2 envs: 2048 observation vectors after the reset's 2.
    assert!(
        (obs.count - (2048.0 + 2.0 + 1e-4)).abs() < 1e-6,
        "{}",
        obs.count
    );
    assert!(obs.var.iter().chain(&ret.var).all(|v| *v > 0.0));
    let ckpt = read_checkpoint(&d.path().join("run")).unwrap().checkpoint;
    assert_eq!(ckpt.f64("obs_rms.mean", &[3]).unwrap(), obs.mean);
    assert_eq!(ckpt.f64("obs_rms.var", &[3]).unwrap(), obs.var);
    assert_eq!(ckpt.f64("return_rms.var", &[1]).unwrap(), ret.var);
    let text = std::fs::read_to_string(d.path().join("run/summary.json")).unwrap();
    assert!(text.contains("\"normalization\"") && text.contains("\"observation\""));
    // The policy's entropy at the end, and the layers at the middle of the run.
    assert!(summary.final_entropy.is_finite());
    assert_eq!(summary.mid_step, 1024);
    assert_eq!(summary.mid_layers.actor.len(), 2);
}

/// A run without normalisation has no `normalization` key at all.
#[test]
fn no_normalisation_no_key() {
    let config = RunConfig {
        results_version: pdmrl_runner::RESULTS_VERSION,
        env_id: "CartPole-v1".into(),
        seed: 3,
        trainer: TrainerConfig::new(TrainerKind::Bp),
        agent: AgentConfig {
            total_timesteps: 1024,
            eval_every: 0,
            ..AgentConfig::default()
        },
    };
    let (d, summary) = train(&config);
    assert!(summary.normalization.is_none());
    let text = std::fs::read_to_string(d.path().join("run/summary.json")).unwrap();
    assert!(!text.contains("normalization"), "{text}");
    assert_eq!(summary.mid_step, 512);
}
