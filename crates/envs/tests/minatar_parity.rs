//! Every recorded MinAtar episode (`fixtures/minatar/*.jsonl`, minatar 1.0.15) replays
//! exactly: per step the applied action (after the sticky test), reward, terminal flag,
//! every cell of the observation and the number of generator outputs consumed. Episodes
//! of a case run back to back in one env, as they were recorded; each episode also
//! replays on its own, started mid-stream. `<game>.jsonl` are the reference episodes;
//! `<game>_paths.jsonl` (recorded by `record_paths.py`) reach the terminal and clamp
//! paths those do not: Seaquest's oxygen running out (with and without sticky actions
//! and ramping), its six collisions and the diver-count and ramp ends, Space Invaders'
//! aliens at the bottom row, Asterix's enemy moving onto the player, and Breakout's wall
//! refilled on the losing act.

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

/// Replays every episode of `file` with `game`, the cases back to back and then each
/// episode alone; returns `(episodes, steps)`.
fn check_game(file: &str, game: &str) -> (usize, usize) {
    let all = episodes(file);
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
        let what = format!(
            "{game} case {} episode {} alone",
            e["case"],
            int(&e["episode_index_in_env"])
        );
        replay(&mut env, e, &what);
    }
    (all.len(), steps)
}

#[test]
fn breakout_replays_every_recorded_episode() {
    assert_eq!(check_game("breakout.jsonl", "Breakout"), (8, 5548));
    assert_eq!(
        check_game("breakout_paths.jsonl", "Breakout"),
        BREAKOUT_PATHS
    );
}

#[test]
fn space_invaders_replays_every_recorded_episode() {
    assert_eq!(
        check_game("space_invaders.jsonl", "SpaceInvaders"),
        (8, 3941)
    );
    assert_eq!(
        check_game("space_invaders_paths.jsonl", "SpaceInvaders"),
        SPACE_INVADERS_PATHS
    );
}

#[test]
fn freeway_replays_every_recorded_episode() {
    assert_eq!(check_game("freeway.jsonl", "Freeway"), (8, 9101));
}

#[test]
fn asterix_replays_every_recorded_episode() {
    assert_eq!(check_game("asterix.jsonl", "Asterix"), (8, 7614));
    assert_eq!(check_game("asterix_paths.jsonl", "Asterix"), ASTERIX_PATHS);
}

#[test]
fn seaquest_replays_every_recorded_episode() {
    assert_eq!(check_game("seaquest.jsonl", "Seaquest"), (8, 7556));
}

/// Seaquest's oxygen deaths, sticky or not, ramping or not, the six collisions, and the
/// ends of the diver count and of the ramp.
#[test]
fn seaquest_replays_every_recorded_path() {
    assert_eq!(
        check_game("seaquest_paths.jsonl", "Seaquest"),
        SEAQUEST_PATHS
    );
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

/// `(episodes, steps)` of the `_paths` files.
const SEAQUEST_PATHS: (usize, usize) = (12, 3724);
const SPACE_INVADERS_PATHS: (usize, usize) = (3, 752);
const ASTERIX_PATHS: (usize, usize) = (2, 52);
const BREAKOUT_PATHS: (usize, usize) = (1, 368);

/// The row of the sub (its front, channel 0) and the number of oxygen-gauge cells
/// (channel 7, all on row 9 from column 0) of a recorded observation.
fn sub_row_and_gauge(obs: &Value) -> (usize, usize) {
    let cells = cells(obs);
    let sub: Vec<&[usize; 3]> = cells.iter().filter(|c| c[2] == 0).collect();
    assert_eq!(sub.len(), 1, "one sub front");
    let gauge: Vec<&[usize; 3]> = cells.iter().filter(|c| c[2] == 7).collect();
    for (k, c) in gauge.iter().enumerate() {
        assert_eq!((c[0], c[1]), (9, k), "gauge cells from column 0 of row 9");
    }
    (sub[0][0], gauge.len())
}

/// Oxygen before each act of a Seaquest episode, and after it, followed from the
/// observations by the package's rule: 200 at reset; one less after an act that ends with
/// the sub below row 0; 200 again after an act that brings it up to row 0 (a surfacing)
/// and does not end the episode (a surfacing without divers ends it). `after` is `None`
/// for a terminal surfacing: it refills only if the diver count is not 0, which the
/// diver gauge does not tell from a negative count.
fn oxygen_track(episode: &Value) -> Vec<(i64, Option<i64>)> {
    let terminals = episode["terminals"].as_array().unwrap();
    let (mut oxygen, mut row) = (200, 0);
    let mut out = Vec::new();
    for (i, obs) in episode["observations"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let before = oxygen;
        let (now, _) = sub_row_and_gauge(obs);
        let terminal = terminals[i].as_bool().unwrap();
        let after = if now > 0 {
            Some(oxygen - 1)
        } else if row == 0 {
            Some(oxygen)
        } else if terminal {
            None
        } else {
            Some(200)
        };
        out.push((before, after));
        oxygen = after.unwrap_or(oxygen);
        row = now;
    }
    out
}

/// The package ends an episode on the act at whose start the oxygen is 0 (`oxygen <= 0`
/// is tested before the act's own drop), never later, and draws `max(0, oxygen) * 10 //
/// 200` gauge cells: checked on every recorded Seaquest step, with the oxygen followed
/// from the observations. The `_paths` file holds oxygen deaths below the surface for
/// every sticky/ramping combination, and one on a surfacing act, which still refills.
#[test]
fn seaquest_oxygen_runs_out_on_the_act_that_starts_at_0() {
    // (episode, sticky, ramping, row of the sub at the end, gauge cells at the end)
    let mut deaths: Vec<(String, bool, bool, usize, usize)> = Vec::new();
    let mut steps = 0;
    for file in ["seaquest.jsonl", "seaquest_paths.jsonl"] {
        for e in episodes(file) {
            let what = format!(
                "{file} case {} episode {}",
                e["case"],
                int(&e["episode_index_in_env"])
            );
            let track = oxygen_track(&e);
            let terminals = e["terminals"].as_array().unwrap();
            let observations = e["observations"].as_array().unwrap();
            let last = track.len() - 1;
            for (i, &(before, after)) in track.iter().enumerate() {
                assert!(
                    before >= 0,
                    "{what}, step {i}: oxygen {before} before the act"
                );
                if before == 0 {
                    assert_eq!(i, last, "{what}: step {i} starts at 0 and is not the last");
                    assert!(
                        terminals[i].as_bool().unwrap(),
                        "{what}: step {i} not terminal"
                    );
                }
                if let Some(after) = after {
                    let (_, gauge) = sub_row_and_gauge(&observations[i]);
                    let want = (after.max(0) * 10 / 200) as usize;
                    assert_eq!(gauge, want, "{what}, step {i}: gauge for oxygen {after}");
                }
                steps += 1;
            }
            if track[last].0 == 0 {
                let (row, gauge) = sub_row_and_gauge(&observations[last]);
                deaths.push((
                    what,
                    e["sticky_action_prob"].as_f64().unwrap() > 0.0,
                    e["difficulty_ramping"].as_bool().unwrap(),
                    row,
                    gauge,
                ));
            }
        }
    }
    assert_eq!(steps, 7556 + SEAQUEST_PATHS.1);
    for sticky in [false, true] {
        for ramping in [false, true] {
            assert!(
                deaths
                    .iter()
                    .any(|d| (d.1, d.2) == (sticky, ramping) && d.3 > 0 && d.4 == 0),
                "no oxygen death below the surface, sticky {sticky}, ramping {ramping}: {deaths:?}"
            );
        }
    }
    assert!(
        deaths.iter().any(|d| d.3 == 0 && d.4 == 10),
        "no oxygen death on a surfacing act (refilled gauge): {deaths:?}"
    );
    assert_eq!(deaths.len(), 6, "{deaths:?}");
}
