//! `Env::step_into` and `Env::reset_into` give what `step` and `reset` give, bit for bit,
//! on every registered env (the allocation-free overrides of the discrete classic-control
//! envs and `TimeLimit`, and the default of the others), and a buffer of the wrong length
//! is an error naming the env.

use pdmrl_envs::{Action, EnvError, Registry};
use rand::SeedableRng;

#[test]
fn step_into_and_reset_into_equal_step_and_reset_on_every_env() {
    let registry = Registry::with_builtins();
    for id in registry.ids() {
        let (mut a, mut b) = (registry.make(&id).unwrap(), registry.make(&id).unwrap());
        let dim = a.observation_space().flat_dim();
        let mut buffer = vec![f32::NAN; dim];
        let (first, info) = a.reset(Some(3));
        assert_eq!(b.reset_into(Some(3), &mut buffer).unwrap(), info, "{id}");
        assert_eq!(first.to_vec(), buffer, "{id}: reset");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut ends = 0;
        for t in 0..3000 {
            let action = a.action_space().sample(&mut rng);
            let s = a.step(&action).unwrap();
            let tr = b.step_into(&action, &mut buffer).unwrap();
            assert_eq!(s.observation.to_vec(), buffer, "{id}: step {t}");
            assert_eq!(
                (s.reward, s.terminated, s.truncated, &s.info),
                (tr.reward, tr.terminated, tr.truncated, &tr.info),
                "{id}: step {t}"
            );
            if s.terminated || s.truncated {
                ends += 1;
                let (first, _) = a.reset(None);
                b.reset_into(None, &mut buffer).unwrap();
                assert_eq!(first.to_vec(), buffer, "{id}: reset after step {t}");
            }
        }
        // Random play ends an episode (or reaches the time limit: Freeway 2500) within 3000
        // steps.
        assert!(ends > 0, "{id}: no episode ended");
        let mut short = vec![0.0; dim + 1];
        match b.step_into(&Action::Discrete(0), &mut short) {
            Err(EnvError::ObservationLength {
                id: named,
                got,
                expected,
                ..
            }) => {
                assert_eq!((named.as_str(), got, expected), (id.as_str(), dim, dim + 1));
            }
            // Continuous envs reject the discrete action first.
            Err(EnvError::InvalidAction { .. }) => {}
            other => panic!("{id}: {other:?}"),
        }
    }
}
