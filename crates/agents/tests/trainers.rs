//! What each trainer may and may not change, and the MLP's backward pass.

use ndarray::{Array1, Array2};
use pdmrl_agents::{
    ActorCritic, Check, HeadGrads, LocalLrSchedule, Mlp, TrainerConfig, TrainerKind, TrainerOptions,
};
use pdmrl_tensor::gradcheck::{finite_difference, relative_error};
use pdmrl_tensor::{Activation, rng_from_seed};
use rand::Rng;

fn nets() -> (Mlp, Mlp) {
    let actor = Mlp::new(
        4,
        &[16, 16],
        2,
        Activation::Tanh,
        2f64.sqrt(),
        0.01,
        &mut rng_from_seed(1),
    );
    let critic = Mlp::new(
        4,
        &[16, 16],
        1,
        Activation::Tanh,
        2f64.sqrt(),
        1.0,
        &mut rng_from_seed(2),
    );
    (actor, critic)
}

fn obs() -> Array2<f32> {
    let mut rng = rng_from_seed(3);
    Array2::from_shape_fn((32, 4), |_| rng.random_range(-1.0..1.0))
}

/// Updates a fresh model once with a head loss whose gradient is `scale` times a fixed
/// pattern; returns the model.
fn update_once(kind: TrainerKind, scale: f32) -> ActorCritic {
    update_at(TrainerConfig::new(kind), None, scale)
}

/// As [`update_once`] with `config`, told first that the run is `progress` done.
fn update_at(config: TrainerConfig, progress: Option<f64>, scale: f32) -> ActorCritic {
    let (actor, critic) = nets();
    let mut model = ActorCritic::new(actor, critic, config.check().unwrap(), 1e-2, 1e-5).unwrap();
    if let Some(p) = progress {
        model.set_progress(p);
    }
    let o = obs();
    model
        .update(o.view(), (None, None), 0.5, false, &mut |h| {
            let policy = Array2::from_shape_fn(h.policy.raw_dim(), |(i, j)| {
                scale * ((i + 2 * j) as f32 * 0.1).sin()
            });
            let values = Array1::from_shape_fn(h.values.len(), |i| scale * (i as f32 * 0.3).cos());
            HeadGrads {
                policy,
                log_std: None,
                values,
            }
        })
        .unwrap();
    model
}

/// Under `pdm` the head loss never reaches a hidden layer: two updates with different head
/// gradients leave bit-identical hidden layers (which did change, by the local rule), and
/// different heads.
#[test]
fn pdm_hidden_layers_ignore_the_head_loss() {
    let (a, b) = (
        update_once(TrainerKind::Pdm, 1.0),
        update_once(TrainerKind::Pdm, -3.0),
    );
    let (init_actor, init_critic) = nets();
    for (x, y, init) in [
        (&a.actor, &b.actor, &init_actor),
        (&a.critic, &b.critic, &init_critic),
    ] {
        assert_eq!(x.hidden, y.hidden, "head loss leaked into a hidden layer");
        for (l, (h, h0)) in x.hidden.iter().zip(&init.hidden).enumerate() {
            assert_ne!(
                h.weight, h0.weight,
                "hidden layer {l} did not learn under pdm"
            );
        }
        assert_ne!(x.head, y.head);
    }
}

/// Under `frozen` hidden layers are bit-identical to their initialisation; heads learn.
/// Under `bp` the head loss reaches the hidden layers.
#[test]
fn frozen_keeps_hidden_layers_and_bp_trains_them() {
    let frozen = update_once(TrainerKind::Frozen, 1.0);
    let (init_actor, init_critic) = nets();
    assert_eq!(frozen.actor.hidden, init_actor.hidden);
    assert_eq!(frozen.critic.hidden, init_critic.hidden);
    assert_ne!(frozen.actor.head, init_actor.head);
    assert_ne!(frozen.critic.head, init_critic.head);
    let (a, b) = (
        update_once(TrainerKind::Bp, 1.0),
        update_once(TrainerKind::Bp, -3.0),
    );
    assert_ne!(a.actor.hidden, b.actor.hidden);
    assert_ne!(a.actor.hidden, init_actor.hidden);
}

/// `local_until = 0.5`: the hidden layers learn while less than half the run is done, and
/// stay as they are from half on, while the heads go on learning.
#[test]
fn local_until_freezes_the_hidden_layers_from_its_fraction_on() {
    let config = TrainerOptions {
        local_until: 0.5,
        ..TrainerOptions::new(TrainerKind::Pdm)
    }
    .config();
    let (init_actor, init_critic) = nets();
    let early = update_at(config, Some(0.45), 1.0);
    assert_ne!(early.actor.hidden, init_actor.hidden);
    assert_ne!(early.critic.hidden, init_critic.hidden);
    let late = update_at(config, Some(0.5), 1.0);
    assert_eq!(late.actor.hidden, init_actor.hidden);
    assert_eq!(late.critic.hidden, init_critic.hidden);
    assert_ne!(late.actor.head, init_actor.head);
    assert_ne!(late.critic.head, init_critic.head);
    // The heads learn as they do with local learning on: same head gradient, same step.
    assert_eq!(late.actor.head, early.actor.head);
}

/// `local_lr_schedule = "linear"` at 3/4 of the run steps exactly as a constant rate of a
/// quarter of `local_lr`, and unlike the full rate; `bp` ignores progress.
#[test]
fn linear_local_schedule_anneals_the_hidden_layers_rate() {
    let linear = TrainerOptions {
        local_lr: 1e-3,
        local_lr_schedule: LocalLrSchedule::Linear,
        ..TrainerOptions::new(TrainerKind::Pdm)
    }
    .config();
    let quarter = TrainerOptions {
        local_lr: 2.5e-4,
        ..TrainerOptions::new(TrainerKind::Pdm)
    }
    .config();
    let annealed = update_at(linear, Some(0.75), 1.0);
    assert_eq!(
        annealed.actor.hidden,
        update_at(quarter, None, 1.0).actor.hidden
    );
    assert_ne!(
        annealed.actor.hidden,
        update_at(linear, Some(0.0), 1.0).actor.hidden
    );
    assert_eq!(
        update_at(TrainerConfig::new(TrainerKind::Bp), Some(0.9), 1.0)
            .actor
            .hidden,
        update_once(TrainerKind::Bp, 1.0).actor.hidden
    );
}

/// `Mlp::backward` against central differences (f32 network, loss accumulated in f64).
#[test]
fn mlp_backward_matches_finite_differences() {
    let (actor, _) = nets();
    let x = obs();
    let c = Array2::from_shape_fn((32, 2), |(i, j)| ((i * 3 + j) as f32 * 0.37).sin());
    let loss = |net: &Mlp| -> f64 {
        let y = net.forward(x.view());
        y.iter()
            .zip(c.iter())
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum()
    };
    let acts = actor.forward_cached(x.view());
    let grads = actor.backward(&acts, c.view());
    // First hidden layer's weight: the gradient that crosses every layer.
    let w0: Vec<f64> = actor.hidden[0]
        .weight
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let mut f = |w: &[f64]| {
        let mut net = actor.clone();
        net.hidden[0].weight =
            Array2::from_shape_vec((4, 16), w.iter().map(|&v| v as f32).collect()).unwrap();
        loss(&net)
    };
    let g: Vec<f64> = grads.hidden[0]
        .weight
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    // The forward pass is f32: a step of 1e-6 would round away, so use h = 1e-2 and a
    // tolerance that fits f32 (the f64 checks of each layer are in pdmrl-tensor).
    let numeric = finite_difference(&mut f, &w0, 1e-2);
    let err = relative_error(&g, &numeric, 1e-12);
    assert!(err < 2e-2, "relative error {err}");
    // The head's bias gradient is exact: sum over rows of c.
    let gb: Vec<f64> = grads.head.bias.iter().map(|&v| f64::from(v)).collect();
    let mut fb = |b: &[f64]| {
        let mut net = actor.clone();
        net.head.bias = Array1::from(b.iter().map(|&v| v as f32).collect::<Vec<_>>());
        loss(&net)
    };
    let b0: Vec<f64> = actor.head.bias.iter().map(|&v| f64::from(v)).collect();
    let numeric_b = finite_difference(&mut fb, &b0, 1e-2);
    assert!(relative_error(&gb, &numeric_b, 1e-12) < 1e-3);
}

/// A rule that records the guidance signal it receives and returns a zero gradient.
struct Recorder {
    seen: std::sync::Arc<std::sync::Mutex<Vec<Vec<f32>>>>,
}

impl pdmrl_local_loss::LocalRule<f32> for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn uses_guidance(&self) -> bool {
        true
    }
    fn loss_and_grad(
        &mut self,
        _input: ndarray::ArrayView2<f32>,
        output: ndarray::ArrayView2<f32>,
        guidance: Option<ndarray::ArrayView1<f32>>,
    ) -> Result<pdmrl_local_loss::LocalLoss<f32>, pdmrl_local_loss::LocalLossError> {
        self.seen
            .lock()
            .unwrap()
            .push(guidance.map_or(vec![], |g| g.to_vec()));
        Ok(pdmrl_local_loss::LocalLoss {
            loss: 0.0,
            grad_output: Array2::zeros(output.raw_dim()),
            mean_output_distance: 0.0,
        })
    }
}

/// The guidance signals given to an update reach each network's rule unchanged, at every
/// hidden layer; and a custom rule plugs in without touching the trainer.
#[test]
fn guidance_reaches_the_rule_and_custom_rules_plug_in() {
    let (actor, critic) = nets();
    let (seen_a, seen_c) = (Default::default(), Default::default());
    let mut model = ActorCritic::with_rules(
        actor,
        critic,
        TrainerConfig::new(TrainerKind::PdmGuided).check().unwrap(),
        1e-2,
        1e-5,
        Box::new(Recorder {
            seen: std::sync::Arc::clone(&seen_a),
        }),
        Box::new(Recorder {
            seen: std::sync::Arc::clone(&seen_c),
        }),
    )
    .unwrap();
    let o = obs();
    let adv = Array1::from_shape_fn(32, |i| i as f32 - 3.5);
    let ret = Array1::from_shape_fn(32, |i| (i as f32).sin());
    model
        .update(
            o.view(),
            (Some(adv.view()), Some(ret.view())),
            0.5,
            false,
            &mut |h| HeadGrads {
                policy: Array2::zeros(h.policy.raw_dim()),
                log_std: None,
                values: Array1::zeros(h.values.len()),
            },
        )
        .unwrap();
    let (a, c) = (
        seen_a.lock().unwrap().clone(),
        seen_c.lock().unwrap().clone(),
    );
    assert_eq!(a, vec![adv.to_vec(); 2], "actor layers see the advantages");
    assert_eq!(c, vec![ret.to_vec(); 2], "critic layers see the returns");
}

/// PPO hands each network the signal its config names: raw advantages, returns or none.
#[test]
fn ppo_guidance_signals_are_what_the_algorithm_computed() {
    use pdmrl_agents::{GuidanceSignal, guidance_signal};
    let adv = Array1::from(vec![1.5f32, -2.0, 0.25]);
    let ret = Array1::from(vec![10.0f32, 11.0, 9.0]);
    assert_eq!(
        guidance_signal(GuidanceSignal::Advantage, &adv, &ret).unwrap(),
        adv.view()
    );
    assert_eq!(
        guidance_signal(GuidanceSignal::Return, &adv, &ret).unwrap(),
        ret.view()
    );
    assert!(guidance_signal(GuidanceSignal::None, &adv, &ret).is_none());
    // Only pdm_guided guides; its defaults: advantage for the actor, return for the critic.
    assert_eq!(
        TrainerConfig::new(TrainerKind::Pdm).signals(),
        (GuidanceSignal::None, GuidanceSignal::None)
    );
    assert_eq!(
        TrainerConfig::new(TrainerKind::PdmGuided).signals(),
        (GuidanceSignal::Advantage, GuidanceSignal::Return)
    );
    assert_eq!(
        TrainerConfig::new(TrainerKind::PdmGuided)
            .rule_options()
            .guidance_weight,
        0.3
    );
    assert_eq!(
        TrainerConfig::new(TrainerKind::Pdm)
            .rule_options()
            .guidance_weight,
        0.0
    );
}

/// Over a whole (short) PPO run: `frozen` hidden weights are bit-identical to their
/// initialisation, `pdm` and `pdm_guided` change them.
#[test]
fn hidden_weights_over_training() {
    use pdmrl_agents::{Agent, AgentConfig};
    use pdmrl_envs::{Registry, SyncVectorEnv};
    let run = |kind| {
        let config = AgentConfig {
            total_timesteps: 2048,
            ..AgentConfig::default()
        };
        let envs =
            SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v1", 4).unwrap();
        let mut ppo = Agent::new(config, TrainerConfig::new(kind), envs, 5).unwrap();
        let before = (ppo.model().actor.clone(), ppo.model().critic.clone());
        ppo.train(&mut |_| {}).unwrap();
        (
            before,
            ppo.model().actor.clone(),
            ppo.model().critic.clone(),
        )
    };
    let ((a0, c0), a1, c1) = run(TrainerKind::Frozen);
    assert_eq!(a0.hidden, a1.hidden);
    assert_eq!(c0.hidden, c1.hidden);
    assert_ne!(a0.head, a1.head);
    for kind in [TrainerKind::Pdm, TrainerKind::PdmGuided] {
        let ((a0, c0), a1, c1) = run(kind);
        for l in 0..2 {
            assert_ne!(
                a0.hidden[l].weight, a1.hidden[l].weight,
                "{kind} actor layer {l}"
            );
            assert_ne!(
                c0.hidden[l].weight, c1.hidden[l].weight,
                "{kind} critic layer {l}"
            );
        }
    }
}
