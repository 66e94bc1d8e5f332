//! Diagnostics of an iteration beyond CleanRL's logged scalars: the feature drift of each
//! hidden layer on a fixed probe batch, the per-layer statistics averaged over an
//! update's minibatches, and the explained variance of the critic.

use super::Agent;
use crate::trainer::LayerStats;
use ndarray::{Array1, Array2, s};

/// Rows of the probe batch used for the feature-drift diagnostic.
const PROBE_ROWS: usize = 64;

impl Agent {
    /// Before the first update: fixes the probe batch (every `batch / PROBE_ROWS`-th row of
    /// the first rollout, so it spans its steps and envs) and records the initial hidden
    /// outputs on it.
    pub(super) fn snapshot_probe(&mut self, b_obs: &Array2<f32>) {
        if self.probe.is_some() {
            return;
        }
        let stride = (b_obs.nrows() / PROBE_ROWS).max(1);
        let probe = b_obs.slice(s![..;stride, ..]).to_owned();
        self.probe_outputs = (
            self.model.actor.hidden_outputs(probe.view()),
            self.model.critic.hidden_outputs(probe.view()),
        );
        self.probe = Some(probe);
    }

    /// Sets `drift` of each layer's stats: the relative change of its outputs on the probe
    /// batch over this iteration's updates.
    pub(super) fn measure_drift(
        &mut self,
        actor_layers: &mut [LayerStats],
        critic_layers: &mut [LayerStats],
    ) {
        let Some(probe) = &self.probe else {
            return;
        };
        let now = (
            self.model.actor.hidden_outputs(probe.view()),
            self.model.critic.hidden_outputs(probe.view()),
        );
        for (stats, (new, old)) in [
            (actor_layers, (&now.0, &self.probe_outputs.0)),
            (critic_layers, (&now.1, &self.probe_outputs.1)),
        ] {
            for (l, s) in stats.iter_mut().enumerate() {
                s.drift = match (new.get(l), old.get(l)) {
                    (Some(n), Some(o)) => relative_change(n, o),
                    _ => f64::NAN,
                };
            }
        }
        self.probe_outputs = now;
    }
}

/// `||new - old||_F / ||old||_F` (NaN if `old` is all zeros).
fn relative_change(new: &Array2<f32>, old: &Array2<f32>) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&n, &o) in new.iter().zip(old.iter()) {
        diff += f64::from(n - o).powi(2);
        norm += f64::from(o).powi(2);
    }
    if norm > 0.0 {
        (diff / norm).sqrt()
    } else {
        f64::NAN
    }
}

/// Sums of the hidden layers' statistics over an update's minibatches.
#[derive(Default)]
pub(super) struct LayerSums {
    count: usize,
    sums: Vec<LayerStats>,
}

impl LayerSums {
    pub(super) fn add(&mut self, layers: &[LayerStats]) {
        if layers.is_empty() {
            return;
        }
        if self.sums.is_empty() {
            self.sums = vec![LayerStats::default(); layers.len()];
        }
        for (s, l) in self.sums.iter_mut().zip(layers) {
            s.local_loss += l.local_loss;
            s.mean_distance += l.mean_distance;
            s.saturated += l.saturated;
            s.weight_norm += l.weight_norm;
        }
        self.count += 1;
    }

    pub(super) fn mean(self) -> Vec<LayerStats> {
        let k = self.count.max(1) as f64;
        self.sums
            .into_iter()
            .map(|s| LayerStats {
                local_loss: s.local_loss / k,
                mean_distance: s.mean_distance / k,
                saturated: s.saturated / k,
                weight_norm: s.weight_norm / k,
                drift: f64::NAN, // set by Agent::measure_drift
            })
            .collect()
    }
}

/// CleanRL's explained variance `1 - Var(y - y_pred) / Var(y)` (population variances, as
/// numpy's `var`); NaN when `Var(y) = 0`.
pub fn explained_variance(y_pred: &Array1<f32>, y: &Array1<f32>) -> f64 {
    let var = |v: &mut dyn Iterator<Item = f64>| {
        let xs: Vec<f64> = v.collect();
        let n = xs.len().max(1) as f64;
        let m = xs.iter().sum::<f64>() / n;
        xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n
    };
    let var_y = var(&mut y.iter().map(|&v| f64::from(v)));
    if var_y == 0.0 {
        return f64::NAN;
    }
    let var_res = var(&mut y
        .iter()
        .zip(y_pred)
        .map(|(&a, &b)| f64::from(a) - f64::from(b)));
    1.0 - var_res / var_y
}
