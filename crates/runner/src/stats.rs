//! Robust statistics over seeds, after Agarwal et al., "Deep Reinforcement Learning at the
//! Edge of the Statistical Precipice" (NeurIPS 2021; the `rliable` library): interquartile
//! mean, percentile bootstrap confidence intervals, probability of improvement; and the
//! within-run stability measures of docs/method.md ("What the paper claims").
//!
//! Every function takes plain slices and is deterministic (the bootstrap draws from a
//! ChaCha8 stream seeded by the caller).

use rand::{Rng as _, SeedableRng};

/// The arithmetic mean (NaN for no values).
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The median (mean of the two middle values for an even count; NaN for no values).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let s = sorted(xs);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// The interquartile mean: the mean of the values left after removing `floor(n / 4)`
/// from each end of the sorted values (`scipy.stats.trim_mean(x, 0.25)`, as `rliable`'s
/// `aggregate_iqm`). NaN for no values.
pub fn iqm(xs: &[f64]) -> f64 {
    let s = sorted(xs);
    let cut = s.len() / 4;
    mean(&s[cut..s.len() - cut])
}

/// The interquartile range `Q3 - Q1` with linear interpolation between order statistics
/// (numpy's default `percentile` method). NaN for no values.
pub fn iqr(xs: &[f64]) -> f64 {
    let s = sorted(xs);
    percentile(&s, 75.0) - percentile(&s, 25.0)
}

/// The sample standard deviation (`ddof = 1`; 0 for one value, NaN for none).
pub fn std(xs: &[f64]) -> f64 {
    match xs.len() {
        0 => f64::NAN,
        1 => 0.0,
        n => {
            let m = mean(xs);
            (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64).sqrt()
        }
    }
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// The `q`-th percentile (0..=100) of sorted values, linearly interpolated (numpy's
/// `linear` method).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A 95% (or `level`) percentile bootstrap confidence interval of `statistic` over the
/// values (the runs, one per seed): `resamples` resamples with replacement drawn from a
/// ChaCha8 stream seeded with `seed`, and the `(1 - level) / 2` and `(1 + level) / 2`
/// percentiles of the statistic over them. For one task this is `rliable`'s stratified
/// bootstrap (its strata are the tasks). Returns `(lo, hi)`; NaN for no values.
pub fn bootstrap_ci(
    xs: &[f64],
    statistic: fn(&[f64]) -> f64,
    resamples: usize,
    level: f64,
    seed: u64,
) -> (f64, f64) {
    if xs.is_empty() || resamples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut sample = vec![0.0; xs.len()];
    let mut stats: Vec<f64> = (0..resamples)
        .map(|_| {
            for s in sample.iter_mut() {
                *s = xs[rng.random_range(0..xs.len())];
            }
            statistic(&sample)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    (
        percentile(&stats, 100.0 * alpha),
        percentile(&stats, 100.0 * (1.0 - alpha)),
    )
}

/// The probability of improvement `P(X > Y)`: over every pair of a run `x` of `xs` and a
/// run `y` of `ys`, 1 if `x > y`, 1/2 if equal, 0 otherwise, averaged (the normalised
/// Mann-Whitney U statistic, `rliable`'s `probability_of_improvement` for one task). NaN
/// if either is empty.
pub fn probability_of_improvement(xs: &[f64], ys: &[f64]) -> f64 {
    let mut total = 0.0;
    for &x in xs {
        for &y in ys {
            total += if x > y {
                1.0
            } else if x == y {
                0.5
            } else {
                0.0
            };
        }
    }
    total / (xs.len() * ys.len()) as f64
}

/// A percentile bootstrap confidence interval of the probability of improvement
/// [`probability_of_improvement`]`(xs, ys)`: each of `resamples` resamples draws `xs` and
/// `ys` with replacement, independently (the two groups are separate sets of runs; rliable
/// resamples each algorithm's runs on its own), from a ChaCha8 stream seeded with `seed`;
/// the `(1 - level) / 2` and `(1 + level) / 2` percentiles of the statistic over them.
/// Returns `(lo, hi)`; NaN if either is empty.
pub fn bootstrap_probability_ci(
    xs: &[f64],
    ys: &[f64],
    resamples: usize,
    level: f64,
    seed: u64,
) -> (f64, f64) {
    if xs.is_empty() || ys.is_empty() || resamples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut a, mut b) = (vec![0.0; xs.len()], vec![0.0; ys.len()]);
    let mut stats: Vec<f64> = (0..resamples)
        .map(|_| {
            for v in a.iter_mut() {
                *v = xs[rng.random_range(0..xs.len())];
            }
            for v in b.iter_mut() {
                *v = ys[rng.random_range(0..ys.len())];
            }
            probability_of_improvement(&a, &b)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    (
        percentile(&stats, 100.0 * alpha),
        percentile(&stats, 100.0 * (1.0 - alpha)),
    )
}

/// The last `fraction` of a run's evaluation returns (at least one): `ceil(fraction * n)`
/// values.
pub fn tail(evals: &[f64], fraction: f64) -> &[f64] {
    let k = ((fraction * evals.len() as f64).ceil() as usize)
        .max(1)
        .min(evals.len());
    &evals[evals.len() - k..]
}

/// The final return of a run: the mean of the last 10% of its evaluation returns (at least
/// one evaluation).
pub fn final_return(evals: &[f64]) -> f64 {
    mean(tail(evals, 0.1))
}

/// Stability within a run: the mean drop between consecutive evaluations,
/// `mean_k max(0, e_k - e_{k+1})` over all consecutive pairs (a rise counts as 0); NaN
/// for fewer than two evaluations.
pub fn mean_drop(evals: &[f64]) -> f64 {
    let drops: Vec<f64> = evals.windows(2).map(|w| (w[0] - w[1]).max(0.0)).collect();
    mean(&drops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_and_spread_by_hand() {
        let xs = [7.0, 1.0, 3.0, 100.0, 5.0, 2.0, 4.0, 6.0];
        assert_eq!(mean(&xs), 128.0 / 8.0);
        assert_eq!(median(&xs), 4.5);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        // n = 8: drop 2 from each end of 1 2 3 4 5 6 7 100 -> mean(3, 4, 5, 6) = 4.5.
        assert_eq!(iqm(&xs), 4.5);
        // n = 5: drop 1 from each end of 1 2 3 4 50 -> mean(2, 3, 4) = 3.
        assert_eq!(iqm(&[50.0, 1.0, 2.0, 3.0, 4.0]), 3.0);
        // n = 3: nothing dropped.
        assert_eq!(iqm(&[1.0, 2.0, 6.0]), 3.0);
        // numpy: percentile([1..5], 25) = 2, 75 = 4.
        assert_eq!(iqr(&[5.0, 1.0, 4.0, 2.0, 3.0]), 2.0);
        // numpy: percentile([1, 2, 3, 4], [25, 75]) = [1.75, 3.25].
        assert_eq!(iqr(&[1.0, 2.0, 3.0, 4.0]), 1.5);
        assert!((std(&[1.0, 2.0, 3.0, 6.0]) - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(std(&[4.0]), 0.0);
        assert!(mean(&[]).is_nan() && median(&[]).is_nan() && iqm(&[]).is_nan());
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_statistic() {
        let xs = [10.0, 12.0, 9.0, 11.0, 30.0, 10.5, 9.5, 11.5, 10.0, 12.5];
        let a = bootstrap_ci(&xs, iqm, 2000, 0.95, 7);
        assert_eq!(
            a,
            bootstrap_ci(&xs, iqm, 2000, 0.95, 7),
            "same seed, same CI"
        );
        assert_ne!(a, bootstrap_ci(&xs, iqm, 2000, 0.95, 8));
        let m = iqm(&xs);
        assert!(a.0 <= m && m <= a.1 && a.0 < a.1, "{a:?} around {m}");
        // The sample's range bounds any resample's mean; equal values give a point.
        let (lo, hi) = bootstrap_ci(&xs, mean, 2000, 0.95, 1);
        assert!(lo >= 9.0 && hi <= 30.0);
        assert_eq!(bootstrap_ci(&[3.0; 5], mean, 100, 0.95, 1), (3.0, 3.0));
        // One value: every resample is that value.
        assert_eq!(bootstrap_ci(&[2.5], iqm, 50, 0.95, 1), (2.5, 2.5));
    }

    #[test]
    fn probability_of_improvement_by_hand() {
        // Pairs (x, y): (3,1) 1, (3,3) 1/2, (3,5) 0, (4,1) 1, (4,3) 1, (4,5) 0 -> 3.5 / 6.
        assert_eq!(
            probability_of_improvement(&[3.0, 4.0], &[1.0, 3.0, 5.0]),
            3.5 / 6.0
        );
        assert_eq!(probability_of_improvement(&[1.0], &[1.0]), 0.5);
        assert_eq!(probability_of_improvement(&[2.0, 3.0], &[0.0, 1.0]), 1.0);
    }

    /// The interval brackets the statistic, is seeded, collapses for separated groups and
    /// widens with fewer runs.
    #[test]
    fn probability_ci_brackets_and_is_seeded() {
        let xs = [3.0, 5.0, 4.0, 6.0, 2.0, 7.0, 5.5, 4.5];
        let ys = [4.0, 3.5, 2.5, 5.0, 3.0, 4.2, 3.8, 2.0];
        let p = probability_of_improvement(&xs, &ys);
        let ci = bootstrap_probability_ci(&xs, &ys, 10_000, 0.95, 3);
        assert!(
            ci.0 < p && p < ci.1 && 0.0 <= ci.0 && ci.1 <= 1.0,
            "{ci:?} around {p}"
        );
        assert_eq!(ci, bootstrap_probability_ci(&xs, &ys, 10_000, 0.95, 3));
        assert_eq!(
            bootstrap_probability_ci(&[10.0, 11.0], &[1.0, 2.0, 3.0], 500, 0.95, 1),
            (1.0, 1.0)
        );
        let narrow = bootstrap_probability_ci(&xs[..4], &ys[..4], 10_000, 0.95, 3);
        assert!(narrow.1 - narrow.0 > ci.1 - ci.0, "{narrow:?} vs {ci:?}");
        assert!(bootstrap_probability_ci(&[], &ys, 10, 0.95, 1).0.is_nan());
    }

    #[test]
    fn stability_measures_by_hand() {
        let evals: Vec<f64> = vec![0.0, 10.0, 4.0, 8.0, 2.0, 2.0, 5.0, 9.0, 7.0, 8.0, 6.0, 9.0];
        // Drops: 0->10 none, 10->4 6, 4->8 none, 8->2 6, 2->2 0, 2->5, 5->9 none, 9->7 2,
        // 7->8 none, 8->6 2, 6->9 none: (6 + 6 + 2 + 2) / 11.
        assert_eq!(mean_drop(&evals), 16.0 / 11.0);
        // 12 evaluations: the last 10% is ceil(1.2) = 2 of them: 6 and 9.
        assert_eq!(tail(&evals, 0.1), &[6.0, 9.0]);
        assert_eq!(final_return(&evals), 7.5);
        assert!((std(tail(&evals, 0.1)) - (4.5f64).sqrt()).abs() < 1e-12);
        assert_eq!(final_return(&[3.0]), 3.0);
        assert!(mean_drop(&[3.0]).is_nan());
    }
}
