//! The update: `update_epochs` epochs over the shuffled batch in `num_minibatches`
//! minibatches, as CleanRL's `ppo.py` (A2C and REINFORCE: one epoch, by default of one
//! minibatch). Each minibatch's head loss is [`crate::loss::algo_loss`]; the trainer
//! ([`crate::trainer::ActorCritic::update`]) steps the heads on it and the hidden layers
//! on their local loss (or everything by backpropagation under `bp`). A non-finite loss
//! or parameter stops the run with an error naming the network, layer and minibatch.

use super::Agent;
use super::algorithm;
use super::diagnostics::LayerSums;
use super::rollout::Batch;
use crate::error::AgentError;
use crate::loss::{AlgoLoss, LossBatch, algo_loss, normalize_advantages};
use crate::policy::Actions;
use crate::trainer::{GuidanceSignal, HeadGrads, LayerStats};
use ndarray::{Array1, Axis};
use rand::seq::SliceRandom;

/// What an update measured: the losses summed over its minibatches and the hidden
/// layers' statistics averaged over them (drift not yet set).
pub(super) struct UpdateSums {
    pub(super) losses: LossSums,
    pub(super) actor_layers: Vec<LayerStats>,
    pub(super) critic_layers: Vec<LayerStats>,
}

impl Agent {
    /// One update on a batch (see the module docs).
    ///
    /// # Errors
    /// A local-rule error, or a non-finite loss, local loss or parameter.
    pub(super) fn update(&mut self, b: &Batch) -> Result<UpdateSums, AgentError> {
        let c = &self.config;
        let iteration = self.iteration;
        let coefs = algorithm::loss_coefs(c);
        let target_kl = algorithm::target_kl(c);
        let signals = self.model.config().signals();
        let mut inds: Vec<usize> = (0..b.len()).collect();
        let bounds = self.plan.minibatch_bounds(b.len());
        let mut sums = LossSums::default();
        let mut actor_layers = LayerSums::default();
        let mut critic_layers = LayerSums::default();
        'epochs: for epoch in 0..c.update_epochs {
            inds.shuffle(&mut self.shuffle_rng);
            for (k, &(lo, hi)) in bounds.iter().enumerate() {
                self.model.set_position(epoch, k);
                let mb = &inds[lo..hi];
                let mb_obs = b.obs.select(Axis(0), mb);
                let mb_actions = match &b.actions {
                    Actions::Discrete(a) => Actions::Discrete(mb.iter().map(|&j| a[j]).collect()),
                    Actions::Continuous(a) => Actions::Continuous(a.select(Axis(0), mb)),
                };
                let pick = |a: &Array1<f32>| Array1::from_iter(mb.iter().map(|&j| a[j]));
                let raw_adv = pick(&b.advantages);
                let mb_returns = pick(&b.returns);
                let mut mb_adv = raw_adv.clone();
                if c.norm_adv {
                    normalize_advantages(&mut mb_adv);
                }
                // Guidance signals of `pdm_guided` (docs/method.md): by default the raw
                // advantages for the actor (REINFORCE: the returns-to-go), the returns for
                // the critic.
                let actor_adv = if algorithm::actor_guided_by_return(c) {
                    &mb_returns
                } else {
                    &raw_adv
                };
                let guidance = (
                    guidance_signal(signals.0, actor_adv, &mb_returns),
                    guidance_signal(signals.1, &raw_adv, &mb_returns),
                );
                let (mb_old_logp, mb_old_v) = (pick(&b.logprobs), pick(&b.values));
                let lb = LossBatch {
                    actions: mb_actions.view(),
                    old_logprobs: mb_old_logp.view(),
                    advantages: mb_adv.view(),
                    returns: mb_returns.view(),
                    old_values: mb_old_v.view(),
                };
                let mut out: Option<AlgoLoss<f32>> = None;
                let diagnose = k == 0 && sums.count == 0;
                let report = self.model.update(
                    mb_obs.view(),
                    guidance,
                    c.max_grad_norm,
                    diagnose,
                    &mut |h| {
                        let l = algo_loss(h.policy, h.log_std, h.values, &lb, &coefs);
                        let grads = HeadGrads {
                            policy: l.grad_policy.clone(),
                            log_std: l.grad_log_std.clone(),
                            values: l.grad_values.clone(),
                        };
                        out = Some(l);
                        grads
                    },
                )?;
                let l = out.expect("loss evaluated");
                if !l.loss.is_finite() {
                    return Err(AgentError::NonFinite {
                        update: iteration,
                        network: if l.v_loss.is_finite() {
                            "actor"
                        } else {
                            "critic"
                        },
                        what: format!("{} loss (minibatch {})", c.algo, k + 1),
                    });
                }
                for (name, layers) in [
                    ("actor", &report.actor_layers),
                    ("critic", &report.critic_layers),
                ] {
                    if let Some(bad) = layers.iter().position(|s| !s.local_loss.is_finite()) {
                        return Err(AgentError::NonFinite {
                            update: iteration,
                            network: name,
                            what: format!("local loss of hidden layer {}", bad + 1),
                        });
                    }
                }
                if let Some(p) = self.model.first_non_finite() {
                    return Err(AgentError::NonFinite {
                        update: iteration,
                        network: p.network,
                        what: format!("parameter of {} (after minibatch {})", p.layer, k + 1),
                    });
                }
                sums.add(&l, report.grad_norm);
                actor_layers.add(&report.actor_layers);
                critic_layers.add(&report.critic_layers);
                if target_kl.is_some_and(|target| f64::from(l.approx_kl) > target) {
                    break 'epochs;
                }
            }
        }
        Ok(UpdateSums {
            losses: sums,
            actor_layers: actor_layers.mean(),
            critic_layers: critic_layers.mean(),
        })
    }
}

/// The guidance signal `[batch]` of one network for a minibatch: the raw (unnormalised)
/// advantages, the returns, or none (docs/method.md, "Reward guidance").
pub fn guidance_signal<'a>(
    signal: GuidanceSignal,
    raw_advantages: &'a Array1<f32>,
    returns: &'a Array1<f32>,
) -> Option<ndarray::ArrayView1<'a, f32>> {
    match signal {
        GuidanceSignal::Advantage => Some(raw_advantages.view()),
        GuidanceSignal::Return => Some(returns.view()),
        GuidanceSignal::None => None,
    }
}

/// Sums of the logged losses over an update's minibatches.
#[derive(Default)]
pub(super) struct LossSums {
    pub(super) count: usize,
    pub(super) v_loss: f64,
    pub(super) pg_loss: f64,
    pub(super) entropy: f64,
    pub(super) old_kl: f64,
    pub(super) kl: f64,
    pub(super) clipfrac: f64,
    pub(super) grad_norm: f64,
}

impl LossSums {
    fn add(&mut self, l: &AlgoLoss<f32>, grad_norm: f64) {
        self.count += 1;
        self.v_loss += f64::from(l.v_loss);
        self.pg_loss += f64::from(l.pg_loss);
        self.entropy += f64::from(l.entropy);
        self.old_kl += f64::from(l.old_approx_kl);
        self.kl += f64::from(l.approx_kl);
        self.clipfrac += f64::from(l.clipfrac);
        self.grad_norm += grad_norm;
    }

    pub(super) fn mean(&self, x: f64) -> f64 {
        x / self.count.max(1) as f64
    }
}
