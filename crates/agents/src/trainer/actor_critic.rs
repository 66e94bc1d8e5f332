//! [`ActorCritic`]: an actor and a critic network with the trainer state that updates
//! them from one minibatch (`bp`: one backward pass; local trainers: the hidden layers on
//! their local loss during the forward pass, the heads on the algorithm's loss).

use super::config::{LocalSteps, TrainerConfig};
use super::local::{
    FeatureScale, LocalState, LocalTraining, State, build_state, local_forward, measure,
};
use super::stats::{UpdateReport, set_weight_norms};
use crate::error::AgentError;
use crate::mlp::{Mlp, layer_grads, layer_params};
use crate::valid::Valid;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use pdmrl_local_loss::{LocalRule, Pdm};
use pdmrl_tensor::{Optimiser, clip_grad_norm, derive_seed};

/// An actor network, a critic network and the trainer state that updates them.
pub struct ActorCritic {
    /// The policy network (`[batch, obs_dim] -> [batch, n_actions]` logits, or the
    /// Gaussian mean `[batch, action_dim]`).
    pub actor: Mlp,
    /// The value network (`[batch, obs_dim] -> [batch, 1]`).
    pub critic: Mlp,
    /// The state-independent log-std `[action_dim]` of a Gaussian policy (CleanRL's
    /// `actor_logstd`), trained with the heads; `None` for a categorical policy.
    pub log_std: Option<Array1<f32>>,
    config: TrainerConfig,
    actor_rule: Box<dyn LocalRule<f32>>,
    critic_rule: Box<dyn LocalRule<f32>>,
    state: State,
}

/// What the algorithm's loss sees of one minibatch.
#[derive(Debug, Clone, Copy)]
pub struct HeadOutputs<'a> {
    /// The policy head's output, `[batch, n_out]` (logits or Gaussian mean).
    pub policy: ArrayView2<'a, f32>,
    /// The Gaussian log-std `[action_dim]`, if the policy has one.
    pub log_std: Option<ArrayView1<'a, f32>>,
    /// The values, `[batch]`.
    pub values: ArrayView1<'a, f32>,
}

/// The gradients the algorithm's loss returns, shaped as [`HeadOutputs`].
#[derive(Debug, Clone)]
pub struct HeadGrads {
    /// dLoss/d(policy output), `[batch, n_out]`.
    pub policy: Array2<f32>,
    /// dLoss/dlog_std, `[action_dim]` (ignored if the policy has no log-std).
    pub log_std: Option<Array1<f32>>,
    /// dLoss/dvalues, `[batch]`.
    pub values: Array1<f32>,
}

/// The loss of the algorithm: given the head outputs, returns their gradients.
pub type HeadLoss<'a> = dyn FnMut(HeadOutputs<'_>) -> HeadGrads + 'a;

/// Where a parameter became non-finite: the network (`actor`, `critic`) and the layer
/// (`hidden layer 2`, `head`, `log_std`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonFiniteParameter {
    /// `actor` or `critic`.
    pub network: &'static str,
    /// `hidden layer k` (1-based), `head` or `log_std`.
    pub layer: String,
}

impl ActorCritic {
    /// Wraps two networks with a trainer whose options were checked
    /// ([`Check::check`](crate::Check::check)), the PDM rules seeded with 0 (see
    /// [`ActorCritic::with_seed`]). `lr` and `adam_eps` are the algorithm's (used for every
    /// parameter under `bp`, for the heads under local trainers).
    ///
    /// # Errors
    /// Invalid learning rates.
    pub fn new(
        actor: Mlp,
        critic: Mlp,
        config: Valid<TrainerConfig>,
        lr: f64,
        adam_eps: f64,
    ) -> Result<Self, AgentError> {
        Self::with_seed(actor, critic, config, lr, adam_eps, 0)
    }

    /// As [`ActorCritic::new`], with the actor's and the critic's PDM rules seeded from
    /// `seed` (streams `"actor-local-rule"`, `"critic-local-rule"`).
    ///
    /// # Errors
    /// Invalid learning rates.
    pub fn with_seed(
        actor: Mlp,
        critic: Mlp,
        config: Valid<TrainerConfig>,
        lr: f64,
        adam_eps: f64,
        seed: u64,
    ) -> Result<Self, AgentError> {
        let rule = |stream: &str| -> Result<Box<dyn LocalRule<f32>>, AgentError> {
            Ok(Box::new(Pdm::with_seed(
                config.rule_options(),
                derive_seed(seed, stream),
            )?))
        };
        let (actor_rule, critic_rule) = (rule("actor-local-rule")?, rule("critic-local-rule")?);
        Self::with_rules(actor, critic, config, lr, adam_eps, actor_rule, critic_rule)
    }

    /// As [`ActorCritic::new`], with local rules of your own for the actor's and the
    /// critic's hidden layers (a new [`LocalRule`] needs no change here). The rules are
    /// used by `pdm`/`pdm_guided` to train and by every trainer for the diagnostics.
    ///
    /// # Errors
    /// Invalid learning rates.
    pub fn with_rules(
        actor: Mlp,
        critic: Mlp,
        config: Valid<TrainerConfig>,
        lr: f64,
        adam_eps: f64,
        actor_rule: Box<dyn LocalRule<f32>>,
        critic_rule: Box<dyn LocalRule<f32>>,
    ) -> Result<Self, AgentError> {
        let config = config.into_inner();
        let state = build_state(&config, &actor, &critic, None, lr, adam_eps)?;
        let (mut actor, mut critic) = (actor, critic);
        if config.local().scale_features && config.kind().trains_locally() {
            actor.feature_scales = vec![1.0; actor.hidden.len()];
            critic.feature_scales = vec![1.0; critic.hidden.len()];
        }
        Ok(ActorCritic {
            actor,
            critic,
            log_std: None,
            config,
            actor_rule,
            critic_rule,
            state,
        })
    }

    /// Gives the actor a Gaussian log-std parameter `[action_dim]` (CleanRL initialises it
    /// to zeros), trained with the heads (with every parameter under `bp`). Call before the
    /// first update: the optimisers start afresh.
    ///
    /// # Errors
    /// [`AgentError::InvalidConfig`] if `log_std` is empty, non-finite, or its length
    /// differs from the actor's outputs.
    pub fn with_log_std(mut self, log_std: Array1<f32>) -> Result<Self, AgentError> {
        if log_std.is_empty()
            || log_std.len() != self.actor.head.outputs()
            || log_std.iter().any(|v| !v.is_finite())
        {
            return Err(AgentError::InvalidConfig {
                name: "init_log_std",
                value: format!("{log_std}"),
                allowed: format!(
                    "finite, one per action component ({})",
                    self.actor.head.outputs()
                ),
            });
        }
        let head = match &self.state {
            State::Backprop { adam: h } | State::Local { heads: h, .. } => match h {
                Optimiser::Adam(a) => *a.config(),
                Optimiser::Sgd(_) => unreachable!("heads step with Adam"),
            },
        };
        self.state = build_state(
            &self.config,
            &self.actor,
            &self.critic,
            Some(log_std.len()),
            head.lr,
            head.eps,
        )?;
        self.log_std = Some(log_std);
        Ok(self)
    }

    /// The names of the trainer's optimisers, in the order of [`ActorCritic::optimisers`]:
    /// `adam` (bp), or `heads`, `actor_hidden_{k}`, `critic_hidden_{k}` (local trainers; k
    /// is 1-based).
    pub fn optimiser_names(&self) -> Vec<String> {
        match &self.state {
            State::Backprop { .. } => vec!["adam".into()],
            State::Local {
                actor_hidden,
                critic_hidden,
                ..
            } => std::iter::once("heads".to_string())
                .chain((1..=actor_hidden.len()).map(|k| format!("actor_hidden_{k}")))
                .chain((1..=critic_hidden.len()).map(|k| format!("critic_hidden_{k}")))
                .collect(),
        }
    }

    /// Every optimiser of the trainer, in a fixed order (see
    /// [`ActorCritic::optimiser_names`]).
    pub fn optimisers(&self) -> Vec<&Optimiser<f32>> {
        match &self.state {
            State::Backprop { adam } => vec![adam],
            State::Local {
                heads,
                actor_hidden,
                critic_hidden,
                ..
            } => std::iter::once(heads)
                .chain(actor_hidden)
                .chain(critic_hidden)
                .collect(),
        }
    }

    /// The optimisers, mutably, in the same order.
    pub fn optimisers_mut(&mut self) -> Vec<&mut Optimiser<f32>> {
        match &mut self.state {
            State::Backprop { adam } => vec![adam],
            State::Local {
                heads,
                actor_hidden,
                critic_hidden,
                ..
            } => std::iter::once(heads)
                .chain(actor_hidden)
                .chain(critic_hidden)
                .collect(),
        }
    }

    /// The local rules of the actor and the critic (for their RNG states).
    pub fn rules_mut(&mut self) -> [&mut dyn LocalRule<f32>; 2] {
        [self.actor_rule.as_mut(), self.critic_rule.as_mut()]
    }

    /// The local rules, read-only.
    pub fn rules(&self) -> [&dyn LocalRule<f32>; 2] {
        [self.actor_rule.as_ref(), self.critic_rule.as_ref()]
    }

    /// The first parameter that is NaN or infinite, if any, named by network and layer.
    pub fn first_non_finite(&self) -> Option<NonFiniteParameter> {
        let bad = |l: &pdmrl_tensor::Dense<f32>| {
            let weight = l
                .weight
                .as_slice_memory_order()
                .expect("contiguous parameters");
            !(all_finite(weight) && all_finite(l.bias.as_slice().expect("contiguous bias")))
        };
        for (network, net) in [("actor", &self.actor), ("critic", &self.critic)] {
            for (k, layer) in net.hidden.iter().enumerate() {
                if bad(layer) {
                    return Some(NonFiniteParameter {
                        network,
                        layer: format!("hidden layer {}", k + 1),
                    });
                }
            }
            if bad(&net.head) {
                return Some(NonFiniteParameter {
                    network,
                    layer: "head".into(),
                });
            }
        }
        if let Some(ls) = &self.log_std
            && ls.iter().any(|v| !v.is_finite())
        {
            return Some(NonFiniteParameter {
                network: "actor",
                layer: "log_std".into(),
            });
        }
        None
    }

    /// The trainer options.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// Sets the algorithm's learning rate (annealing); local learning rates follow
    /// [`ActorCritic::set_progress`].
    pub fn set_lr(&mut self, lr: f64) {
        match &mut self.state {
            State::Backprop { adam } => adam.set_lr(lr),
            State::Local { heads, .. } => heads.set_lr(lr),
        }
    }

    /// The local state of the actor's and the critic's hidden layers (fast copies and
    /// running scales; empty unless `feature_ema` or `scale_features`).
    pub fn local_states(&self) -> Option<[&LocalState; 2]> {
        match &self.state {
            State::Local {
                actor_local,
                critic_local,
                ..
            } => Some([actor_local, critic_local]),
            State::Backprop { .. } => None,
        }
    }

    /// Restores the local state of the actor's and the critic's hidden layers (from a
    /// checkpoint) and sets the networks' feature multipliers from the scales.
    ///
    /// # Errors
    /// [`AgentError::Checkpoint`] if the layers or scales do not fit this trainer's.
    pub fn set_local_states(&mut self, states: [LocalState; 2]) -> Result<(), AgentError> {
        let State::Local {
            actor_local,
            critic_local,
            ..
        } = &mut self.state
        else {
            return Err(AgentError::Checkpoint(
                "local-trainer state given to a bp trainer".into(),
            ));
        };
        let [a, c] = states;
        for (name, now, new) in [("actor", &*actor_local, &a), ("critic", &*critic_local, &c)] {
            let shapes = |s: &LocalState| {
                (
                    s.fast
                        .as_ref()
                        .map(|f| f.iter().map(|l| l.weight.dim()).collect::<Vec<_>>()),
                    s.scales.len(),
                )
            };
            if shapes(now) != shapes(new) {
                return Err(AgentError::Checkpoint(format!(
                    "the {name}'s local state (fast layers, feature scales) does not fit this trainer's"
                )));
            }
        }
        *actor_local = a;
        *critic_local = c;
        self.actor.feature_scales = actor_local
            .scales
            .iter()
            .map(FeatureScale::multiplier)
            .collect();
        self.critic.feature_scales = critic_local
            .scales
            .iter()
            .map(FeatureScale::multiplier)
            .collect();
        Ok(())
    }

    /// Tells a local trainer where the next [`ActorCritic::update`] falls within the
    /// iteration (0-based epoch and minibatch), which decides by `local_steps` whether the
    /// hidden layers step on it. Not calling it steps them on every update. A no-op under
    /// `bp`.
    pub fn set_position(&mut self, epoch: usize, minibatch: usize) {
        let mode = self.config.local().local_steps;
        if let State::Local { step_now, .. } = &mut self.state {
            *step_now = match mode {
                LocalSteps::Minibatch => true,
                LocalSteps::Epoch => minibatch == 0,
                LocalSteps::Iteration => epoch == 0 && minibatch == 0,
            };
        }
    }

    /// Tells a local trainer how far the run is, `progress` in [0, 1) the fraction of it
    /// done before this iteration (`(iteration - 1) / num_iterations`): sets the hidden
    /// layers' learning rate by `local_lr_schedule` and stops their training from
    /// `local_until` on. A no-op under `bp` and `frozen`.
    pub fn set_progress(&mut self, progress: f64) {
        let (kind, c) = (self.config.kind(), self.config.local());
        if let State::Local {
            actor_hidden,
            critic_hidden,
            train_hidden,
            ..
        } = &mut self.state
        {
            if !kind.trains_locally() {
                return;
            }
            *train_hidden = progress < c.local_until;
            let lr = c.local_lr_schedule.rate(c.local_lr, progress);
            for adam in actor_hidden.iter_mut().chain(critic_hidden.iter_mut()) {
                adam.set_lr(lr);
            }
        }
    }

    /// One update on a minibatch `obs: [batch, obs_dim]`.
    ///
    /// `guidance` carries the per-sample guidance signals `[batch]` for the actor's and the
    /// critic's local rule (used only when the rule's guidance weight is > 0). `loss`
    /// receives the head outputs and returns their gradients. Gradients are clipped to
    /// `max_grad_norm` (all parameters under `bp`, the heads under local trainers).
    /// With `diagnose`, per-layer statistics are measured even when the trainer does not
    /// compute the local loss itself.
    ///
    /// A minibatch of one row has no pairs: the local rule neither steps nor measures the
    /// hidden layers then (only the heads learn from it, or everything under `bp`).
    ///
    /// # Errors
    /// A local-rule error (e.g. sampled pairs with `k` at least the minibatch size).
    pub fn update(
        &mut self,
        obs: ArrayView2<f32>,
        guidance: (Option<ArrayView1<f32>>, Option<ArrayView1<f32>>),
        max_grad_norm: f64,
        diagnose: bool,
        loss: &mut HeadLoss<'_>,
    ) -> Result<UpdateReport, AgentError> {
        let has_pairs = obs.nrows() >= 2;
        let diagnose = diagnose && has_pairs;
        let mut report = UpdateReport::default();
        match &mut self.state {
            State::Backprop { adam } => {
                if diagnose {
                    report.actor_layers =
                        measure(&self.actor, obs, self.actor_rule.as_mut(), guidance.0)?;
                    report.critic_layers =
                        measure(&self.critic, obs, self.critic_rule.as_mut(), guidance.1)?;
                }
                let a_acts = self.actor.forward_cached(obs);
                let c_acts = self.critic.forward_cached(obs);
                let values = c_acts.last().expect("output").column(0).to_owned();
                let g = loss(HeadOutputs {
                    policy: a_acts.last().expect("output").view(),
                    log_std: self.log_std.as_ref().map(|a| a.view()),
                    values: values.view(),
                });
                let mut ga = self.actor.backward(&a_acts, g.policy.view());
                let mut gc = self
                    .critic
                    .backward(&c_acts, g.values.insert_axis(Axis(1)).view());
                drop((a_acts, c_acts));
                let mut g_log_std = log_std_grad(self.log_std.as_ref(), g.log_std);
                let mut grads: Vec<&mut [f32]> = ga
                    .layers_mut()
                    .chain(gc.layers_mut())
                    .flat_map(layer_grads)
                    .chain(
                        g_log_std
                            .as_mut()
                            .map(|g| g.as_slice_mut().expect("standard layout")),
                    )
                    .collect();
                report.grad_norm = f64::from(clip_grad_norm(&mut grads, max_grad_norm));
                let grads: Vec<&[f32]> = grads.into_iter().map(|g| &*g).collect();
                let mut params: Vec<&mut [f32]> = self
                    .actor
                    .layers_mut()
                    .chain(self.critic.layers_mut())
                    .flat_map(layer_params)
                    .chain(
                        self.log_std
                            .as_mut()
                            .map(|p| p.as_slice_mut().expect("standard layout")),
                    )
                    .collect();
                adam.step(&mut params, &grads);
                if diagnose {
                    set_weight_norms(&mut report.actor_layers, &self.actor);
                    set_weight_norms(&mut report.critic_layers, &self.critic);
                }
            }
            State::Local {
                heads,
                actor_hidden,
                critic_hidden,
                train_hidden,
                step_now,
                actor_local,
                critic_local,
            } => {
                let train = *train_hidden && *step_now && has_pairs;
                let features = self.config.local().features;
                let ema = self.config.local().feature_ema;
                let (a_feat, a_stats) = local_forward(
                    &mut self.actor,
                    obs,
                    self.actor_rule.as_mut(),
                    guidance.0,
                    train.then_some(LocalTraining {
                        optimisers: actor_hidden,
                        local: actor_local,
                        ema,
                    }),
                    features,
                    diagnose,
                )?;
                let (c_feat, c_stats) = local_forward(
                    &mut self.critic,
                    obs,
                    self.critic_rule.as_mut(),
                    guidance.1,
                    train.then_some(LocalTraining {
                        optimisers: critic_hidden,
                        local: critic_local,
                        ema,
                    }),
                    features,
                    diagnose,
                )?;
                report.actor_layers = a_stats;
                report.critic_layers = c_stats;
                // Heads on the features as constants.
                let a_out = self.actor.head.forward(a_feat.view());
                let c_out = self.critic.head.forward(c_feat.view());
                let values = c_out.column(0).to_owned();
                let g = loss(HeadOutputs {
                    policy: a_out.view(),
                    log_std: self.log_std.as_ref().map(|a| a.view()),
                    values: values.view(),
                });
                let mut ga =
                    self.actor
                        .head
                        .backward(a_feat.view(), a_out.view(), g.policy.view(), false);
                let mut gc = self.critic.head.backward(
                    c_feat.view(),
                    c_out.view(),
                    g.values.insert_axis(Axis(1)).view(),
                    false,
                );
                let mut g_log_std = log_std_grad(self.log_std.as_ref(), g.log_std);
                let mut grads: Vec<&mut [f32]> = [&mut ga, &mut gc]
                    .into_iter()
                    .flat_map(layer_grads)
                    .chain(
                        g_log_std
                            .as_mut()
                            .map(|g| g.as_slice_mut().expect("standard layout")),
                    )
                    .collect();
                report.grad_norm = f64::from(clip_grad_norm(&mut grads, max_grad_norm));
                let grads: Vec<&[f32]> = grads.into_iter().map(|g| &*g).collect();
                let mut params: Vec<&mut [f32]> = [&mut self.actor.head, &mut self.critic.head]
                    .into_iter()
                    .flat_map(layer_params)
                    .chain(
                        self.log_std
                            .as_mut()
                            .map(|p| p.as_slice_mut().expect("standard layout")),
                    )
                    .collect();
                heads.step(&mut params, &grads);
            }
        }
        Ok(report)
    }
}

/// The log-std gradient to step with: the loss's, or zeros if the loss gave none for a
/// policy that has a log-std; `None` without a log-std.
///
/// # Panics
/// If the loss's gradient has the wrong length.
fn log_std_grad(log_std: Option<&Array1<f32>>, grad: Option<Array1<f32>>) -> Option<Array1<f32>> {
    let ls = log_std?;
    let g = grad.unwrap_or_else(|| Array1::zeros(ls.len()));
    assert_eq!(g.len(), ls.len(), "HeadLoss: log_std gradient length");
    Some(g)
}

/// Whether every value is finite: an OR of the exponent tests over the whole slice, without
/// early exit, so that it vectorises (parameters are checked after every update).
fn all_finite(xs: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    xs.iter().fold(0u32, |any, v| {
        any | u32::from(v.to_bits() & EXPONENT == EXPONENT)
    }) == 0
}
