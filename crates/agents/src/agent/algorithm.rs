//! Where PPO, A2C and REINFORCE differ, in one place: the loop, the rollout and the update
//! are shared, and ask these functions.
//!
//! | | PPO | A2C | REINFORCE |
//! |---|---|---|---|
//! | policy objective | clipped surrogate | vanilla | vanilla |
//! | value clip | `clip_vloss` | – | – |
//! | GAE lambda | `gae_lambda` | `gae_lambda` | 1 (returns-to-go) |
//! | critic | yes | yes | `baseline` (else `vf_coef` 0) |
//! | returns normalised | – | – | `normalize_returns` |
//! | actor's guidance signal | advantage | advantage | return-to-go |
//! | early stop at `target_kl` | yes | – | – |

use crate::config::{AgentConfig, Algo};
use crate::loss::{LossCoefs, PolicyObjective};

/// The loss coefficients of the algorithm.
pub(super) fn loss_coefs(c: &AgentConfig) -> LossCoefs {
    match c.algo {
        Algo::Ppo => LossCoefs {
            objective: PolicyObjective::Clipped {
                clip_coef: c.clip_coef,
            },
            value_clip: c.clip_vloss.then_some(c.clip_coef),
            ent_coef: c.ent_coef,
            vf_coef: c.vf_coef,
        },
        Algo::A2c => LossCoefs {
            objective: PolicyObjective::Vanilla,
            value_clip: None,
            ent_coef: c.ent_coef,
            vf_coef: c.vf_coef,
        },
        Algo::Reinforce => LossCoefs {
            objective: PolicyObjective::Vanilla,
            value_clip: None,
            ent_coef: c.ent_coef,
            vf_coef: if c.baseline { c.vf_coef } else { 0.0 },
        },
    }
}

/// Whether the critic is used: always but by REINFORCE without a baseline.
pub(super) fn uses_critic(c: &AgentConfig) -> bool {
    c.algo != Algo::Reinforce || c.baseline
}

/// The GAE lambda: REINFORCE's advantages are the returns-to-go minus the baseline
/// (lambda 1).
pub(super) fn gae_lambda(c: &AgentConfig) -> f32 {
    if c.algo == Algo::Reinforce {
        1.0
    } else {
        c.gae_lambda as f32
    }
}

/// Whether the returns are standardised over the batch (REINFORCE's
/// `normalize_returns`).
pub(super) fn normalizes_returns(c: &AgentConfig) -> bool {
    c.algo == Algo::Reinforce && c.normalize_returns
}

/// Whether the actor's `advantage` guidance signal is the return-to-go (REINFORCE: the
/// signal that weighs its policy gradient) rather than the raw advantage.
pub(super) fn actor_guided_by_return(c: &AgentConfig) -> bool {
    c.algo == Algo::Reinforce
}

/// The approximate KL above which an iteration's remaining epochs are skipped (PPO's
/// `target_kl`).
pub(super) fn target_kl(c: &AgentConfig) -> Option<f64> {
    match c.algo {
        Algo::Ppo => c.target_kl,
        _ => None,
    }
}
