//! Making environments by id: Gymnasium's registry (`gymnasium/envs/registration.py`), as a
//! value rather than a global.
//!
//! ```
//! use pdmrl_envs::{Action, Env, Registry};
//!
//! let registry = Registry::with_builtins();
//! let mut env = registry.make("CartPole-v1")?; // wrapped in TimeLimit(500)
//! let (obs, _info) = env.reset(Some(0));
//! assert_eq!(obs.len(), 4);
//! let step = env.step(&Action::Discrete(1))?;
//! assert_eq!(step.reward, 1.0);
//! # Ok::<(), pdmrl_envs::EnvError>(())
//! ```

use crate::cartpole::CartPole;
use crate::env::Env;
use crate::error::EnvError;
use crate::time_limit::TimeLimit;
use std::collections::BTreeMap;
use std::fmt;

/// What the registry knows about an id besides its constructor (the part of Gymnasium's
/// `EnvSpec` that this crate uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSpec {
    /// The id, e.g. `"CartPole-v1"` (Gymnasium's `[namespace/](env_name)[-v(version)]`).
    pub id: String,
    /// If set, [`Registry::make_with`] wraps the env in [`TimeLimit`] with this many steps
    /// (Gymnasium's `EnvSpec.max_episode_steps`). Must be at least 1.
    pub max_episode_steps: Option<usize>,
}

/// A constructor: builds an env from its kwargs (a TOML table the constructor deserialises
/// and checks itself; Gymnasium's `make(id, **kwargs)`).
pub type EnvConstructor = Box<dyn Fn(&toml::Table) -> Result<Box<dyn Env>, EnvError> + Send + Sync>;

/// Environment constructors by id (Gymnasium's `gymnasium.envs.registry`, `register` and
/// `make`), as a plain value: build one with [`Registry::with_builtins`] and add your own
/// envs with [`Registry::register`] from your own crate.
pub struct Registry {
    /// Spec and constructor per id, ordered by id.
    entries: BTreeMap<String, (EnvSpec, EnvConstructor)>,
}

impl Default for Registry {
    /// The same as [`Registry::with_builtins`].
    fn default() -> Self {
        Self::with_builtins()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field(
                "specs",
                &self.entries.values().map(|(s, _)| s).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry {
            entries: BTreeMap::new(),
        }
    }

    /// A registry with this crate's environments, with Gymnasium 1.4.0's specs
    /// (`gymnasium/envs/__init__.py`):
    ///
    /// | id | constructor | `max_episode_steps` |
    /// |---|---|---|
    /// | `CartPole-v1` | [`CartPole::from_kwargs`] | 500 |
    /// | `Acrobot-v1` | [`Acrobot::from_kwargs`](crate::Acrobot::from_kwargs) | 500 |
    /// | `MountainCar-v0` | [`MountainCar::from_kwargs`](crate::MountainCar::from_kwargs) | 200 |
    /// | `MountainCarContinuous-v0` | [`ContinuousMountainCar::from_kwargs`](crate::ContinuousMountainCar::from_kwargs) | 999 |
    /// | `Pendulum-v1` | [`Pendulum::from_kwargs`](crate::Pendulum::from_kwargs) | 200 |
    /// | `MinAtar/<Game>-v0`, `-v1` (Asterix, Breakout, Freeway, Seaquest, SpaceInvaders; all six actions, or the minimal set) | [`MinAtar::from_kwargs`](crate::minatar::MinAtar::from_kwargs) | none (as `minatar.gym`) |
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        registry.insert(
            EnvSpec {
                id: CartPole::ID.to_string(),
                max_episode_steps: Some(500),
            },
            Box::new(|kwargs: &toml::Table| {
                Ok(Box::new(CartPole::from_kwargs(kwargs)?) as Box<dyn Env>)
            }),
        );
        registry.insert(
            EnvSpec {
                id: crate::acrobot::Acrobot::ID.to_string(),
                max_episode_steps: Some(500),
            },
            Box::new(|kwargs: &toml::Table| {
                Ok(Box::new(crate::acrobot::Acrobot::from_kwargs(kwargs)?) as Box<dyn Env>)
            }),
        );
        registry.insert(
            EnvSpec {
                id: crate::mountain_car::MountainCar::ID.to_string(),
                max_episode_steps: Some(200),
            },
            Box::new(|kwargs: &toml::Table| {
                Ok(
                    Box::new(crate::mountain_car::MountainCar::from_kwargs(kwargs)?)
                        as Box<dyn Env>,
                )
            }),
        );
        registry.insert(
            EnvSpec {
                id: crate::continuous_mountain_car::ContinuousMountainCar::ID.to_string(),
                max_episode_steps: Some(999),
            },
            Box::new(|kwargs: &toml::Table| {
                Ok(Box::new(
                    crate::continuous_mountain_car::ContinuousMountainCar::from_kwargs(kwargs)?,
                ) as Box<dyn Env>)
            }),
        );
        registry.insert(
            EnvSpec {
                id: crate::pendulum::Pendulum::ID.to_string(),
                max_episode_steps: Some(200),
            },
            Box::new(|kwargs: &toml::Table| {
                Ok(Box::new(crate::pendulum::Pendulum::from_kwargs(kwargs)?) as Box<dyn Env>)
            }),
        );
        // MinAtar, as `minatar.gym` registers it: no time limit.
        for game in crate::minatar::GAMES {
            for minimal in [false, true] {
                registry.insert(
                    EnvSpec {
                        id: format!("MinAtar/{game}-v{}", u8::from(minimal)),
                        max_episode_steps: None,
                    },
                    Box::new(move |kwargs: &toml::Table| {
                        Ok(
                            Box::new(crate::minatar::MinAtar::from_kwargs(game, minimal, kwargs)?)
                                as Box<dyn Env>,
                        )
                    }),
                );
            }
        }
        registry
    }

    /// Inserts without checks (for the built-ins, whose specs are known valid).
    fn insert(&mut self, spec: EnvSpec, ctor: EnvConstructor) {
        self.entries.insert(spec.id.clone(), (spec, ctor));
    }

    /// Registers `ctor` under `spec.id` (Gymnasium's `register`). Chainable:
    /// `registry.register(a, f)?.register(b, g)?;`.
    ///
    /// # Errors
    /// [`EnvError::DuplicateId`] if the id is taken (Gymnasium only warns and overwrites);
    /// [`EnvError::InvalidKwargs`] if the id is empty or `max_episode_steps == Some(0)`.
    pub fn register(
        &mut self,
        spec: EnvSpec,
        ctor: impl Fn(&toml::Table) -> Result<Box<dyn Env>, EnvError> + Send + Sync + 'static,
    ) -> Result<&mut Self, EnvError> {
        if spec.id.trim().is_empty() {
            return Err(EnvError::InvalidKwargs {
                id: spec.id,
                reason: "the environment id must not be empty".to_string(),
            });
        }
        if spec.max_episode_steps == Some(0) {
            return Err(EnvError::InvalidKwargs {
                id: spec.id,
                reason: "max_episode_steps must be at least 1 (or None for no limit)".to_string(),
            });
        }
        if self.entries.contains_key(&spec.id) {
            return Err(EnvError::DuplicateId(spec.id));
        }
        self.insert(spec, Box::new(ctor));
        Ok(self)
    }

    /// Makes the env registered under `id` with no kwargs: `make_with(id, &empty table)`.
    ///
    /// # Errors
    /// As [`Registry::make_with`].
    pub fn make(&self, id: &str) -> Result<Box<dyn Env>, EnvError> {
        self.make_with(id, &toml::Table::new())
    }

    /// Makes the env registered under `id`, passing `kwargs` to its constructor, and wraps it
    /// in [`TimeLimit`] when the spec has `max_episode_steps` (Gymnasium's
    /// `make(id, **kwargs)`; Gymnasium's `OrderEnforcing` and `PassiveEnvChecker` wrappers
    /// are not needed: envs here enforce order and check actions themselves). The env is
    /// not reset.
    ///
    /// # Errors
    /// [`EnvError::UnknownId`] with the registered ids, closest to `id` first; any error of
    /// the constructor (typically [`EnvError::InvalidKwargs`]).
    pub fn make_with(&self, id: &str, kwargs: &toml::Table) -> Result<Box<dyn Env>, EnvError> {
        let Some((spec, ctor)) = self.entries.get(id) else {
            return Err(EnvError::UnknownId {
                id: id.to_string(),
                known: self.closest_ids(id),
            });
        };
        let env = ctor(kwargs)?;
        match spec.max_episode_steps {
            Some(steps) => Ok(Box::new(TimeLimit::new(env, steps)?)),
            None => Ok(env),
        }
    }

    /// The spec registered under `id`.
    pub fn spec(&self, id: &str) -> Option<&EnvSpec> {
        self.entries.get(id).map(|(spec, _)| spec)
    }

    /// All registered ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// All registered ids, closest to `id` first (Levenshtein distance over characters,
    /// ignoring case; ties in id order).
    fn closest_ids(&self, id: &str) -> Vec<String> {
        let wanted: Vec<char> = id.to_lowercase().chars().collect();
        let mut scored: Vec<(usize, &String)> = self
            .entries
            .keys()
            .map(|known| {
                let k: Vec<char> = known.to_lowercase().chars().collect();
                (edit_distance(&wanted, &k), known)
            })
            .collect();
        scored.sort();
        scored.into_iter().map(|(_, k)| k.clone()).collect()
    }
}

/// Levenshtein distance (insertions, deletions, substitutions, each cost 1).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Action;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance(&chars(""), &chars("abc")), 3);
        assert_eq!(edit_distance(&chars("abc"), &chars("")), 3);
        assert_eq!(edit_distance(&chars("kitten"), &chars("sitting")), 3);
        assert_eq!(edit_distance(&chars("flaw"), &chars("lawn")), 2);
        assert_eq!(edit_distance(&chars("same"), &chars("same")), 0);
    }

    fn dummy_registry() -> Registry {
        // Not `with_builtins`: these ids (some of them built-ins) only test the matching.
        let mut r = Registry::new();
        for id in [
            "Acrobot-v1",
            "CartPole-v0",
            "CartPole-v1",
            "MountainCar-v0",
            "Pendulum-v1",
        ] {
            r.register(
                EnvSpec {
                    id: id.to_string(),
                    max_episode_steps: None,
                },
                |kw| Ok(Box::new(CartPole::from_kwargs(kw)?) as Box<dyn Env>),
            )
            .unwrap();
        }
        r
    }

    #[test]
    fn unknown_id_lists_closest_first() {
        let r = dummy_registry();
        let err = r.make("cartpole-v1").err().expect("ids are case-sensitive");
        let EnvError::UnknownId { id, known } = &err else {
            panic!("expected UnknownId, got {err:?}");
        };
        assert_eq!(id, "cartpole-v1");
        assert_eq!(known[0], "CartPole-v1");
        assert_eq!(known[1], "CartPole-v0");
        assert_eq!(known.len(), 5);
        let msg = err.to_string();
        assert!(msg.contains("`cartpole-v1`"), "{msg}");
        assert!(msg.contains("known ids: CartPole-v1, CartPole-v0"), "{msg}");

        let EnvError::UnknownId { known, .. } = r.make("Pendulum").err().unwrap() else {
            panic!("expected UnknownId");
        };
        assert_eq!(known[0], "Pendulum-v1");
    }

    #[test]
    fn empty_registry_reports_no_known_ids() {
        let r = Registry::new();
        assert!(r.ids().is_empty());
        let EnvError::UnknownId { known, .. } = r.make("CartPole-v1").err().unwrap() else {
            panic!("expected UnknownId");
        };
        assert!(known.is_empty());
    }

    #[test]
    fn duplicate_and_invalid_specs_are_rejected() {
        let mut r = Registry::with_builtins();
        let err = r
            .register(
                EnvSpec {
                    id: "CartPole-v1".to_string(),
                    max_episode_steps: Some(10),
                },
                |_| Ok(Box::new(CartPole::new()) as Box<dyn Env>),
            )
            .err()
            .unwrap();
        assert!(
            matches!(&err, EnvError::DuplicateId(id) if id == "CartPole-v1"),
            "{err}"
        );
        assert_eq!(r.spec("CartPole-v1").unwrap().max_episode_steps, Some(500));

        for spec in [
            EnvSpec {
                id: String::new(),
                max_episode_steps: None,
            },
            EnvSpec {
                id: "Zero-v0".to_string(),
                max_episode_steps: Some(0),
            },
        ] {
            let err = r
                .register(spec, |_| Ok(Box::new(CartPole::new()) as Box<dyn Env>))
                .err()
                .unwrap();
            assert!(matches!(err, EnvError::InvalidKwargs { .. }), "{err}");
        }
        assert_eq!(r.ids(), Registry::with_builtins().ids());
    }

    #[test]
    fn builtins_make_cartpole_with_time_limit_and_kwargs() {
        let r = Registry::with_builtins();
        assert_eq!(
            r.spec("CartPole-v1"),
            Some(&EnvSpec {
                id: "CartPole-v1".to_string(),
                max_episode_steps: Some(500)
            })
        );
        assert_eq!(
            r.ids(),
            [
                "Acrobot-v1",
                "CartPole-v1",
                "MinAtar/Asterix-v0",
                "MinAtar/Asterix-v1",
                "MinAtar/Breakout-v0",
                "MinAtar/Breakout-v1",
                "MinAtar/Freeway-v0",
                "MinAtar/Freeway-v1",
                "MinAtar/Seaquest-v0",
                "MinAtar/Seaquest-v1",
                "MinAtar/SpaceInvaders-v0",
                "MinAtar/SpaceInvaders-v1",
                "MountainCar-v0",
                "MountainCarContinuous-v0",
                "Pendulum-v1"
            ]
        );
        let mut env = r.make("CartPole-v1").unwrap();
        assert_eq!(env.id(), "CartPole-v1");
        // Balanced by linear state feedback: the time limit ends the episode.
        let mut obs = env.set_state(&[0.0; 4]).unwrap();
        let mut n = 0;
        loop {
            let u = 0.05 * obs[0] + 0.1 * obs[1] + obs[2] + 0.3 * obs[3];
            let s = env.step(&Action::Discrete(usize::from(u > 0.0))).unwrap();
            n += 1;
            assert!(
                !s.terminated,
                "the feedback policy keeps the pole up (step {n})"
            );
            obs = s.observation;
            if s.truncated {
                break;
            }
        }
        assert_eq!(n, 500);

        let kwargs: toml::Table = "sutton_barto_reward = true".parse().unwrap();
        let mut env = r.make_with("CartPole-v1", &kwargs).unwrap();
        env.reset(Some(0));
        assert_eq!(env.step(&Action::Discrete(0)).unwrap().reward, 0.0);

        let kwargs: toml::Table = "nope = 1".parse().unwrap();
        let err = r.make_with("CartPole-v1", &kwargs).err().unwrap();
        assert!(matches!(err, EnvError::InvalidKwargs { .. }));
        assert!(err.to_string().contains("`nope`"), "{err}");
    }

    #[test]
    fn registry_is_send_sync_and_debug() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Registry>();
        let text = format!("{:?}", Registry::with_builtins());
        assert!(text.contains("CartPole-v1"), "{text}");
    }
}
