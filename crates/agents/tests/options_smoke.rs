//! Every trainer option trains PPO on CartPole-v1 (a short smoke run): no error, finite
//! losses and diagnostics, and the option is really in effect.

use pdmrl_agents::{
    Agent, AgentConfig, Event, Features, GuidanceSignal, IterationStats, Metric, Normalize,
    PdmOptions, TrainerConfig, TrainerKind, TrainerOptions,
};
use pdmrl_envs::{Registry, SyncVectorEnv};
use pdmrl_local_loss::{Pairs, Target};

fn run(trainer: TrainerConfig) -> Vec<IterationStats> {
    let config = AgentConfig {
        total_timesteps: 1536,
        ..AgentConfig::default()
    };
    let envs = SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v1", 4).unwrap();
    let mut ppo = Agent::new(config, trainer, envs, 2).unwrap();
    let mut stats = Vec::new();
    ppo.train(&mut |e| {
        if let Event::Iteration(it) = e {
            stats.push(it.clone());
        }
    })
    .unwrap_or_else(|e| panic!("{trainer:?}: {e}"));
    assert_eq!(stats.len(), 3);
    for it in &stats {
        assert!(
            it.value_loss.is_finite() && it.policy_loss.is_finite(),
            "{trainer:?}"
        );
        assert_eq!(it.actor_layers.len(), 2, "{trainer:?}");
        for l in it.actor_layers.iter().chain(&it.critic_layers) {
            assert!(
                l.local_loss.is_finite() && l.mean_distance.is_finite(),
                "{trainer:?}: {l:?}"
            );
        }
    }
    // Drift is measured from the first iteration on, and the hidden layers do move.
    for it in &stats {
        for l in it.actor_layers.iter().chain(&it.critic_layers) {
            assert!(
                l.drift.is_finite() && l.drift > 0.0,
                "{trainer:?}: drift {}",
                l.drift
            );
        }
    }
    stats
}

fn pdm(kind: TrainerKind, pdm: PdmOptions) -> TrainerConfig {
    TrainerOptions {
        pdm,
        ..TrainerOptions::new(kind)
    }
    .config()
}

#[test]
fn every_normalize_and_metric_trains() {
    for normalize in [Normalize::Mean, Normalize::Max, Normalize::None] {
        for metric in [Metric::Euclidean, Metric::SquaredEuclidean] {
            run(pdm(
                TrainerKind::Pdm,
                PdmOptions {
                    normalize,
                    metric,
                    ..PdmOptions::default()
                },
            ));
        }
    }
}

#[test]
fn target_features_and_pairs_options_train_and_differ() {
    let base = run(TrainerConfig::new(TrainerKind::Pdm));
    let last = |s: &[IterationStats]| s.last().unwrap().actor_layers[1].local_loss;
    let variants = [
        pdm(
            TrainerKind::Pdm,
            PdmOptions {
                target: Target::Observation,
                ..PdmOptions::default()
            },
        ),
        pdm(
            TrainerKind::Pdm,
            PdmOptions {
                pairs: Pairs::Sampled { k: 16 },
                ..PdmOptions::default()
            },
        ),
        TrainerOptions {
            features: Features::PostUpdate,
            ..TrainerOptions::new(TrainerKind::Pdm)
        }
        .config(),
    ];
    for v in variants {
        let s = run(v);
        // Each option changes what the second layer learns.
        assert_ne!(last(&s), last(&base), "{v:?} had no effect");
    }
}

#[test]
fn guided_signals_train_and_differ() {
    let plain = run(TrainerConfig::new(TrainerKind::Pdm));
    let last = |s: &[IterationStats]| s.last().unwrap().actor_layers[0].local_loss;
    let mut seen = vec![last(&plain)];
    for (actor_signal, critic_signal) in [
        (GuidanceSignal::Advantage, GuidanceSignal::Return),
        (GuidanceSignal::Return, GuidanceSignal::Advantage),
    ] {
        let mut t = TrainerOptions::new(TrainerKind::PdmGuided);
        t.guidance.actor_signal = actor_signal;
        t.guidance.critic_signal = critic_signal;
        let s = run(t.config());
        assert!(!seen.contains(&last(&s)), "{actor_signal:?} had no effect");
        seen.push(last(&s));
    }
    // pdm_guided with no signal on either network is pdm, exactly.
    let mut none = TrainerOptions::new(TrainerKind::PdmGuided);
    none.guidance.actor_signal = GuidanceSignal::None;
    none.guidance.critic_signal = GuidanceSignal::None;
    let s = run(none.config());
    assert_eq!(last(&s), last(&plain));
}

#[test]
fn options_are_validated_by_name() {
    let bad = |t: TrainerConfig| {
        let envs =
            SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v1", 4).unwrap();
        Agent::new(AgentConfig::default(), t, envs, 0)
            .err()
            .expect("rejected")
            .to_string()
    };
    let mut t = TrainerOptions::new(TrainerKind::PdmGuided);
    t.guidance.weight = 1.5;
    assert!(bad(t.config()).contains("guidance.weight"));
    t.guidance.weight = 0.0;
    assert!(bad(t.config()).contains("guidance.weight"));
    let t = pdm(
        TrainerKind::Pdm,
        PdmOptions {
            pairs: Pairs::Sampled { k: 128 },
            ..PdmOptions::default()
        },
    );
    assert!(bad(t).contains("pdm.pairs.sampled.k"), "{}", bad(t));
    let t = pdm(
        TrainerKind::Pdm,
        PdmOptions {
            pairs: Pairs::Sampled { k: 0 },
            ..PdmOptions::default()
        },
    );
    assert!(bad(t).contains("k"), "{}", bad(t));
    let t = pdm(
        TrainerKind::Pdm,
        PdmOptions {
            guidance_weight: 0.5,
            ..PdmOptions::default()
        },
    );
    assert!(bad(t).contains("pdm.guidance_weight"));
}
