//! CartPole-v1 against trajectories recorded from Gymnasium 1.4.0 (numpy 2.4.6); see
//! `tests/fixtures/gymnasium/README.md` for their provenance and the tolerance rule.
//!
//! Each episode is replayed through `Registry::with_builtins().make("CartPole-v1")` (so the
//! TimeLimit wrapper is exercised too): `set_state(init_state)`, then every recorded action,
//! comparing observations, rewards, internal states, flags and the episode length.

mod common;

use common::{assert_recorded, bools, episodes, replay_all};

#[test]
fn fixture_is_the_expected_recording() {
    let eps = episodes("CartPole-v1");
    assert_eq!(eps.len(), 17, "the fixture has 17 episodes");
    for ep in &eps {
        assert_recorded(ep, "CartPole-v1", 500, "float64");
    }
    let truncated_at_500 = eps
        .iter()
        .filter(|ep| {
            let tr = bools(&ep["truncated"], "truncated");
            tr.len() == 500 && tr[499]
        })
        .count();
    assert!(
        truncated_at_500 >= 1,
        "at least one episode is truncated at 500 steps"
    );
    let terminated = eps
        .iter()
        .filter(|ep| bools(&ep["terminated"], "terminated").last() == Some(&true))
        .count();
    assert!(terminated >= 1, "at least one episode terminates");
    // Both actions occur, so both force directions are exercised.
    let actions: Vec<u64> = eps
        .iter()
        .flat_map(|ep| ep["actions"].as_array().unwrap().clone())
        .map(|a| a.as_u64().unwrap())
        .collect();
    assert!(actions.contains(&0) && actions.contains(&1));
}

#[test]
fn cartpole_matches_gymnasium_1_4_0() {
    let r = replay_all("CartPole-v1");
    assert_eq!(r.episodes, 17);
    // 5 random episodes (14-41 steps), 10 constant ones (8-11), 2 x 500 balanced.
    assert!(r.steps > 1100, "checked {} steps", r.steps);
}
