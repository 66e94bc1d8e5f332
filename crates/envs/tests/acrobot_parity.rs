//! Acrobot-v1 against trajectories recorded from Gymnasium 1.4.0 (numpy 2.4.6); see
//! `tests/fixtures/gymnasium/README.md` for their provenance and the tolerance rule.
//!
//! Each episode is replayed through `Registry::with_builtins().make("Acrobot-v1")` (so the
//! TimeLimit wrapper is exercised too): `set_state(init_state)`, then every recorded action,
//! comparing observations, rewards, internal states, flags and the episode length.

mod common;

use common::{assert_recorded, bools, episodes, floats, replay_all, rows};
use pdmrl_envs::{Action, EnvError, EnvSpec, Registry, Space};

#[test]
fn fixture_is_the_expected_recording() {
    let eps = episodes("Acrobot-v1");
    assert_eq!(eps.len(), 14, "the fixture has 14 episodes");
    for ep in &eps {
        assert_recorded(ep, "Acrobot-v1", 500, "float32");
        // The reset state was float32: every value is exactly representable as f32.
        for v in floats(&ep["init_state"], "init_state") {
            assert_eq!(v, f64::from(v as f32));
        }
    }
    let truncated_at_500 = eps
        .iter()
        .filter(|ep| {
            let tr = bools(&ep["truncated"], "truncated");
            let te = bools(&ep["terminated"], "terminated");
            tr.len() == 500 && tr[499] && !te[499]
        })
        .count();
    assert_eq!(truncated_at_500, 9, "random 5, constant 3, truncation 1");
    let swingups: Vec<_> = eps
        .iter()
        .filter(|ep| bools(&ep["terminated"], "terminated").last() == Some(&true))
        .collect();
    assert_eq!(swingups.len(), 5, "5 swing-up episodes terminate");
    for ep in &swingups {
        assert_eq!(ep["case"], "swingup");
        let n = bools(&ep["terminated"], "terminated").len();
        assert!((65..=122).contains(&n), "swing-up length {n}");
        // Reward -1 per step, 0 on the terminal step.
        let rewards = floats(&ep["rewards"], "rewards");
        assert_eq!(rewards[n - 1], 0.0);
        assert!(rewards[..n - 1].iter().all(|&r| r == -1.0));
    }
    // All three torques are applied.
    let actions: Vec<u64> = eps
        .iter()
        .flat_map(|ep| ep["actions"].as_array().unwrap().clone())
        .map(|a| a.as_u64().unwrap())
        .collect();
    for a in 0..3 {
        assert!(actions.contains(&a), "action {a} occurs");
    }
    // Angles are wrapped into [-pi, pi] and some steps really wrap (a jump of more than pi).
    let mut wraps = 0;
    for ep in &eps {
        let mut prev = floats(&ep["init_state"], "init_state");
        for s in rows(&ep["states"], "states") {
            for k in 0..2 {
                assert!(s[k].abs() <= std::f64::consts::PI);
                if (s[k] - prev[k]).abs() > std::f64::consts::PI {
                    wraps += 1;
                }
            }
            prev = s;
        }
    }
    assert!(wraps > 0, "the fixture exercises the angle wrapping");
}

#[test]
fn acrobot_matches_gymnasium_1_4_0() {
    let r = replay_all("Acrobot-v1");
    assert_eq!(r.episodes, 14);
    // 9 x 500 truncated + 5 swing-ups of 65-122 steps.
    assert_eq!(r.steps, 9 * 500 + 122 + 65 + 65 + 82 + 96);
}

#[test]
fn registry_makes_acrobot_with_a_500_step_limit() {
    let r = Registry::with_builtins();
    assert_eq!(
        r.spec("Acrobot-v1"),
        Some(&EnvSpec {
            id: "Acrobot-v1".to_string(),
            max_episode_steps: Some(500),
        })
    );
    let mut env = r.make("Acrobot-v1").unwrap();
    assert_eq!(env.id(), "Acrobot-v1");
    assert_eq!(env.action_space(), Space::Discrete { n: 3 });
    assert_eq!(env.observation_space().flat_dim(), 6);
    // Hanging still with no torque never terminates: the time limit ends the episode.
    env.reset(Some(7));
    let mut n = 0;
    loop {
        let s = env.step(&Action::Discrete(1)).unwrap();
        n += 1;
        assert!(!s.terminated);
        if s.truncated {
            break;
        }
    }
    assert_eq!(n, 500);
    assert!(matches!(
        env.step(&Action::Discrete(1)),
        Err(EnvError::StepAfterDone { .. })
    ));

    let kwargs: pdmrl_envs::toml::Table = "book_or_nips = \"nips\"".parse().unwrap();
    let err = r.make_with("Acrobot-v1", &kwargs).err().unwrap();
    assert!(err.to_string().contains("`book_or_nips`"), "{err}");
}
