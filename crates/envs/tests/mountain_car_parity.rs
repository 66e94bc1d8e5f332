//! MountainCar-v0 against trajectories recorded from Gymnasium 1.4.0 (numpy 2.4.6); see
//! `tests/fixtures/gymnasium/README.md` for their provenance and the tolerance rule.
//!
//! Each episode is replayed through `Registry::with_builtins().make("MountainCar-v0")` (so
//! the TimeLimit wrapper is exercised too): `set_state(init_state)`, then every recorded
//! action, comparing observations, rewards, internal states, flags and the episode length.

mod common;

use common::{assert_recorded, bools, episodes, floats, replay_all, rows};
use pdmrl_envs::{Action, EnvError, EnvSpec, Registry, Space};

#[test]
fn fixture_is_the_expected_recording() {
    let eps = episodes("MountainCar-v0");
    assert_eq!(eps.len(), 27, "the fixture has 27 episodes");
    for ep in &eps {
        assert_recorded(ep, "MountainCar-v0", 200, "float64");
        // Reward -1 on every step, the terminating one included.
        assert!(floats(&ep["rewards"], "rewards").iter().all(|&r| r == -1.0));
    }
    let truncated_at_200 = eps
        .iter()
        .filter(|ep| {
            let tr = bools(&ep["truncated"], "truncated");
            let te = bools(&ep["terminated"], "terminated");
            tr.len() == 200 && tr[199] && !te[199]
        })
        .count();
    assert_eq!(
        truncated_at_200, 22,
        "random 5, constant 3 x 5, truncation 2"
    );
    // The bounce episodes hit the left wall (position clamped to -1.2 and the velocity
    // reset to 0 by the left-wall rule), then terminate at the goal.
    let bounces: Vec<_> = eps.iter().filter(|ep| ep["case"] == "bounce").collect();
    assert_eq!(bounces.len(), 5);
    for ep in &bounces {
        let states = rows(&ep["states"], "states");
        assert!(
            states.iter().any(|s| s[0] == -1.2 && s[1] == 0.0),
            "a bounce episode hits the left wall"
        );
        assert_eq!(bools(&ep["terminated"], "terminated").last(), Some(&true));
        let last = states.last().unwrap();
        assert!(last[0] >= 0.5 && last[1] >= 0.0, "terminated at the goal");
    }
    let terminated = eps
        .iter()
        .filter(|ep| bools(&ep["terminated"], "terminated").last() == Some(&true))
        .count();
    assert_eq!(terminated, 5, "only the bounce episodes terminate");
}

#[test]
fn mountain_car_matches_gymnasium_1_4_0() {
    let r = replay_all("MountainCar-v0");
    assert_eq!(r.episodes, 27);
    // 22 x 200 truncated + 5 bounces of 114-192 steps.
    assert_eq!(r.steps, 22 * 200 + 192 + 189 + 189 + 114 + 187);
}

#[test]
fn registry_makes_mountain_car_with_a_200_step_limit_and_kwargs() {
    let r = Registry::with_builtins();
    assert_eq!(
        r.spec("MountainCar-v0"),
        Some(&EnvSpec {
            id: "MountainCar-v0".to_string(),
            max_episode_steps: Some(200),
        })
    );
    let mut env = r.make("MountainCar-v0").unwrap();
    assert_eq!(env.id(), "MountainCar-v0");
    assert_eq!(env.action_space(), Space::Discrete { n: 3 });
    assert_eq!(env.observation_space().flat_dim(), 2);
    // Doing nothing never reaches the flag: the time limit ends the episode.
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
    assert_eq!(n, 200);
    assert!(matches!(
        env.step(&Action::Discrete(1)),
        Err(EnvError::StepAfterDone { .. })
    ));

    // goal_velocity reaches the env through make_with: at the flag but too slow.
    let kwargs: pdmrl_envs::toml::Table = "goal_velocity = 0.05".parse().unwrap();
    let mut env = r.make_with("MountainCar-v0", &kwargs).unwrap();
    env.set_state(&[0.49, 0.02]).unwrap();
    let s = env.step(&Action::Discrete(2)).unwrap();
    assert!(env.state().unwrap()[0] >= 0.5);
    assert!(!s.terminated);
    let mut env = r.make("MountainCar-v0").unwrap();
    env.set_state(&[0.49, 0.02]).unwrap();
    assert!(env.step(&Action::Discrete(2)).unwrap().terminated);

    let kwargs: pdmrl_envs::toml::Table = "gravity = 0.003".parse().unwrap();
    let err = r.make_with("MountainCar-v0", &kwargs).err().unwrap();
    assert!(err.to_string().contains("`gravity`"), "{err}");
}
