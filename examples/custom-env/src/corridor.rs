//! The user's environment: a corridor of `LENGTH` cells.

use pdmrl_agents::ndarray::Array1;
use pdmrl_agents::pdmrl_envs::rand::{Rng, SeedableRng};
use pdmrl_agents::pdmrl_envs::{Action, Env, EnvError, EnvRng, Info, Space, Step};

/// Number of cells; the goal is the last one.
pub const LENGTH: usize = 10;

/// Start anywhere but the goal; action 1 moves right, 0 left; every step costs -1, so the
/// optimal return from cell `c` is `-(LENGTH - 1 - c)`. Observation: the position scaled
/// to [0, 1], shape `[1]`.
pub struct Corridor {
    position: usize,
    rng: EnvRng,
    running: bool,
}

impl Corridor {
    /// A corridor that has not been reset yet.
    pub fn new() -> Self {
        Corridor {
            position: 0,
            rng: EnvRng::seed_from_u64(0),
            running: false,
        }
    }

    /// The observation of a cell: `[cell / (LENGTH - 1)]`.
    pub fn observe(cell: usize) -> Array1<f32> {
        Array1::from(vec![cell as f32 / (LENGTH - 1) as f32])
    }
}

impl Env for Corridor {
    fn id(&self) -> &str {
        "Corridor-v0"
    }

    fn observation_space(&self) -> Space {
        Space::box1(vec![0.0], vec![1.0])
    }

    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }

    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        if let Some(seed) = seed {
            self.rng = EnvRng::seed_from_u64(seed);
        }
        self.position = self.rng.random_range(0..LENGTH - 1);
        self.running = true;
        (Self::observe(self.position), Info::new())
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let right = match action {
            Action::Discrete(a @ (0 | 1)) => *a == 1,
            other => return Err(EnvError::invalid_action(other, self.action_space())),
        };
        if !self.running {
            return Err(EnvError::StepAfterDone {
                id: self.id().into(),
            });
        }
        self.position = if right {
            self.position + 1
        } else {
            self.position.saturating_sub(1)
        };
        let terminated = self.position == LENGTH - 1;
        self.running = !terminated;
        Ok(Step {
            observation: Self::observe(self.position),
            reward: -1.0,
            terminated,
            truncated: false,
            info: Info::new(),
        })
    }
}
