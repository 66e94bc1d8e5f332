//! A user's crate: register an environment of your own and train PPO on it with every
//! pdmrl trainer, through the public API of `pdmrl-agents` only.
//!
//! ```sh
//! cargo run -p custom-env              # 20480 steps per trainer
//! cargo run -p custom-env -- 4096      # another budget
//! ```

mod corridor;

use corridor::{Corridor, LENGTH};
use pdmrl_agents::pdmrl_envs::rand::SeedableRng;
use pdmrl_agents::pdmrl_envs::{EnvRng, EnvSpec, Registry, SyncVectorEnv};
use pdmrl_agents::{Agent, AgentConfig, Event, TrainerConfig, TrainerKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total_timesteps = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|_| format!("expected a number of steps, got `{arg}`"))?,
        None => 20_480,
    };

    // 1. Register the environment under its own id, with a time limit.
    let mut registry = Registry::with_builtins();
    let spec = EnvSpec {
        id: "Corridor-v0".into(),
        max_episode_steps: Some(50),
    };
    registry.register(spec, |_kwargs| Ok(Box::new(Corridor::new())))?;

    // 2. Train PPO (CleanRL defaults) with each trainer, seed 1.
    let config = AgentConfig {
        total_timesteps,
        ..AgentConfig::default()
    };
    for kind in TrainerKind::ALL {
        let envs = SyncVectorEnv::from_registry(&registry, "Corridor-v0", config.num_envs)?;
        let mut agent = Agent::new(config.clone(), TrainerConfig::new(kind), envs, 1)?;
        let mut returns = Vec::new();
        agent.train(&mut |event| {
            if let Event::Episode(e) = event {
                returns.push(e.episodic_return);
            }
        })?;

        // 3. Use the trained policy: the greedy action next to the goal should be 1 (right).
        let tail = &returns[returns.len().saturating_sub(20)..];
        let mean = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
        let obs = Corridor::observe(LENGTH - 2).insert_axis(pdmrl_agents::ndarray::Axis(0));
        let action = agent.act(obs.view(), true, &mut EnvRng::seed_from_u64(0));
        println!(
            "{kind}: mean return of the last 20 episodes {mean:.2}; greedy action next to the goal {}",
            action.env_action(0)
        );
    }
    Ok(())
}
