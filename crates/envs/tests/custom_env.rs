//! A user's crate adds its own environment: implement `Env` for a struct, register a
//! constructor under an id, then make, step and vectorise it. Only the public API is used.

use ndarray::Array1;
use pdmrl_envs::{
    Action, Env, EnvError, EnvRng, EnvSpec, Info, Registry, Space, Step, SyncVectorEnv,
};
use rand::{Rng, SeedableRng};

/// A one-dimensional corridor: start at a random cell of `0..length`, action 1 moves right,
/// action 0 left; reaching the right end terminates with reward 1.
struct Corridor {
    length: usize,
    position: usize,
    rng: EnvRng,
    running: bool,
}

impl Corridor {
    fn from_kwargs(kwargs: &toml::Table) -> Result<Self, EnvError> {
        let mut length = 5;
        for (key, value) in kwargs {
            match (key.as_str(), value) {
                ("length", toml::Value::Integer(n)) if *n >= 2 => length = *n as usize,
                _ => {
                    return Err(EnvError::InvalidKwargs {
                        id: "Corridor-v0".to_string(),
                        reason: format!("bad key `{key}` = {value}"),
                    });
                }
            }
        }
        Ok(Corridor {
            length,
            position: 0,
            rng: EnvRng::seed_from_u64(0),
            running: false,
        })
    }

    fn observation(&self) -> Array1<f32> {
        Array1::from(vec![self.position as f32])
    }
}

impl Env for Corridor {
    fn id(&self) -> &str {
        "Corridor-v0"
    }
    fn observation_space(&self) -> Space {
        Space::box1(vec![0.0], vec![(self.length - 1) as f32])
    }
    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        if let Some(seed) = seed {
            self.rng = EnvRng::seed_from_u64(seed);
        }
        self.position = self.rng.random_range(0..self.length - 1);
        self.running = true;
        (self.observation(), Info::new())
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let right = match action {
            Action::Discrete(1) => true,
            Action::Discrete(0) => false,
            other => {
                return Err(EnvError::invalid_action(other, self.action_space()));
            }
        };
        if !self.running {
            return Err(EnvError::StepAfterDone {
                id: self.id().to_string(),
            });
        }
        self.position = if right {
            self.position + 1
        } else {
            self.position.saturating_sub(1)
        };
        let terminated = self.position == self.length - 1;
        self.running = !terminated;
        Ok(Step {
            observation: self.observation(),
            reward: if terminated { 1.0 } else { 0.0 },
            terminated,
            truncated: false,
            info: Info::new(),
        })
    }
}

fn registry() -> Registry {
    let mut registry = Registry::with_builtins();
    registry
        .register(
            EnvSpec {
                id: "Corridor-v0".to_string(),
                max_episode_steps: Some(20),
            },
            |kwargs| Ok(Box::new(Corridor::from_kwargs(kwargs)?) as Box<dyn Env>),
        )
        .expect("a new id registers");
    registry
}

#[test]
fn custom_env_is_registered_made_and_stepped() {
    let registry = registry();
    // The custom id sits among the built-ins (ids are sorted).
    let mut expected = Registry::with_builtins().ids();
    expected.push("Corridor-v0".to_string());
    expected.sort();
    assert_eq!(registry.ids(), expected);
    assert_eq!(
        registry.spec("Corridor-v0").unwrap().max_episode_steps,
        Some(20)
    );

    let kwargs: toml::Table = "length = 4".parse().unwrap();
    let mut env = registry.make_with("Corridor-v0", &kwargs).unwrap();
    assert_eq!(env.id(), "Corridor-v0");
    let (obs, _) = env.reset(Some(7));
    let start = obs[0] as usize;
    assert!(start < 3);
    // Walking right reaches the goal in exactly 3 - start steps.
    let mut steps = 0;
    let last = loop {
        let s = env.step(&Action::Discrete(1)).unwrap();
        steps += 1;
        if s.terminated {
            break s;
        }
        assert_eq!(s.reward, 0.0);
    };
    assert_eq!(steps, 3 - start);
    assert_eq!(last.reward, 1.0);
    assert_eq!(last.observation[0], 3.0);
    assert!(!last.truncated);
    assert!(matches!(
        env.step(&Action::Discrete(1)),
        Err(EnvError::StepAfterDone { .. })
    ));
    // The custom env does not expose its state: the trait's default says so.
    assert!(matches!(env.state(), Err(EnvError::StateUnsupported(id)) if id == "Corridor-v0"));
}

#[test]
fn custom_env_gets_the_spec_time_limit() {
    let registry = registry();
    let mut env = registry.make("Corridor-v0").unwrap();
    env.reset(Some(1));
    // Walking left forever never terminates: the registry's TimeLimit(20) truncates.
    let mut n = 0;
    loop {
        let s = env.step(&Action::Discrete(0)).unwrap();
        n += 1;
        assert!(!s.terminated);
        if s.truncated {
            break;
        }
        assert!(n < 20);
    }
    assert_eq!(n, 20);
}

#[test]
fn custom_env_errors_are_typed() {
    let mut registry = registry();
    let kwargs: toml::Table = "width = 3".parse().unwrap();
    let err = registry.make_with("Corridor-v0", &kwargs).err().unwrap();
    assert!(err.to_string().contains("`width`"), "{err}");

    let err = registry
        .register(
            EnvSpec {
                id: "Corridor-v0".to_string(),
                max_episode_steps: None,
            },
            |kwargs| Ok(Box::new(Corridor::from_kwargs(kwargs)?) as Box<dyn Env>),
        )
        .err()
        .unwrap();
    assert!(
        matches!(err, EnvError::DuplicateId(ref id) if id == "Corridor-v0"),
        "{err}"
    );

    let err = registry.make("corridor-v0").err().unwrap();
    let EnvError::UnknownId { known, .. } = &err else {
        panic!("expected UnknownId, got {err:?}");
    };
    // Closest first: the custom id, then the rest (every registered id is listed).
    assert_eq!(known[0], "Corridor-v0");
    assert_eq!(known.len(), registry.ids().len());
}

#[test]
fn custom_env_vectorises() {
    let registry = registry();
    let mut envs = SyncVectorEnv::from_registry(&registry, "Corridor-v0", 4).unwrap();
    assert_eq!(envs.obs_dim(), 1);
    envs.reset(Some(3));
    let mut goals = 0;
    for _ in 0..30 {
        let out = envs.step(&vec![Action::Discrete(1); 4]).unwrap();
        for i in 0..4 {
            if out.terminated[i] {
                goals += 1;
                assert_eq!(out.final_observations[i].as_ref().unwrap()[0], 4.0);
                assert!(out.observations[[i, 0]] < 4.0, "auto-reset to a start cell");
            }
        }
    }
    // Each copy reaches the goal at least every 4 steps.
    assert!(goals >= 4 * 7, "{goals} goals");
}
