//! Environment throughput: steps per second of every registered env, alone and in a
//! `SyncVectorEnv` of 8 copies, under uniformly random actions.
//!
//! The actions are sampled before the timed loop; the timed loop steps and resets on
//! episode end (so resets are part of the cost, as in training). Each iteration is
//! `STEPS` env steps (`STEPS / 8` vector steps of 8 copies); criterion reports the
//! throughput in env steps ("elements") per second.
//!
//! `cargo bench -p pdmrl-envs -- --warm-up-time 1 --measurement-time 2`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pdmrl_envs::{Action, EnvRng, Registry, SyncVectorEnv};
use rand::SeedableRng;
use std::hint::black_box;

/// Env steps per timed iteration.
const STEPS: usize = 1000;
/// Copies of the vector env.
const NUM_ENVS: usize = 8;

fn single(c: &mut Criterion) {
    let registry = Registry::with_builtins();
    let mut group = c.benchmark_group("single");
    group.throughput(Throughput::Elements(STEPS as u64));
    for id in registry.ids() {
        let mut env = registry.make(&id).expect("registered id");
        let space = env.action_space();
        let mut rng = EnvRng::seed_from_u64(0);
        let actions: Vec<Action> = (0..STEPS).map(|_| space.sample(&mut rng)).collect();
        env.reset(Some(0));
        group.bench_function(&id, |b| {
            b.iter(|| {
                for action in &actions {
                    let step = env.step(black_box(action)).expect("valid action");
                    if step.terminated || step.truncated {
                        black_box(env.reset(None));
                    }
                    black_box(step);
                }
            })
        });
    }
    group.finish();
}

fn vector(c: &mut Criterion) {
    let registry = Registry::with_builtins();
    let mut group = c.benchmark_group("vector8");
    group.throughput(Throughput::Elements(STEPS as u64));
    for id in registry.ids() {
        let mut envs =
            SyncVectorEnv::from_registry(&registry, &id, NUM_ENVS).expect("registered id");
        let space = envs.single_action_space().clone();
        let mut rng = EnvRng::seed_from_u64(0);
        let actions: Vec<Vec<Action>> = (0..STEPS / NUM_ENVS)
            .map(|_| (0..NUM_ENVS).map(|_| space.sample(&mut rng)).collect())
            .collect();
        envs.reset(Some(0));
        group.bench_function(&id, |b| {
            b.iter(|| {
                for batch in &actions {
                    black_box(envs.step(black_box(batch)).expect("valid actions"));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, single, vector);
criterion_main!(benches);
