//! Bad hyperparameters and bad environments give typed errors, never panics.

use ndarray::Array1;
use pdmrl_agents::{Agent, AgentConfig, AgentError, TrainerConfig, TrainerKind, TrainerOptions};
use pdmrl_envs::{Action, Env, EnvError, Info, Registry, Space, Step, SyncVectorEnv};

fn cartpole(n: usize) -> SyncVectorEnv {
    SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v1", n).unwrap()
}

fn config_error(config: AgentConfig, kind: TrainerKind) -> String {
    let n = config.num_envs.min(8);
    match Agent::new(config, TrainerConfig::new(kind), cartpole(n), 0) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn hyperparameters_are_checked_by_name() {
    let d = AgentConfig::default;
    let cases = [
        (
            AgentConfig {
                num_minibatches: 3,
                ..d()
            },
            TrainerKind::Bp,
            "num_minibatches",
        ),
        (
            AgentConfig {
                learning_rate: -1.0,
                ..d()
            },
            TrainerKind::Bp,
            "learning_rate",
        ),
        (
            AgentConfig {
                gamma: f64::NAN,
                ..d()
            },
            TrainerKind::Bp,
            "gamma",
        ),
        (
            AgentConfig {
                total_timesteps: 100,
                ..d()
            },
            TrainerKind::Bp,
            "total_timesteps",
        ),
        // No overflow panic: the product is bounded before it is used.
        (
            AgentConfig {
                num_envs: 1 << 32,
                num_steps: 1 << 32,
                ..d()
            },
            TrainerKind::Bp,
            "num_envs",
        ),
        (
            AgentConfig {
                num_steps: 1 << 30,
                ..d()
            },
            TrainerKind::Bp,
            "num_steps",
        ),
        (
            AgentConfig {
                hidden_sizes: vec![100_000],
                ..d()
            },
            TrainerKind::Bp,
            "hidden_sizes",
        ),
        // Local trainers need pairs in a minibatch and at least one hidden layer.
        (
            AgentConfig {
                num_minibatches: 512,
                ..d()
            },
            TrainerKind::Pdm,
            "num_minibatches",
        ),
        (
            AgentConfig {
                hidden_sizes: vec![],
                ..d()
            },
            TrainerKind::Frozen,
            "hidden_sizes",
        ),
    ];
    for (config, kind, key) in cases {
        let err = config_error(config, kind);
        assert!(err.contains(key), "expected an error naming `{key}`: {err}");
    }
    let bad_trainer = TrainerOptions {
        local_adam_eps: -1.0,
        ..TrainerOptions::new(TrainerKind::Pdm)
    }
    .config();
    let err = Agent::new(AgentConfig::default(), bad_trainer, cartpole(4), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("local_adam_eps"), "{err}");
    let err = "hebb".parse::<TrainerKind>().unwrap_err().to_string();
    assert!(err.contains("bp, pdm, pdm_guided, frozen"), "{err}");
}

/// An env whose reward turns NaN at its 5th step.
struct NanReward {
    t: usize,
}

impl Env for NanReward {
    fn id(&self) -> &str {
        "NanReward-v0"
    }
    fn observation_space(&self) -> Space {
        Space::box1(vec![-1.0; 2], vec![1.0; 2])
    }
    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }
    fn reset(&mut self, _seed: Option<u64>) -> (Array1<f32>, Info) {
        self.t = 0;
        (Array1::zeros(2), Info::new())
    }
    fn step(&mut self, _action: &Action) -> Result<Step, EnvError> {
        self.t += 1;
        Ok(Step {
            observation: Array1::from(vec![0.1, -0.1]),
            reward: if self.t == 5 { f64::NAN } else { 1.0 },
            terminated: self.t >= 8,
            truncated: false,
            info: Info::new(),
        })
    }
}

#[test]
fn non_finite_env_output_stops_training_with_its_name() {
    let envs = SyncVectorEnv::new(vec![
        Box::new(NanReward { t: 0 }),
        Box::new(NanReward { t: 0 }),
    ])
    .unwrap();
    let config = AgentConfig {
        num_envs: 2,
        num_steps: 16,
        num_minibatches: 2,
        total_timesteps: 64,
        ..AgentConfig::default()
    };
    let mut ppo = Agent::new(config, TrainerConfig::new(TrainerKind::Pdm), envs, 0).unwrap();
    let err = ppo.train(&mut |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::NonFiniteEnv {
                step: 4,
                update: 1,
                copy: 0,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("NanReward-v0") && msg.contains("reward"),
        "{msg}"
    );
}

#[test]
fn non_discrete_or_empty_action_space_is_rejected() {
    struct NoActions;
    impl Env for NoActions {
        fn id(&self) -> &str {
            "NoActions-v0"
        }
        fn observation_space(&self) -> Space {
            Space::box1(vec![-1.0], vec![1.0])
        }
        fn action_space(&self) -> Space {
            Space::Discrete { n: 0 }
        }
        fn reset(&mut self, _seed: Option<u64>) -> (Array1<f32>, Info) {
            (Array1::zeros(1), Info::new())
        }
        fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
            Err(EnvError::invalid_action(action, self.action_space()))
        }
    }
    let envs = SyncVectorEnv::new(vec![Box::new(NoActions)]).unwrap();
    let config = AgentConfig {
        num_envs: 1,
        ..AgentConfig::default()
    };
    let err = Agent::new(config, TrainerConfig::default(), envs, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("Discrete(0)") && err.contains("NoActions-v0"),
        "{err}"
    );
}

/// Minibatches of one row have no pairs: they train the heads (everything under `bp`)
/// and skip the local rule, instead of failing mid-run. REINFORCE's episode batches, cut
/// at the step budget, can end on a one-step batch.
#[test]
fn one_row_minibatches_train_instead_of_failing() {
    use pdmrl_agents::Algo;
    let registry = Registry::with_builtins();
    let cases = [
        // bp with a one-row minibatch (its diagnostics need pairs).
        (
            AgentConfig {
                num_envs: 1,
                num_steps: 1,
                num_minibatches: 1,
                total_timesteps: 64,
                eval_every: 0,
                ..AgentConfig::default()
            },
            TrainerKind::Bp,
        ),
        // REINFORCE whose last episode batch is cut to one step by the budget.
        (
            AgentConfig {
                total_timesteps: 243,
                eval_every: 0,
                ..AgentConfig::defaults(Algo::Reinforce, "CartPole-v1", false)
            },
            TrainerKind::Pdm,
        ),
        // Many minibatches of a small episode batch.
        (
            AgentConfig {
                total_timesteps: 3000,
                num_minibatches: 32,
                eval_every: 0,
                ..AgentConfig::defaults(Algo::Reinforce, "CartPole-v1", false)
            },
            TrainerKind::Pdm,
        ),
    ];
    for (config, kind) in cases {
        let envs = SyncVectorEnv::from_registry(&registry, "CartPole-v1", config.num_envs).unwrap();
        let total = config.total_timesteps;
        let mut agent = Agent::new(config, TrainerConfig::new(kind), envs, 0).unwrap();
        agent.train(&mut |_| {}).unwrap();
        assert!(agent.global_step() >= total.min(64));
    }
    // Sampled pairs need fixed-size minibatches: refused with episode batches.
    let mut trainer = TrainerOptions::new(TrainerKind::Pdm);
    trainer.pdm.pairs = pdmrl_agents::Pairs::Sampled { k: 8 };
    let trainer = trainer.config();
    let err = Agent::new(
        AgentConfig::defaults(Algo::Reinforce, "CartPole-v1", false),
        trainer,
        cartpole(1),
        0,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("pairs.sampled") && err.contains("batch = \"steps\""),
        "{err}"
    );
}
