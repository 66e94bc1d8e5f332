//! MinAtar (Young & Tian, 2019, arXiv:1903.03176): miniature Atari games on a 10×10 grid,
//! ported from the `minatar` package 1.0.15 step for step, with numpy's random stream
//! reproduced bit for bit ([`RandomState`]). The reference episodes, the draw order of
//! every game and numpy's draw algorithms are in `tests/fixtures/minatar/` (`RNG.md`).
//!
//! Ids as `minatar.gym` registers them: `MinAtar/<Name>-v1` (the game's minimal action
//! set: action `i` is `minimal_action_set()[i]`) and `MinAtar/<Name>-v0` (all six
//! actions: 0 no-op, 1 left, 2 up, 3 right, 4 down, 5 fire). Observations are the game's
//! binary `[10, 10, C]` grid, flattened row-major (channels last) into `[100 * C]` f32.
//! Kwargs: `sticky_action_prob` (default 0.1: with this probability the previous applied
//! action repeats) and `difficulty_ramping` (default true). No time limit, as in the
//! package.

pub mod asterix;
pub mod breakout;
pub mod freeway;
mod grid;
pub mod random_state;
pub mod seaquest;
pub mod space_invaders;

pub use random_state::RandomState;

use crate::env::{Env, Info, Step};
use crate::error::EnvError;
use crate::phase::Phase;
use crate::space::{Action, Space};
use ndarray::Array1;

/// Side of the grid.
pub const GRID: usize = 10;

/// One MinAtar game: its rules, drawing from the shared [`RandomState`] in the package's
/// order. Actions are indices into the full set (0 no-op, 1 left, 2 up, 3 right, 4 down,
/// 5 fire); an action outside the game's minimal set acts as no-op.
pub trait Game: Send {
    /// The package's name, e.g. `breakout`.
    fn name(&self) -> &'static str;
    /// Channels `C` of the `[10, 10, C]` observation.
    fn channels(&self) -> usize;
    /// `minimal_action_set()`: indices into the full action set.
    fn minimal_action_set(&self) -> &'static [usize];
    /// Starts a new episode (the package's `reset`).
    fn reset(&mut self, rng: &mut RandomState);
    /// One act: `(reward, terminal)`. Called only while the game is not over.
    fn act(&mut self, action: usize, rng: &mut RandomState) -> (f64, bool);
    /// Sets the true cells of the `[10, 10, C]` grid, flattened row-major, in `out` (all
    /// false on entry).
    fn fill_state(&self, out: &mut [bool]);
    /// `difficulty_ramp()`: the ramp level, or `None` for games that do not ramp.
    fn difficulty_ramp(&self) -> Option<usize>;
}

/// A MinAtar game behind Gymnasium semantics (`minatar.gym.BaseEnv`): sticky actions,
/// seeded resets, `terminated` when the game ends, never `truncated`.
pub struct MinAtar {
    id: String,
    game: Box<dyn Game>,
    rng: RandomState,
    sticky_action_prob: f64,
    minimal_actions: bool,
    /// The last action applied (the package's `last_action`), 0 at construction.
    last_action: usize,
    phase: Phase,
}

impl std::fmt::Debug for MinAtar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinAtar")
            .field("id", &self.id)
            .field("sticky_action_prob", &self.sticky_action_prob)
            .field("last_action", &self.last_action)
            .finish_non_exhaustive()
    }
}

/// The games, by the name in their ids.
pub const GAMES: [&str; 5] = [
    "Asterix",
    "Breakout",
    "Freeway",
    "Seaquest",
    "SpaceInvaders",
];

/// A new game by its id name (`Breakout`, ...) with `difficulty_ramping`.
fn make_game(name: &str, difficulty_ramping: bool) -> Option<Box<dyn Game>> {
    match name {
        "Asterix" => Some(Box::new(asterix::Asterix::new(difficulty_ramping))),
        "Breakout" => Some(Box::new(breakout::Breakout::new())),
        "Freeway" => Some(Box::new(freeway::Freeway::new())),
        "Seaquest" => Some(Box::new(seaquest::Seaquest::new(difficulty_ramping))),
        "SpaceInvaders" => Some(Box::new(space_invaders::SpaceInvaders::new(
            difficulty_ramping,
        ))),
        _ => None,
    }
}

impl MinAtar {
    /// `MinAtar/<game>-v0` (all six actions) or `-v1` (the minimal set, `minimal_actions`),
    /// with the package's options. The generator is seeded with 0 until the first seeded
    /// reset (the package's would be unseeded).
    ///
    /// # Errors
    /// [`EnvError::UnknownId`] for a game not in [`GAMES`]; [`EnvError::InvalidKwargs`]
    /// for a sticky probability outside `[0, 1]`.
    pub fn new(
        game: &str,
        minimal_actions: bool,
        sticky_action_prob: f64,
        difficulty_ramping: bool,
    ) -> Result<Self, EnvError> {
        let id = format!("MinAtar/{game}-v{}", u8::from(minimal_actions));
        let Some(game) = make_game(game, difficulty_ramping) else {
            return Err(EnvError::UnknownId {
                id,
                known: GAMES.iter().map(|g| format!("MinAtar/{g}-v1")).collect(),
            });
        };
        if !(0.0..=1.0).contains(&sticky_action_prob) {
            return Err(EnvError::InvalidKwargs {
                id,
                reason: format!("`sticky_action_prob` = {sticky_action_prob} must be in [0, 1]"),
            });
        }
        Ok(MinAtar {
            id,
            game,
            rng: RandomState::new(0),
            sticky_action_prob,
            minimal_actions,
            last_action: 0,
            phase: Phase::NotStarted,
        })
    }

    /// From Gymnasium-style kwargs: `sticky_action_prob` (float, default 0.1) and
    /// `difficulty_ramping` (bool, default true).
    ///
    /// # Errors
    /// [`EnvError::InvalidKwargs`] naming an unknown key or a value of the wrong type.
    pub fn from_kwargs(
        game: &str,
        minimal_actions: bool,
        kwargs: &toml::Table,
    ) -> Result<Self, EnvError> {
        let id = format!("MinAtar/{game}-v{}", u8::from(minimal_actions));
        let bad = |reason: String| EnvError::InvalidKwargs {
            id: id.clone(),
            reason,
        };
        let (mut sticky, mut ramping) = (0.1, true);
        for (key, value) in kwargs {
            match (key.as_str(), value) {
                ("sticky_action_prob", toml::Value::Float(p)) => sticky = *p,
                ("sticky_action_prob", toml::Value::Integer(p)) => sticky = *p as f64,
                ("difficulty_ramping", toml::Value::Boolean(b)) => ramping = *b,
                ("sticky_action_prob" | "difficulty_ramping", other) => {
                    return Err(bad(format!(
                        "`{key}` has the wrong type: {} `{other}`",
                        other.type_str()
                    )));
                }
                (other, _) => {
                    return Err(bad(format!(
                        "unknown key `{other}`; accepted keys: `sticky_action_prob`, `difficulty_ramping`"
                    )));
                }
            }
        }
        Self::new(game, minimal_actions, sticky, ramping)
    }

    /// The action the game received at the last step (after the sticky substitution),
    /// as an index into the full action set.
    pub fn last_action(&self) -> usize {
        self.last_action
    }

    /// Sets the remembered action (to start mid-stream, as the fixtures'
    /// `last_action_before_reset`).
    pub fn set_last_action(&mut self, action: usize) {
        self.last_action = action;
    }

    /// 32-bit generator outputs consumed since the last seeding.
    pub fn rng_outputs(&self) -> u64 {
        self.rng.outputs()
    }

    /// The generator, e.g. to skip outputs.
    pub fn rng_mut(&mut self) -> &mut RandomState {
        &mut self.rng
    }

    /// The game's difficulty ramp level (`None` for Breakout and Freeway).
    pub fn difficulty_ramp(&self) -> Option<usize> {
        self.game.difficulty_ramp()
    }

    /// The true cells of the `[10, 10, C]` grid, as the fixtures list them: `[row, col,
    /// channel]` in row-major order.
    pub fn true_cells(&self) -> Vec<[usize; 3]> {
        let c = self.game.channels();
        let mut cells = vec![false; GRID * GRID * c];
        self.game.fill_state(&mut cells);
        cells
            .iter()
            .enumerate()
            .filter(|(_, v)| **v)
            .map(|(i, _)| [i / (GRID * c), (i / c) % GRID, i % c])
            .collect()
    }

    fn observation(&self) -> Array1<f32> {
        let mut cells = vec![false; GRID * GRID * self.game.channels()];
        self.game.fill_state(&mut cells);
        cells.into_iter().map(|v| f32::from(u8::from(v))).collect()
    }
}

impl Env for MinAtar {
    fn id(&self) -> &str {
        &self.id
    }

    fn observation_space(&self) -> Space {
        let n = GRID * GRID * self.game.channels();
        Space::Box {
            low: Array1::zeros(n),
            high: Array1::ones(n),
            shape: vec![GRID, GRID, self.game.channels()],
        }
    }

    fn action_space(&self) -> Space {
        Space::Discrete {
            n: if self.minimal_actions {
                self.game.minimal_action_set().len()
            } else {
                6
            },
        }
    }

    /// A seed reseeds the generator with `seed mod 2^32` (numpy accepts 0..2^32); the
    /// remembered action is kept, as in the package.
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        if let Some(seed) = seed {
            self.rng = RandomState::new(seed as u32);
        }
        self.game.reset(&mut self.rng);
        self.phase = Phase::Running;
        (self.observation(), Info::new())
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let n = match self.action_space() {
            Space::Discrete { n } => n,
            Space::Box { .. } => unreachable!("discrete actions"),
        };
        let index = match action {
            Action::Discrete(i) if *i < n => *i,
            other => return Err(EnvError::invalid_action(other, self.action_space())),
        };
        self.phase.ensure_running(&self.id)?;
        let mut a = if self.minimal_actions {
            self.game.minimal_action_set()[index]
        } else {
            index
        };
        // The sticky test draws every act, whatever the probability.
        if self.rng.rand() < self.sticky_action_prob {
            a = self.last_action;
        }
        self.last_action = a;
        let (reward, terminated) = self.game.act(a, &mut self.rng);
        if terminated {
            self.phase = Phase::Terminated;
        }
        Ok(Step {
            observation: self.observation(),
            reward,
            terminated,
            truncated: false,
            info: Info::new(),
        })
    }
}
