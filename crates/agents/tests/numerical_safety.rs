//! Numerical safety of the agents with exact inputs (issue 5). The pure-function cases
//! live beside their code: GAE (`gae.rs`: λ = 1 and 0, the truncated-then-terminated
//! buffer), advantage normalisation of one or equal samples (`loss.rs`), the log-std clamp
//! (`policy.rs`). Here: the same properties through a whole agent.

use ndarray::Array1;
use pdmrl_agents::{Agent, AgentConfig, AgentError, Algo, Event, TrainerConfig, TrainerKind};
use pdmrl_envs::{Action, ClipAction, Env, EnvError, Info, Registry, Space, Step, SyncVectorEnv};

/// A 2-armed bandit: one constant observation, both arms pay `reward`, every episode is
/// one step. After step `explode_at` (counted over the env's life) the reward is `huge`.
struct Bandit {
    t: usize,
    explode_at: usize,
    huge: f64,
}

impl Bandit {
    fn fair() -> Self {
        Bandit {
            t: 0,
            explode_at: usize::MAX,
            huge: 0.0,
        }
    }
}

impl Env for Bandit {
    fn id(&self) -> &str {
        "Bandit-v0"
    }
    fn observation_space(&self) -> Space {
        Space::box1(vec![0.0], vec![1.0])
    }
    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }
    fn reset(&mut self, _seed: Option<u64>) -> (Array1<f32>, Info) {
        (Array1::from(vec![1.0]), Info::new())
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        if !matches!(action, Action::Discrete(0 | 1)) {
            return Err(EnvError::invalid_action(action, self.action_space()));
        }
        self.t += 1;
        Ok(Step {
            observation: Array1::from(vec![1.0]),
            reward: if self.t > self.explode_at {
                self.huge
            } else {
                1.0
            },
            terminated: true,
            truncated: false,
            info: Info::new(),
        })
    }
}

fn bandits(n: usize, make: impl Fn() -> Bandit) -> SyncVectorEnv {
    SyncVectorEnv::new((0..n).map(|_| Box::new(make()) as Box<dyn Env>).collect()).unwrap()
}

/// Equal rewards make every (normalised) advantage 0, so only the entropy bonus moves the
/// policy: from a skewed start (logits +-4, entropy 0.003 nats) the entropy must rise
/// toward ln 2. A sign error in the bonus would drive it to 0 instead.
#[test]
fn entropy_bonus_raises_a_bandits_entropy_toward_ln2() {
    for kind in [TrainerKind::Bp, TrainerKind::Pdm] {
        let config = AgentConfig {
            num_envs: 4,
            num_steps: 16,
            num_minibatches: 2,
            update_epochs: 4,
            ent_coef: 0.1,
            learning_rate: 1e-2,
            anneal_lr: false,
            total_timesteps: 64 * 60,
            eval_every: 0,
            ..AgentConfig::default()
        };
        let mut agent = Agent::new(
            config,
            TrainerConfig::new(kind),
            bandits(4, Bandit::fair),
            3,
        )
        .unwrap();
        agent
            .model_mut()
            .actor
            .head
            .bias
            .assign(&ndarray::array![4.0, -4.0]);
        let mut entropy = Vec::new();
        agent
            .train(&mut |e| {
                if let Event::Iteration(it) = e {
                    entropy.push(it.entropy);
                }
            })
            .unwrap();
        let (first, last) = (entropy[0], *entropy.last().unwrap());
        let ln2 = 2f64.ln();
        assert!(first < 0.2, "{kind}: the start is skewed ({first})");
        assert!(
            last > ln2 - 0.02 && last <= ln2 + 1e-6,
            "{kind}: entropy {first} -> {last}, not up to ln 2 = {ln2}"
        );
    }
}

/// A reward that overflows f32 once summed makes the loss infinite: training stops with an
/// error naming the update and the network.
#[test]
fn a_non_finite_loss_stops_training_naming_update_and_network() {
    let config = AgentConfig {
        num_envs: 2,
        num_steps: 16,
        num_minibatches: 2,
        total_timesteps: 32 * 10,
        eval_every: 0,
        ..AgentConfig::default()
    };
    let make = || Bandit {
        t: 0,
        explode_at: 16 * 3,
        huge: 3e38,
    };
    let mut agent = Agent::new(config, TrainerConfig::default(), bandits(2, make), 0).unwrap();
    let mut iterations = 0;
    let err = agent
        .train(&mut |e| {
            if matches!(e, Event::Iteration(_)) {
                iterations += 1;
            }
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::NonFinite {
                update: 4,
                network: "critic",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        iterations, 3,
        "three good updates were reported before the bad one"
    );
    assert!(err.to_string().contains("update 4"), "{err}");
}

/// Parameters driven to infinity by an absurd learning rate: the error names the update,
/// the network and the layer.
#[test]
fn non_finite_parameters_are_named_by_network_and_layer() {
    let config = AgentConfig {
        learning_rate: 1e38,
        total_timesteps: 512 * 4,
        eval_every: 0,
        ..AgentConfig::default()
    };
    let envs = SyncVectorEnv::from_registry(&Registry::with_builtins(), "CartPole-v1", 4).unwrap();
    let mut agent = Agent::new(config, TrainerConfig::default(), envs, 0).unwrap();
    let err = agent.train(&mut |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            AgentError::NonFinite {
                update: 1,
                network: "actor",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.contains("parameter of hidden layer 1"), "{msg}");
}

/// A Gaussian policy whose log-std is driven to -120 or +50 trains without panics and with
/// finite losses: the distribution uses the clamped log-std. As a starting value such a
/// log-std is refused by the config (it would never move).
#[test]
fn extreme_log_std_trains_finitely_and_is_refused_as_a_start() {
    let registry = Registry::with_builtins();
    let envs = || {
        SyncVectorEnv::new(vec![Box::new(ClipAction::new(
            registry.make("MountainCarContinuous-v0").unwrap(),
        ))])
        .unwrap()
    };
    let config = AgentConfig {
        total_timesteps: 2 * 1024,
        num_envs: 1,
        num_steps: 1024,
        num_minibatches: 16,
        eval_every: 0,
        ..AgentConfig::defaults(Algo::Ppo, "MountainCarContinuous-v0", true)
    };
    for log_std in [-120.0f32, 50.0] {
        let mut agent = Agent::new(config.clone(), TrainerConfig::default(), envs(), 1).unwrap();
        agent.model_mut().log_std = Some(ndarray::array![log_std]);
        let mut losses = Vec::new();
        agent
            .train(&mut |e| {
                if let Event::Iteration(it) = e {
                    losses.push((it.policy_loss, it.value_loss, it.entropy));
                }
            })
            .unwrap();
        assert_eq!(losses.len(), 2);
        for (p, v, h) in losses {
            assert!(
                p.is_finite() && v.is_finite() && h.is_finite(),
                "{log_std}: {p} {v} {h}"
            );
        }
        let bad = AgentConfig {
            init_log_std: f64::from(log_std),
            ..config.clone()
        };
        let err = Agent::new(bad, TrainerConfig::default(), envs(), 1)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("init_log_std") && err.contains("[-20, 2]"),
            "{err}"
        );
    }
}
