//! The options of how a local trainer optimises the hidden layers (`local_optimizer`,
//! `local_momentum`, `local_steps`, `scale_features`, `feature_ema`, `pdm.loss`): each is
//! in effect when set, exactly as documented, and checked by name when out of range.

use ndarray::{Array1, Array2, Zip};
use pdmrl_agents::{
    ActorCritic, Agent, AgentConfig, Check, Event, HeadGrads, LocalOptimizer, LocalOptions,
    LocalSteps, MdsLoss, Mlp, PdmOptions, TrainerConfig,
};
use pdmrl_envs::{Registry, SyncVectorEnv};
use pdmrl_local_loss::{LocalRule, Pdm};
use pdmrl_tensor::{Activation, Dense, rng_from_seed};
use rand::Rng;

fn nets() -> (Mlp, Mlp) {
    let net = |out, gain, seed| {
        Mlp::new(
            4,
            &[16, 16],
            out,
            Activation::Tanh,
            2f64.sqrt(),
            gain,
            &mut rng_from_seed(seed),
        )
    };
    (net(2, 0.01, 1), net(1, 1.0, 2))
}

fn obs(seed: u64) -> Array2<f32> {
    let mut rng = rng_from_seed(seed);
    Array2::from_shape_fn((32, 4), |_| rng.random_range(-1.0..1.0))
}

fn model(config: TrainerConfig) -> ActorCritic {
    let (actor, critic) = nets();
    ActorCritic::new(actor, critic, config.check().unwrap(), 1e-2, 1e-5).unwrap()
}

/// One update on `obs(seed)` with a fixed head gradient.
fn update(model: &mut ActorCritic, seed: u64) {
    let o = obs(seed);
    model
        .update(o.view(), (None, None), 0.5, false, &mut |h| HeadGrads {
            policy: Array2::from_shape_fn(h.policy.raw_dim(), |(i, j)| {
                ((i + 2 * j) as f32 * 0.1).sin()
            }),
            log_std: None,
            values: Array1::from_shape_fn(h.values.len(), |i| (i as f32 * 0.3).cos()),
        })
        .unwrap();
}

fn pdm(config: impl FnOnce(&mut LocalOptions)) -> TrainerConfig {
    let mut c = LocalOptions::default();
    config(&mut c);
    TrainerConfig::Pdm(c)
}

/// The first hidden layer after one plain gradient step of the PDM loss on `obs(seed)`,
/// computed here from the rule and the layer: `W - lr dL/dW`.
fn sgd_step_by_hand(layer: &Dense<f32>, seed: u64, lr: f32) -> Dense<f32> {
    let x = obs(seed);
    let h = layer.forward(x.view());
    let out = Pdm::default()
        .loss_and_grad(x.view(), h.view(), None)
        .unwrap();
    let g = layer.backward(x.view(), h.view(), out.grad_output.view(), false);
    let mut next = layer.clone();
    Zip::from(&mut next.weight)
        .and(&g.weight)
        .for_each(|w, &d| *w -= lr * d);
    Zip::from(&mut next.bias)
        .and(&g.bias)
        .for_each(|b, &d| *b -= lr * d);
    next
}

/// `local_optimizer = "sgd"`: a step of exactly `local_lr` times the local gradient, unlike
/// Adam's; with `local_momentum` the second step differs from plain SGD's.
#[test]
fn sgd_steps_by_the_gradient_and_momentum_accumulates() {
    let sgd = pdm(|c| {
        c.local_optimizer = LocalOptimizer::Sgd;
        c.local_lr = 0.5;
    });
    let mut m = model(sgd);
    update(&mut m, 3);
    let (init, _) = nets();
    assert_eq!(m.actor.hidden[0], sgd_step_by_hand(&init.hidden[0], 3, 0.5));
    let mut adam = model(pdm(|c| c.local_lr = 0.5));
    update(&mut adam, 3);
    assert_ne!(adam.actor.hidden[0], m.actor.hidden[0]);

    let with_momentum = pdm(|c| {
        c.local_optimizer = LocalOptimizer::Sgd;
        c.local_lr = 0.5;
        c.local_momentum = 0.9;
    });
    let mut mm = model(with_momentum);
    update(&mut mm, 3);
    assert_eq!(
        mm.actor.hidden, m.actor.hidden,
        "the first step has no history"
    );
    update(&mut mm, 4);
    update(&mut m, 4);
    assert_ne!(mm.actor.hidden, m.actor.hidden, "momentum had no effect");
}

/// `local_steps`: which positions within an iteration step the hidden layers.
#[test]
fn local_steps_choose_the_minibatches_that_step() {
    let (init, _) = nets();
    for (mode, steps_at) in [
        (LocalSteps::Minibatch, [true, true, true, true]),
        (LocalSteps::Epoch, [true, false, true, false]),
        (LocalSteps::Iteration, [true, false, false, false]),
    ] {
        for ((epoch, minibatch), steps) in
            [(0, 0), (0, 1), (1, 0), (1, 3)].into_iter().zip(steps_at)
        {
            let mut m = model(pdm(|c| c.local_steps = mode));
            m.set_position(epoch, minibatch);
            update(&mut m, 3);
            assert_eq!(
                m.actor.hidden != init.hidden,
                steps,
                "{mode:?} at epoch {epoch}, minibatch {minibatch}"
            );
            assert_ne!(
                m.actor.head, init.head,
                "the heads learn on every minibatch"
            );
        }
    }
}

/// `feature_ema = d`: the rule trains a fast copy exactly as plain `pdm` trains the layer,
/// and the network's (slow) layer becomes `d * initial + (1 - d) * fast`.
#[test]
fn feature_ema_reads_a_slow_copy() {
    let mut plain = model(pdm(|_| {}));
    update(&mut plain, 3);
    let mut ema = model(pdm(|c| c.feature_ema = 0.9));
    update(&mut ema, 3);
    let (init, _) = nets();
    let [actor_local, _] = ema.local_states().unwrap();
    let fast = actor_local.fast.as_ref().expect("fast copies");
    assert_eq!(fast[0], plain.actor.hidden[0]);
    let mut want = init.hidden[0].clone();
    Zip::from(&mut want.weight)
        .and(&fast[0].weight)
        .for_each(|s, &f| *s = 0.9 * *s + 0.1 * f);
    Zip::from(&mut want.bias)
        .and(&fast[0].bias)
        .for_each(|s, &f| *s = 0.9 * *s + 0.1 * f);
    assert_eq!(ema.actor.hidden[0], want);
    assert_ne!(ema.actor.hidden[0], init.hidden[0]);
    // Off: no fast copies.
    assert!(plain.local_states().unwrap()[0].fast.is_none());
}

/// `scale_features`: the multiplier starts at 1 (the network is the `frozen` one at the
/// first update), follows `s_0 / s` of the running scale, and every forward pass applies
/// it after the activation.
#[test]
fn scale_features_multiplies_by_the_running_scale() {
    let mut m = model(pdm(|c| {
        c.scale_features = true;
        c.local_lr = 0.05;
    }));
    assert_eq!(m.actor.feature_scales, vec![1.0, 1.0]);
    update(&mut m, 3);
    assert_eq!(
        m.actor.feature_scales,
        vec![1.0, 1.0],
        "first measurement is s_0"
    );
    for seed in 4..12 {
        update(&mut m, seed);
    }
    let [actor_local, _] = m.local_states().unwrap();
    for (l, scale) in actor_local.scales.iter().enumerate() {
        assert!(scale.initial > 0.0 && scale.running > 0.0);
        assert_eq!(m.actor.feature_scales[l], scale.initial / scale.running);
        assert_ne!(
            m.actor.feature_scales[l], 1.0,
            "layer {l} scale did not move"
        );
    }
    // The forward pass by hand: each hidden output times its multiplier.
    let x = obs(20);
    let mut h = x.clone();
    for (l, layer) in m.actor.hidden.iter().enumerate() {
        h = layer.forward(h.view()) * m.actor.feature_scales[l];
    }
    let want = m.actor.head.forward(h.view());
    assert_eq!(m.actor.forward(x.view()), want);
    assert_eq!(m.actor.features(x.view()), h);
    let mut ws = pdmrl_agents::MlpWorkspace::default();
    assert_eq!(m.actor.forward_into(x.view(), &mut ws), want);
    // Off: no multipliers.
    assert!(model(pdm(|_| {})).actor.feature_scales.is_empty());
}

/// `pdm.loss`: the rule the trainer builds uses the variant.
#[test]
fn mds_loss_variant_reaches_the_rule() {
    let mut default = model(pdm(|_| {}));
    update(&mut default, 3);
    for loss in [MdsLoss::Sammon, MdsLoss::Kruskal, MdsLoss::Strain] {
        let mut m = model(pdm(|c| {
            c.pdm = PdmOptions {
                loss,
                ..PdmOptions::default()
            }
        }));
        update(&mut m, 3);
        assert_ne!(m.actor.hidden, default.actor.hidden, "{loss}");
    }
}

/// Out-of-range values and options the chosen optimiser does not read are errors naming
/// the option; `bp` and `frozen` build with any of them (they read none).
#[test]
fn options_are_checked_by_name() {
    let bad = |c: TrainerConfig| c.check().expect_err("rejected").to_string();
    for (config, name) in [
        (pdm(|c| c.local_momentum = 0.9), "local_momentum"),
        (pdm(|c| c.local_momentum = 1.0), "local_momentum"),
        (
            pdm(|c| {
                c.local_optimizer = LocalOptimizer::Sgd;
                c.local_adam_eps = 1e-2;
            }),
            "local_adam_eps",
        ),
        (pdm(|c| c.feature_ema = 1.0), "feature_ema"),
        (pdm(|c| c.feature_ema = -0.1), "feature_ema"),
        (
            pdm(|c| {
                c.pdm = PdmOptions {
                    loss: MdsLoss::Strain,
                    pairs: pdmrl_agents::Pairs::Sampled { k: 4 },
                    ..PdmOptions::default()
                }
            }),
            "pdm.loss",
        ),
    ] {
        let e = bad(config);
        assert!(e.contains(name), "{name}: {e}");
    }
}

/// A PPO run with every new option on trains, and its checkpoint resumes bit-exactly
/// (the fast copies, running scales and momentum buffers are saved and restored): the
/// iterations after the checkpoint equal those of the uninterrupted run.
#[test]
fn every_option_trains_and_resumes_exactly() {
    let config = AgentConfig {
        total_timesteps: 512 * 4,
        eval_every: 0,
        ..AgentConfig::default()
    };
    let trainer = pdm(|c| {
        c.local_optimizer = LocalOptimizer::Sgd;
        c.local_lr = 0.1;
        c.local_momentum = 0.9;
        c.local_steps = LocalSteps::Epoch;
        c.scale_features = true;
        c.feature_ema = 0.95;
        c.pdm = PdmOptions {
            loss: MdsLoss::Sammon,
            ..PdmOptions::default()
        };
    });
    let envs =
        || SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v1", 4).unwrap();
    let stats_of = |agent: &mut Agent, iterations: usize| {
        let mut out = Vec::new();
        for _ in 0..iterations {
            agent
                .iterate(&mut |e| {
                    if let Event::Iteration(it) = e {
                        out.push(format!("{it:?}"));
                    }
                })
                .unwrap();
        }
        out
    };
    let mut whole = Agent::new(config.clone(), trainer, envs(), 5).unwrap();
    let all = stats_of(&mut whole, 4);
    let mut first = Agent::new(config.clone(), trainer, envs(), 5).unwrap();
    let head = stats_of(&mut first, 2);
    assert_eq!(head, all[..2]);
    let ckpt = first.checkpoint();
    let log = first.take_action_log();
    let mut resumed = Agent::new(config, trainer, envs(), 5).unwrap();
    resumed.restore(&ckpt, &log).unwrap();
    assert_eq!(stats_of(&mut resumed, 2), all[2..]);
    assert_eq!(resumed.model().actor.hidden, whole.model().actor.hidden);
    assert_eq!(
        resumed.model().actor.feature_scales,
        whole.model().actor.feature_scales
    );
    assert_eq!(
        resumed.model().local_states().unwrap()[0],
        whole.model().local_states().unwrap()[0]
    );
}
