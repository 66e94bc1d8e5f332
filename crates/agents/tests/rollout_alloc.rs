//! The steady-state rollout step allocates nothing: the vector env stepped into a reused
//! `VectorStep` (auto-resets included) and the policy's forward pass through a reused
//! `MlpWorkspace`, with the greedy action written into a reused action buffer (issue 8's
//! allocation target; `allocation_counter` counts this thread's allocations only).

use ndarray::Array2;
use pdmrl_agents::pdmrl_envs::{Action, Registry, SyncVectorEnv, VectorStep};
use pdmrl_agents::{Mlp, MlpWorkspace};
use pdmrl_tensor::{Activation, rng_from_seed};

/// Steps of the measured loop: CartPole episodes under this policy end every few dozen
/// steps, so the loop crosses many auto-resets.
const STEPS: usize = 2000;

fn policy() -> Mlp {
    Mlp::new(
        4,
        &[64, 64],
        2,
        Activation::Tanh,
        2f64.sqrt(),
        0.01,
        &mut rng_from_seed(7),
    )
}

/// Greedy action of each row of `logits: [num_envs, 2]`, written into `actions`.
fn greedy(logits: ndarray::ArrayView2<f32>, actions: &mut [Action]) {
    for (a, row) in actions.iter_mut().zip(logits.rows()) {
        *a = Action::Discrete(usize::from(row[1] > row[0]));
    }
}

#[test]
fn rollout_steps_allocate_nothing_after_warm_up() {
    let net = policy();
    let mut envs = SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v1", 4)
        .expect("CartPole-v1");
    let mut obs: Array2<f32> = envs.reset(Some(1));
    let mut workspace = MlpWorkspace::default();
    let mut actions = vec![Action::Discrete(0); 4];
    let mut step = envs.step(&actions).expect("first step");
    let mut episodes = 0usize;
    let mut one_step = |obs: &mut Array2<f32>, step: &mut VectorStep| {
        let logits = net.forward_into(obs.view(), &mut workspace);
        greedy(logits, &mut actions);
        envs.step_into(&actions, step).expect("step");
        obs.assign(&step.observations);
        episodes += step.final_observations.iter().flatten().count();
    };
    // Warm-up: buffers take their sizes, final-observation buffers are made.
    for _ in 0..10 {
        one_step(&mut obs, &mut step);
    }
    let info = allocation_counter::measure(|| {
        for _ in 0..STEPS {
            one_step(&mut obs, &mut step);
        }
    });
    assert!(episodes > 20, "the loop must cross auto-resets: {episodes}");
    // The counter is live: one allocation is seen.
    let one = allocation_counter::measure(|| {
        std::hint::black_box(vec![0u8; 8]);
    });
    assert_eq!(one.count_total, 1);
    assert_eq!(
        info.count_total, 0,
        "allocations in {STEPS} steady-state steps: {info:?}"
    );
}

/// `step_into` into a reused `VectorStep` gives what `step` gives, bit for bit, across
/// auto-resets, on every discrete classic-control env.
#[test]
fn step_into_equals_step() {
    let registry = Registry::with_builtins();
    for id in ["CartPole-v1", "Acrobot-v1", "MountainCar-v0"] {
        let mut a = SyncVectorEnv::from_registry(&registry, id, 3).unwrap();
        let mut b = SyncVectorEnv::from_registry(&registry, id, 3).unwrap();
        assert_eq!(a.reset(Some(5)), b.reset(Some(5)));
        let n_actions = match a.single_action_space() {
            pdmrl_agents::pdmrl_envs::Space::Discrete { n } => *n,
            other => panic!("{other}"),
        };
        let first = vec![Action::Discrete(0); 3];
        let mut reused = b.step(&first).unwrap();
        a.step(&first).unwrap();
        let mut ended = 0;
        for t in 0..600usize {
            let actions: Vec<Action> = (0..3)
                .map(|i| Action::Discrete((t * 7 + i * 3 + t / 5) % n_actions))
                .collect();
            let fresh = a.step(&actions).unwrap();
            b.step_into(&actions, &mut reused).unwrap();
            assert_eq!(fresh, reused, "{id}, step {t}");
            ended += fresh.final_observations.iter().flatten().count();
        }
        assert!(ended > 0, "{id}: no episode ended");
    }
}

/// `Mlp::forward_into` gives `forward`'s bits, at rollout and minibatch sizes, and reuses
/// its workspace across batch sizes.
#[test]
fn forward_into_equals_forward() {
    let net = policy();
    let mut workspace = MlpWorkspace::default();
    let mut rng = rng_from_seed(3);
    for rows in [4, 1, 16, 17, 128, 4] {
        let x = Array2::from_shape_fn((rows, 4), |_| {
            rand::Rng::random_range(&mut rng, -2.0f32..2.0)
        });
        let expected = net.forward(x.view());
        assert_eq!(
            net.forward_into(x.view(), &mut workspace),
            expected,
            "{rows} rows"
        );
    }
}
