//! `pdmrl env rollout`: replay actions from a given internal state and print each step,
//! the way anyone checks an environment against Gymnasium.

use crate::error::RunnerError;
use pdmrl_envs::{Action, Registry, Space};
use serde::Serialize;
use serde_json::Value;

/// One printed step: `{"observation":[..],"reward":r,"terminated":b,"truncated":b,"state":[..]}`.
///
/// Observations are f32 printed as the exact f64 of each value, as the Gymnasium fixtures
/// store them; `state` is the env's internal state after the step (omitted for envs that do
/// not expose it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutStep {
    /// Observation after the step.
    pub observation: Vec<f64>,
    /// Reward of the step.
    pub reward: f64,
    /// The episode reached a terminal state.
    pub terminated: bool,
    /// The episode was cut by the time limit.
    pub truncated: bool,
    /// Internal state after the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<Vec<f64>>,
    /// 0-based episode of a seeded rollout of several episodes (`--episodes-file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub episode: Option<usize>,
}

/// Parses a JSON array of numbers (an `--init-state`).
///
/// # Errors
/// [`RunnerError::Input`] naming `what` and the problem.
pub fn parse_state(text: &str, what: &str) -> Result<Vec<f64>, RunnerError> {
    serde_json::from_str::<Vec<f64>>(text).map_err(|e| {
        RunnerError::Input(format!(
            "{what} must be a JSON array of numbers, e.g. [0.01, 0.0, -0.02, 0.03]: {e}"
        ))
    })
}

/// Parses a JSON array of actions for `space`: integers for `Discrete`, arrays of numbers
/// for `Box` (e.g. `[[0.5], [-2.0]]`).
///
/// # Errors
/// [`RunnerError::Input`] naming the offending position.
pub fn parse_actions(text: &str, space: &Space, what: &str) -> Result<Vec<Action>, RunnerError> {
    let values: Vec<Value> = serde_json::from_str(text)
        .map_err(|e| RunnerError::Input(format!("{what} must be a JSON array: {e}")))?;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match space {
            Space::Discrete { .. } => v
                .as_u64()
                .map(|a| Action::Discrete(a as usize))
                .ok_or_else(|| RunnerError::Input(format!("{what}[{i}] = {v}: expected a non-negative integer for action space {space}"))),
            Space::Box { .. } => {
                let a = serde_json::from_value::<Vec<f64>>(v.clone()).map_err(|_| {
                    RunnerError::Input(format!(
                        "{what}[{i}] = {v}: expected an array of numbers for action space {space}"
                    ))
                })?;
                if let Some(x) = a.iter().find(|x| x.abs() > f64::from(f32::MAX)) {
                    return Err(RunnerError::Input(format!(
                        "{what}[{i}]: {x:e} is outside the float32 range of actions"
                    )));
                }
                Ok(Action::Continuous(a.iter().map(|&x| x as f32).collect()))
            }
        })
        .collect()
}

/// Makes `env_id`, sets its internal state to `init_state`, applies `actions` in order and
/// returns one [`RolloutStep`] per step, stopping after a step that ends the episode.
///
/// # Errors
/// Unknown id, invalid state (wrong length, non-finite), an action outside the action
/// space (naming its index).
pub fn rollout(
    registry: &Registry,
    env_id: &str,
    init_state: &[f64],
    actions: &[Action],
) -> Result<Vec<RolloutStep>, RunnerError> {
    let mut env = registry.make(env_id)?;
    let space = env.action_space();
    // Every action is checked before any is applied, also those after the episode ends:
    // its type and shape, a discrete one against the space, a continuous one for
    // finiteness. Finite out-of-bounds continuous actions go to the env, which clips them
    // as Gymnasium does.
    let plausible = |a: &Action| match (a, &space) {
        (Action::Continuous(v), Space::Box { low, .. }) => {
            v.len() == low.len() && v.iter().all(|x| x.is_finite())
        }
        _ => space.contains(a),
    };
    if let Some((i, a)) = actions.iter().enumerate().find(|(_, a)| !plausible(a)) {
        return Err(RunnerError::Input(format!(
            "action {i}: {}",
            pdmrl_envs::EnvError::invalid_action(a, space.clone())
        )));
    }
    env.set_state(init_state)?;
    let mut steps = Vec::with_capacity(actions.len());
    for (i, action) in actions.iter().enumerate() {
        let step = env
            .step(action)
            .map_err(|e| RunnerError::Input(format!("action {i}: {e}")))?;
        let ended = step.terminated || step.truncated;
        let state = env.state().ok();
        let finite = step.reward.is_finite()
            && step.observation.iter().all(|v| v.is_finite())
            && state.iter().flatten().all(|v| v.is_finite());
        if !finite {
            return Err(RunnerError::Input(format!(
                "step {i}: `{env_id}` produced a non-finite observation, reward or state \
                 (the initial state is outside the range the dynamics can handle); JSON cannot \
                 represent it"
            )));
        }
        steps.push(RolloutStep {
            observation: step.observation.iter().map(|&v| f64::from(v)).collect(),
            reward: step.reward,
            terminated: step.terminated,
            truncated: step.truncated,
            state,
            episode: None,
        });
        if ended {
            break;
        }
    }
    Ok(steps)
}

/// Parses a JSON array of action arrays (`--episodes-file`), one per episode, for
/// `space`.
///
/// # Errors
/// [`RunnerError::Input`] naming the episode and position.
pub fn parse_episodes(
    text: &str,
    space: &Space,
    what: &str,
) -> Result<Vec<Vec<Action>>, RunnerError> {
    let episodes: Vec<Value> = serde_json::from_str(text).map_err(|e| {
        RunnerError::Input(format!("{what} must be a JSON array of action arrays: {e}"))
    })?;
    episodes
        .iter()
        .enumerate()
        .map(|(k, e)| parse_actions(&e.to_string(), space, &format!("{what}[{k}]")))
        .collect()
}

/// Makes `env_id` with constructor `kwargs`, resets it with `seed`, and plays `episodes`
/// back to back in that one env: each episode after the first starts with a reset
/// without a seed, as a seeded env continues its stream (how the MinAtar fixtures were
/// recorded). An episode stops early at a step that ends it. Returns every step, each
/// with its `episode`; for a MinAtar env the observation is the flat `[10, 10, C]` grid,
/// row-major, channels last.
///
/// # Errors
/// Unknown id, invalid kwargs, an action outside the action space (naming the episode and
/// position), a non-finite step.
pub fn rollout_seeded(
    registry: &Registry,
    env_id: &str,
    kwargs: &toml::Table,
    seed: u64,
    episodes: &[Vec<Action>],
) -> Result<Vec<RolloutStep>, RunnerError> {
    let mut env = registry.make_with(env_id, kwargs)?;
    let space = env.action_space();
    for (k, actions) in episodes.iter().enumerate() {
        if let Some((i, a)) = actions.iter().enumerate().find(|(_, a)| !space.contains(a)) {
            return Err(RunnerError::Input(format!(
                "episode {k}, action {i}: {}",
                pdmrl_envs::EnvError::invalid_action(a, space.clone())
            )));
        }
    }
    let mut steps = Vec::new();
    for (k, actions) in episodes.iter().enumerate() {
        env.reset(if k == 0 { Some(seed) } else { None });
        for (i, action) in actions.iter().enumerate() {
            let step = env
                .step(action)
                .map_err(|e| RunnerError::Input(format!("episode {k}, action {i}: {e}")))?;
            if !step.reward.is_finite() || step.observation.iter().any(|v| !v.is_finite()) {
                return Err(RunnerError::Input(format!(
                    "episode {k}, step {i}: `{env_id}` produced a non-finite observation or reward"
                )));
            }
            let ended = step.terminated || step.truncated;
            steps.push(RolloutStep {
                observation: step.observation.iter().map(|&v| f64::from(v)).collect(),
                reward: step.reward,
                terminated: step.terminated,
                truncated: step.truncated,
                state: env.state().ok(),
                episode: Some(k),
            });
            if ended {
                break;
            }
        }
    }
    Ok(steps)
}
