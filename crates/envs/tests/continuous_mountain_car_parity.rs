//! MountainCarContinuous-v0 against trajectories recorded from Gymnasium 1.4.0 (numpy
//! 2.4.6); see `tests/fixtures/gymnasium/README.md` for their provenance and the tolerance
//! rule.
//!
//! Each episode is replayed through `Registry::with_builtins().make("MountainCarContinuous-v0")`
//! (so the 999-step TimeLimit is exercised too): `set_state(init_state)`, then every recorded
//! action, comparing observations, rewards, internal states, flags and the episode length.
//! Matching within the tolerance requires reproducing Gymnasium's float32 steps (see
//! `src/continuous_mountain_car.rs`).

mod common;

use common::{assert_recorded, bools, cases, episodes, floats, replay_all, rows, scalar_actions};

const ID: &str = "MountainCarContinuous-v0";

#[test]
fn fixture_is_the_expected_recording() {
    let eps = episodes(ID);
    assert_eq!(eps.len(), 15, "the fixture has 15 episodes");
    for ep in &eps {
        assert_recorded(ep, ID, 999, "float64");
        assert_eq!(ep["action_dtype"], "float32");
    }

    // random: 5 episodes truncated at 999 steps, actions within [-1, 1].
    let random = cases(&eps, "random");
    assert_eq!(random.len(), 5);
    for ep in &random {
        let tr = bools(&ep["truncated"], "truncated");
        assert_eq!(tr.len(), 999);
        assert!(tr[998]);
        assert!(!bools(&ep["terminated"], "terminated")[998]);
        assert!(scalar_actions(ep).iter().all(|a| (-1.0..=1.0).contains(a)));
    }

    // out_of_bounds and pump: the car hits the left wall (position clamped to -1.2,
    // velocity reset to 0), then terminates at the goal.
    let wall = f64::from(-1.2_f64 as f32);
    for case in ["out_of_bounds", "pump"] {
        let eps = cases(&eps, case);
        assert_eq!(eps.len(), 5, "{case}");
        for ep in eps {
            let states = rows(&ep["states"], "states");
            assert!(
                states.iter().any(|s| s[0] == wall && s[1] == 0.0),
                "{case}: the car hits the left wall"
            );
            let term = bools(&ep["terminated"], "terminated");
            assert!(*term.last().unwrap(), "{case}: terminated at the goal");
            assert!((106..=109).contains(&term.len()), "{case}: {}", term.len());
            let last = states.last().unwrap();
            assert!(last[0] >= 0.45 && last[1] >= 0.0);
            assert!(floats(&ep["rewards"], "rewards").last().unwrap() > &90.0);
        }
    }
    // out_of_bounds: |a| > 1 (±3, ±7.5, ±1e6), and the raw action is penalised.
    let mut magnitudes: Vec<f64> = cases(&eps, "out_of_bounds")
        .iter()
        .flat_map(|ep| scalar_actions(ep))
        .map(f64::abs)
        .collect();
    assert!(magnitudes.iter().all(|&a| a > 1.0));
    magnitudes.sort_by(f64::total_cmp);
    magnitudes.dedup();
    assert_eq!(magnitudes, vec![3.0, 7.5, 1e6]);
    assert!(
        cases(&eps, "out_of_bounds")
            .iter()
            .flat_map(|ep| floats(&ep["rewards"], "rewards"))
            .any(|r| r == -1e11),
        "the penalty of a = 1e6 is -0.1 * 1e12"
    );
    // pump: full force ±1.
    assert!(
        cases(&eps, "pump")
            .iter()
            .flat_map(|ep| scalar_actions(ep))
            .all(|a| a.abs() == 1.0)
    );
}

/// Prints the largest |reward error| over the fixture (the harness checks rewards against the f64
/// tolerance but reports only observation and state errors).
fn max_reward_err() {
    let registry = pdmrl_envs::Registry::with_builtins();
    let mut max_err = 0f64;
    for ep in episodes(ID) {
        let mut env = registry.make(ID).unwrap();
        env.set_state(&floats(&ep["init_state"], "init_state"))
            .unwrap();
        let rewards = floats(&ep["rewards"], "rewards");
        for (t, a) in ep["actions"].as_array().unwrap().iter().enumerate() {
            let step = env.step(&common::action(a)).unwrap();
            max_err = max_err.max((step.reward - rewards[t]).abs());
        }
    }
    eprintln!("{ID}: max |reward err| = {max_err:e}");
}

#[test]
fn continuous_mountain_car_matches_gymnasium_1_4_0() {
    let r = replay_all(ID);
    // Rewards are checked by `replay_all`; this only reports their largest error.
    max_reward_err();
    assert_eq!(r.episodes, 15);
    // 5 × 999 random steps plus 10 episodes of 106-109 steps.
    assert!(r.steps > 5000, "checked {} steps", r.steps);
}
