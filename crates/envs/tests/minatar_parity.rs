//! Every recorded MinAtar episode (`fixtures/minatar/*.jsonl`, minatar 1.0.15) replays
//! exactly: per step the applied action (after the sticky test), reward, terminal flag,
//! every cell of the observation and the number of generator outputs consumed. Episodes
//! of a case run back to back in one env, as they were recorded; each episode also
//! replays on its own, started mid-stream.

use pdmrl_envs::minatar::MinAtar;
use pdmrl_envs::{Action, Env};
use serde_json::Value;

fn episodes(file: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/fixtures/minatar/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn int(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

fn cells(v: &Value) -> Vec<[usize; 3]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let c: Vec<usize> = c
                .as_array()
                .unwrap()
                .iter()
                .map(|x| int(x) as usize)
                .collect();
            [c[0], c[1], c[2]]
        })
        .collect()
}

fn new_env(game: &str, episode: &Value) -> MinAtar {
    MinAtar::new(
        game,
        false,
        episode["sticky_action_prob"].as_f64().unwrap(),
        episode["difficulty_ramping"].as_bool().unwrap(),
    )
    .unwrap()
}

/// Replays one episode in `env` (reset included); returns the steps replayed.
fn replay(env: &mut MinAtar, episode: &Value, what: &str) -> usize {
    assert_eq!(
        env.last_action() as u64,
        int(&episode["last_action_before_reset"]),
        "{what}"
    );
    assert_eq!(
        env.rng_outputs(),
        int(&episode["mt_outputs_before_reset"]),
        "{what}: outputs before reset"
    );
    env.reset(None);
    assert_eq!(
        env.rng_outputs(),
        int(&episode["mt_outputs_after_reset"]),
        "{what}: outputs after reset"
    );
    assert_eq!(
        env.true_cells(),
        cells(&episode["init_obs"]),
        "{what}: initial observation"
    );
    let n = episode["actions"].as_array().unwrap().len();
    assert_eq!(n as u64, int(&episode["length"]));
    for i in 0..n {
        let at = format!("{what}, step {i}");
        let step = env
            .step(&Action::Discrete(int(&episode["actions"][i]) as usize))
            .unwrap();
        assert_eq!(
            env.last_action() as u64,
            int(&episode["applied_actions"][i]),
            "{at}: applied action"
        );
        assert_eq!(
            env.rng_outputs(),
            int(&episode["mt_outputs_after_step"][i]),
            "{at}: outputs"
        );
        assert_eq!(
            step.reward,
            int(&episode["rewards"][i]) as f64,
            "{at}: reward"
        );
        assert_eq!(
            step.terminated,
            episode["terminals"][i].as_bool().unwrap(),
            "{at}: terminal"
        );
        assert!(!step.truncated);
        assert_eq!(
            env.true_cells(),
            cells(&episode["observations"][i]),
            "{at}: observation"
        );
        let flat: Vec<f32> = step.observation.to_vec();
        assert_eq!(
            flat.iter().filter(|v| **v == 1.0).count(),
            env.true_cells().len()
        );
    }
    let ramp = episode["difficulty_ramp_end"].as_u64().map(|r| r as usize);
    assert_eq!(env.difficulty_ramp(), ramp, "{what}: ramp at the end");
    n
}

fn check_game(file: &str, game: &str) {
    let all = episodes(file);
    assert_eq!(all.len(), 8);
    let mut steps = 0;
    // Back to back, one env per case.
    let mut cases: Vec<(String, u64)> = Vec::new();
    for e in &all {
        let key = (e["case"].as_str().unwrap().to_string(), int(&e["seed"]));
        if !cases.contains(&key) {
            cases.push(key);
        }
    }
    for (case, seed) in &cases {
        let mut group: Vec<&Value> = all
            .iter()
            .filter(|e| e["case"] == case.as_str() && int(&e["seed"]) == *seed)
            .collect();
        group.sort_by_key(|e| int(&e["episode_index_in_env"]));
        // `env.seed(seed)` once; `replay` resets without a seed before each episode.
        let mut env = new_env(game, group[0]);
        env.rng_mut().reseed(*seed as u32);
        for e in group {
            let what = format!(
                "{game} case {case} episode {}",
                int(&e["episode_index_in_env"])
            );
            steps += replay(&mut env, e, &what);
        }
    }
    // Each episode on its own, started mid-stream.
    for e in &all {
        let mut env = new_env(game, e);
        env.rng_mut().reseed(int(&e["seed"]) as u32);
        for _ in 0..int(&e["mt_outputs_before_reset"]) {
            env.rng_mut().next_u32();
        }
        env.set_last_action(int(&e["last_action_before_reset"]) as usize);
        let what = format!("{game} case {} alone", e["case"]);
        replay(&mut env, e, &what);
    }
    assert!(steps > 1000, "{steps} steps");
}

#[test]
fn breakout_replays_every_recorded_episode() {
    check_game("breakout.jsonl", "Breakout");
}

#[test]
fn space_invaders_replays_every_recorded_episode() {
    check_game("space_invaders.jsonl", "SpaceInvaders");
}

#[test]
fn freeway_replays_every_recorded_episode() {
    check_game("freeway.jsonl", "Freeway");
}

#[test]
fn asterix_replays_every_recorded_episode() {
    check_game("asterix.jsonl", "Asterix");
}

#[test]
fn seaquest_replays_every_recorded_episode() {
    check_game("seaquest.jsonl", "Seaquest");
}

/// `reset(seed)` is `env.seed(seed)` then `reset()`, as Gymnasium's `reset(seed=s)` in
/// `minatar.gym`: the first episode of a case replays from a seeded reset.
#[test]
fn a_seeded_reset_is_seed_then_reset() {
    let e = &episodes("breakout.jsonl")[0];
    let mut env = new_env("Breakout", e);
    env.reset(Some(int(&e["seed"])));
    assert_eq!(env.rng_outputs(), int(&e["mt_outputs_after_reset"]));
    assert_eq!(env.true_cells(), cells(&e["init_obs"]));
}
