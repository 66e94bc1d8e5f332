//! PPO on CartPole-v1 learns, with a fixed seed (small budgets, opt-level 3).

use pdmrl_agents::{Event, Ppo, PpoConfig, TrainerConfig, TrainerKind};
use pdmrl_envs::{Registry, SyncVectorEnv};

struct Run {
    returns: Vec<f64>,
    /// Per iteration, per hidden layer of the actor then the critic: the local loss.
    local_losses: Vec<Vec<f64>>,
}

fn run(kind: TrainerKind, total_timesteps: usize, seed: u64) -> Run {
    let config = PpoConfig {
        total_timesteps,
        ..PpoConfig::default()
    };
    let envs =
        SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v1", config.num_envs)
            .unwrap();
    let mut ppo = Ppo::new(config, TrainerConfig::new(kind), envs, seed).unwrap();
    let mut out = Run {
        returns: vec![],
        local_losses: vec![],
    };
    ppo.train(&mut |e| match e {
        Event::Episode(ep) => out.returns.push(ep.episodic_return),
        Event::Iteration(it) => out.local_losses.push(
            it.actor_layers
                .iter()
                .chain(&it.critic_layers)
                .map(|l| l.local_loss)
                .collect(),
        ),
    })
    .unwrap();
    out
}

fn last10(r: &[f64]) -> f64 {
    let tail = &r[r.len().saturating_sub(10)..];
    tail.iter().sum::<f64>() / tail.len() as f64
}

#[test]
fn ppo_bp_learns_cartpole_within_50k_steps() {
    let r = run(TrainerKind::Bp, 50_000, 1);
    let m = last10(&r.returns);
    eprintln!("bp last10 {m}");
    assert!(
        m >= 150.0,
        "PPO-bp mean return of the last 10 episodes {m} < 150"
    );
}

#[test]
fn ppo_pdm_local_loss_falls_and_beats_random() {
    let r = run(TrainerKind::Pdm, 100_000, 1);
    let m = last10(&r.returns);
    let first = &r.local_losses[0];
    let last = r.local_losses.last().unwrap();
    eprintln!("pdm last10 {m} first {first:?} last {last:?}");
    assert_eq!(
        first.len(),
        4,
        "two hidden layers in each of actor and critic"
    );
    for (l, (a, b)) in first.iter().zip(last).enumerate() {
        assert!(
            b * 10.0 <= *a,
            "layer {l}: local loss {a} -> {b}, less than a 10x fall"
        );
    }
    assert!(
        m >= 33.0,
        "PPO-pdm mean return of the last 10 episodes {m} < 33"
    );
}
