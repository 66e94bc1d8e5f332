//! Train PPO on an environment of your own, with every trainer, using only the public API
//! of `pdmrl-agents` (which re-exports `pdmrl-envs`, `ndarray` and `rand` at the versions
//! it uses).
//!
//! ```sh
//! cargo run -p pdmrl-agents --example custom_env_ppo
//! ```

use pdmrl_agents::ndarray::Array1;
use pdmrl_agents::pdmrl_envs::rand::{Rng, SeedableRng};
use pdmrl_agents::pdmrl_envs::{
    Action, Env, EnvError, EnvRng, EnvSpec, Info, Registry, Space, Step, SyncVectorEnv,
};
use pdmrl_agents::{Event, Ppo, PpoConfig, TrainerConfig, TrainerKind};

/// A corridor of `LENGTH` cells: start anywhere but the goal at the right end; action 1
/// moves right, 0 left; every step costs -1, so the optimal return is minus the distance.
struct Corridor {
    position: usize,
    rng: EnvRng,
    running: bool,
}

const LENGTH: usize = 10;

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
        (self.observation(), Info::new())
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
            observation: self.observation(),
            reward: -1.0,
            terminated,
            truncated: false,
            info: Info::new(),
        })
    }
}

impl Corridor {
    fn observation(&self) -> Array1<f32> {
        Array1::from(vec![self.position as f32 / (LENGTH - 1) as f32])
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = Registry::with_builtins();
    registry.register(
        EnvSpec {
            id: "Corridor-v0".into(),
            max_episode_steps: Some(50),
        },
        |_kwargs| {
            Ok(Box::new(Corridor {
                position: 0,
                rng: EnvRng::seed_from_u64(0),
                running: false,
            }))
        },
    )?;
    let config = PpoConfig {
        total_timesteps: 20_480,
        ..PpoConfig::default()
    };
    for kind in TrainerKind::ALL {
        let envs = SyncVectorEnv::from_registry(&registry, "Corridor-v0", config.num_envs)?;
        let mut ppo = Ppo::new(config.clone(), TrainerConfig::new(kind), envs, 1)?;
        let mut returns = Vec::new();
        ppo.train(&mut |event| {
            if let Event::Episode(e) = event {
                returns.push(e.episodic_return);
            }
        })?;
        let tail = &returns[returns.len().saturating_sub(20)..];
        let mean = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
        // The greedy policy at the cell left of the goal should move right (action 1).
        let obs = pdmrl_agents::ndarray::array![[(LENGTH - 2) as f32 / (LENGTH - 1) as f32]];
        // Greedy actions draw nothing from the RNG (`EnvRng` is the project's one RNG type).
        let action = ppo.act(obs.view(), true, &mut EnvRng::seed_from_u64(0));
        println!(
            "{kind:>6}: mean return of the last 20 episodes {mean:7.2}; greedy action next to the goal: {}",
            action[0]
        );
    }
    Ok(())
}
