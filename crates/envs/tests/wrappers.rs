//! The stateful wrappers (`EpisodeStatistics`, `NormalizeObservation`, `NormalizeReward`)
//! and `RunningMeanStd`, against hand-computed values.
//!
//! The expected numbers were computed with exact rational arithmetic from the closed form of
//! the running statistics: after samples `x_1..x_n` with Gymnasium's prior (mean 0,
//! variance 1, weight `e = 1e-4`),
//! `mean = sum(x) / (n + e)` and `var = (e * (1 + mean²) + sum((x - mean)²)) / (n + e)`
//! (the population variance of the prior mixed with the samples), which is what the
//! parallel-variance update computes incrementally.

use ndarray::Array1;
use pdmrl_envs::Wrapper;
use pdmrl_envs::wrappers::{
    EpisodeRecord, EpisodeStatistics, NormalizeObservation, NormalizeObservationConfig,
    NormalizeReward, NormalizeRewardConfig, RunningMeanStd,
};
use pdmrl_envs::{Action, CartPole, Env, EnvError, EnvRng, Info, Registry, Space, Step, TimeLimit};
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;

/// An env that replays a script: each `reset` returns the next reset observation, each
/// `step` the next `(observation, reward, terminated, truncated)`. Observations `[dim]`,
/// unbounded; one action.
#[derive(Debug, Clone)]
struct Scripted {
    dim: usize,
    resets: VecDeque<Vec<f32>>,
    steps: VecDeque<(Vec<f32>, f64, bool, bool)>,
    running: bool,
}

impl Scripted {
    fn new(dim: usize, resets: Vec<Vec<f32>>, steps: Vec<(Vec<f32>, f64, bool, bool)>) -> Self {
        Scripted {
            dim,
            resets: resets.into(),
            steps: steps.into(),
            running: false,
        }
    }

    /// Only rewards matter: observations `[0]`.
    fn rewards(steps: &[(f64, bool, bool)]) -> Self {
        let episodes = 1 + steps.iter().filter(|s| s.1 || s.2).count();
        Self::new(
            1,
            vec![vec![0.0]; episodes],
            steps
                .iter()
                .map(|&(r, te, tr)| (vec![0.0], r, te, tr))
                .collect(),
        )
    }
}

impl Env for Scripted {
    fn id(&self) -> &str {
        "Scripted-v0"
    }
    fn observation_space(&self) -> Space {
        Space::box1(
            vec![f32::NEG_INFINITY; self.dim],
            vec![f32::INFINITY; self.dim],
        )
    }
    fn action_space(&self) -> Space {
        Space::Discrete { n: 1 }
    }
    fn reset(&mut self, _seed: Option<u64>) -> (Array1<f32>, Info) {
        self.running = true;
        let obs = self.resets.pop_front().expect("script has no more resets");
        (Array1::from(obs), Info::new())
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        if !self.action_space().contains(action) {
            return Err(EnvError::invalid_action(action, self.action_space()));
        }
        if !self.running {
            return Err(EnvError::StepAfterDone {
                id: self.id().to_string(),
            });
        }
        let (obs, reward, terminated, truncated) =
            self.steps.pop_front().expect("script has no more steps");
        self.running = !(terminated || truncated);
        Ok(Step {
            observation: Array1::from(obs),
            reward,
            terminated,
            truncated,
            info: Info::new(),
        })
    }
}

const A: Action = Action::Discrete(0);

fn assert_close(got: f64, want: f64, rel: f64, what: &str) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1e-300),
        "{what}: got {got:e}, want {want:e}"
    );
}

// ---------------------------------------------------------------- RunningMeanStd

#[test]
fn running_mean_std_starts_from_gymnasium_prior() {
    let s = RunningMeanStd::new(3);
    assert_eq!(s.mean, vec![0.0; 3]);
    assert_eq!(s.var, vec![1.0; 3]);
    assert_eq!(s.count, 1e-4);
    assert_eq!(s.dim(), 3);
    assert_eq!(RunningMeanStd::with_epsilon(2, 0.0).count, 0.0);
}

#[test]
fn running_mean_std_hand_computed() {
    // One sample 2.0: mean = 2 / 1.0001, var = (1e-4 * (1 + mean²) + (2 - mean)²) / 1.0001.
    let mut s = RunningMeanStd::new(1);
    s.update(&[[2.0]]);
    assert_close(s.mean[0], 1.9998000199980002, 1e-15, "mean");
    assert_close(s.var[0], 0.0004999100129983002, 1e-12, "var");
    assert_close(s.count, 1.0001, 1e-15, "count");

    // A batch of two 2-D samples [1, 2] and [3, 6].
    let mut s = RunningMeanStd::new(2);
    s.update(&[vec![1.0, 2.0], vec![3.0, 6.0]]);
    assert_close(s.mean[0], 1.99990000499975, 1e-15, "mean[0]");
    assert_close(s.mean[1], 3.9998000099995, 1e-15, "mean[1]");
    assert_close(s.var[0], 1.0001999800015, 1e-14, "var[0]");
    assert_close(s.var[1], 4.000649927505624, 1e-14, "var[1]");
    assert_close(s.count, 2.0001, 1e-15, "count");

    // Without the prior the statistics are the plain mean and population variance.
    let mut s = RunningMeanStd::with_epsilon(2, 0.0);
    s.update(&[[1.0, 2.0]]);
    s.update(&[[3.0, 6.0], [5.0, 10.0]]);
    assert_eq!(s.mean, vec![3.0, 6.0]);
    assert_close(s.var[0], 8.0 / 3.0, 1e-15, "var[0]");
    assert_close(s.var[1], 32.0 / 3.0, 1e-15, "var[1]");
    assert_eq!(s.count, 3.0);
}

#[test]
fn running_mean_std_matches_two_pass_statistics_on_random_data() {
    let mut rng = EnvRng::seed_from_u64(42);
    let dim = 3;
    let data: Vec<Vec<f64>> = (0..1000)
        .map(|_| {
            (0..dim)
                .map(|j| 5.0 * j as f64 - 3.0 + (j as f64 + 0.5) * rng.random::<f64>() * 4.0)
                .collect()
        })
        .collect();
    // Batches of random sizes 0..=20, interleaved with single updates.
    let mut plain = RunningMeanStd::with_epsilon(dim, 0.0);
    let mut prior = RunningMeanStd::new(dim);
    let mut i = 0;
    while i < data.len() {
        let size = rng.random_range(0..=20).min(data.len() - i);
        if size == 1 {
            plain.update_one(&data[i]);
            prior.update_one(&data[i]);
        } else {
            plain.update(&data[i..i + size]);
            prior.update(&data[i..i + size]);
        }
        i += size;
    }
    let n = data.len() as f64;
    let e = RunningMeanStd::DEFAULT_EPSILON;
    for j in 0..dim {
        let mean = data.iter().map(|x| x[j]).sum::<f64>() / n;
        let var = data.iter().map(|x| (x[j] - mean).powi(2)).sum::<f64>() / n;
        assert!((plain.mean[j] - mean).abs() <= 1e-9, "mean[{j}]");
        assert!((plain.var[j] - var).abs() <= 1e-9, "var[{j}]");
        // With the prior: the closed form of the module docs.
        let m = data.iter().map(|x| x[j]).sum::<f64>() / (n + e);
        let v =
            (e * (1.0 + m * m) + data.iter().map(|x| (x[j] - m).powi(2)).sum::<f64>()) / (n + e);
        assert!((prior.mean[j] - m).abs() <= 1e-9, "prior mean[{j}]");
        assert!((prior.var[j] - v).abs() <= 1e-9, "prior var[{j}]");
    }
    assert_eq!(plain.count, n);
    assert_close(prior.count, n + e, 1e-15, "count");
}

#[test]
fn running_mean_std_single_update_and_empty_batch() {
    let mut a = RunningMeanStd::new(2);
    let mut b = RunningMeanStd::new(2);
    for x in [[1.0, -1.0], [0.5, 4.0], [-2.0, 3.0]] {
        a.update_one(&x);
        b.update(&[x]);
    }
    assert_eq!(a, b);
    let before = a.clone();
    a.update::<Vec<f64>>(&[]);
    assert_eq!(a, before, "an empty batch changes nothing");
    // update_from_moments with a batch's moments equals update with the batch.
    let mut c = RunningMeanStd::new(2);
    c.update(&[[1.0, 2.0], [3.0, 6.0]]);
    let mut d = RunningMeanStd::new(2);
    d.update_from_moments(&[2.0, 4.0], &[1.0, 4.0], 2.0);
    assert_eq!(c, d);
}

#[test]
#[should_panic(expected = "row 1 has 1 components, the statistics have 2")]
fn running_mean_std_rejects_rows_of_the_wrong_length() {
    RunningMeanStd::new(2).update(&[vec![1.0, 2.0], vec![1.0]]);
}

#[test]
fn running_mean_std_serde_roundtrip_and_validation() {
    let mut s = RunningMeanStd::new(2);
    s.update(&[[0.1, 1e10], [-3.0, 7.25]]);
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"mean\"") && json.contains("\"var\"") && json.contains("\"count\""));
    let back: RunningMeanStd = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    assert_eq!(s.validate(2), Ok(()));
    assert!(s.validate(3).unwrap_err().contains("expected 3"));
    let mut bad = s.clone();
    bad.var[1] = -1.0;
    assert!(bad.validate(2).unwrap_err().contains("var[1]"));
    let mut bad = s.clone();
    bad.mean[0] = f64::NAN;
    assert!(bad.validate(2).unwrap_err().contains("mean[0]"));
    let mut bad = s;
    bad.count = f64::INFINITY;
    assert!(bad.validate(2).unwrap_err().contains("count"));
}

// ---------------------------------------------------------------- EpisodeStatistics

fn stats_keys(info: &Info) -> (Option<f64>, Option<f64>) {
    (
        info.get("episode_return").copied(),
        info.get("episode_length").copied(),
    )
}

#[test]
fn episode_statistics_reports_return_and_length_at_episode_end() {
    let inner = Scripted::rewards(&[
        (1.0, false, false),
        (2.5, false, false),
        (-0.5, true, false), // episode 1: return 3, length 3, terminated
        (0.25, false, false),
        (0.25, false, true), // episode 2: return 0.5, length 2, truncated
        (7.0, false, false), // episode 3: cut by a reset
        (1.0, true, true),   // episode 4: return 1, length 1, both flags
    ]);
    let mut env = EpisodeStatistics::new(inner);
    assert_eq!(EpisodeStatistics::<Scripted>::RETURN_KEY, "episode_return");
    assert_eq!(EpisodeStatistics::<Scripted>::LENGTH_KEY, "episode_length");
    assert_eq!(env.last_episode(), None);

    env.reset(Some(0));
    for want in [(1.0, 1), (3.5, 2)] {
        let s = env.step(&A).unwrap();
        assert_eq!(stats_keys(&s.info), (None, None), "no keys mid-episode");
        assert_eq!((env.episode_return(), env.episode_length()), want);
    }
    let s = env.step(&A).unwrap();
    assert!(s.terminated);
    assert_eq!(s.reward, -0.5, "rewards pass through");
    assert_eq!(stats_keys(&s.info), (Some(3.0), Some(3.0)));
    assert_eq!(
        env.last_episode(),
        Some(EpisodeRecord {
            episode_return: 3.0,
            length: 3
        })
    );
    assert_eq!(env.episode_count(), 1);
    // Stepping the ended episode is an error and is not counted.
    assert!(matches!(env.step(&A), Err(EnvError::StepAfterDone { .. })));
    assert_eq!((env.episode_return(), env.episode_length()), (3.0, 3));

    env.reset(None);
    assert_eq!((env.episode_return(), env.episode_length()), (0.0, 0));
    env.step(&A).unwrap();
    let s = env.step(&A).unwrap();
    assert!(s.truncated && !s.terminated);
    assert_eq!(stats_keys(&s.info), (Some(0.5), Some(2.0)));

    env.reset(None);
    env.step(&A).unwrap();
    env.reset(None); // a reset mid-episode discards the partial episode
    let s = env.step(&A).unwrap();
    assert!(s.terminated && s.truncated);
    assert_eq!(stats_keys(&s.info), (Some(1.0), Some(1.0)));
    assert_eq!(env.episode_count(), 3);
    assert_eq!(env.last_episode().unwrap().length, 1);
    assert_eq!(env.into_inner().steps.len(), 0);
}

#[test]
fn episode_statistics_set_state_starts_a_new_episode() {
    let mut env = EpisodeStatistics::new(TimeLimit::new(CartPole::new(), 5).unwrap());
    env.reset(Some(1));
    env.step(&A).unwrap();
    env.step(&A).unwrap();
    assert_eq!(env.episode_length(), 2);
    assert!(env.set_state(&[0.0; 3]).is_err());
    assert_eq!(
        env.episode_length(),
        2,
        "a failed set_state changes nothing"
    );
    env.set_state(&[0.0; 4]).unwrap();
    assert_eq!((env.episode_return(), env.episode_length()), (0.0, 0));
    let mut last = None;
    for _ in 0..5 {
        last = Some(env.step(&Action::Discrete(1)).unwrap());
    }
    let last = last.unwrap();
    assert!(last.truncated);
    assert_eq!(stats_keys(&last.info), (Some(5.0), Some(5.0)));
    assert_eq!(env.state().unwrap().len(), 4);
    assert_eq!(env.id(), "CartPole-v1");
}

#[test]
#[should_panic(expected = "already set info[\"episode_return\"]")]
fn episode_statistics_twice_in_a_stack_panics() {
    let inner = Scripted::rewards(&[(1.0, true, false)]);
    let mut env = EpisodeStatistics::new(EpisodeStatistics::new(inner));
    env.reset(None);
    let _ = env.step(&A);
}

// ---------------------------------------------------------------- NormalizeObservation

/// Observations of the hand-computed example: reset `[1, -2]`, then `[3, 0.5]`, `[-1, 4]`.
fn obs_script(extra_steps: usize) -> Scripted {
    let mut steps = vec![
        (vec![3.0, 0.5], 0.0, false, false),
        (vec![-1.0, 4.0], 0.0, false, false),
    ];
    steps.extend((0..extra_steps).map(|k| (vec![k as f32, -(k as f32)], 0.0, false, false)));
    Scripted::new(2, vec![vec![1.0, -2.0]; 4], steps)
}

fn assert_obs(got: &Array1<f32>, want: [f64; 2], what: &str) {
    for (i, (&g, w)) in got.iter().zip(want).enumerate() {
        assert_close(f64::from(g), w, 1e-6, &format!("{what}[{i}]"));
    }
}

#[test]
fn normalize_observation_hand_computed() {
    let mut env = NormalizeObservation::new(obs_script(0));
    assert_eq!(env.epsilon(), 1e-8);
    assert_eq!(env.clip(), None);
    assert!(env.update_running_stats());
    let (o0, _) = env.reset(Some(0));
    // Statistics include the reset observation (Gymnasium's ObservationWrapper.reset).
    assert_eq!(env.stats().count, 1.0001);
    assert_obs(&o0, [0.007070714249637373, -0.008944093012038978], "reset");
    let s1 = env.step(&A).unwrap();
    assert_obs(
        &s1.observation,
        [1.0000000049980005, 0.9999699987499626],
        "step 1",
    );
    let s2 = env.step(&A).unwrap();
    assert_obs(
        &s2.observation,
        [-1.224729560496586, 1.2868691094860463],
        "step 2",
    );
    assert_close(env.stats().count, 3.0001, 1e-15, "count");
    // normalize() uses the current statistics without updating them.
    let again = env.normalize(&[-1.0, 4.0]);
    assert_eq!(again, s2.observation);
    assert_close(env.stats().count, 3.0001, 1e-15, "count unchanged");
}

#[test]
fn normalize_observation_space_and_clip() {
    let env = NormalizeObservation::new(obs_script(0));
    assert_eq!(
        env.observation_space(),
        Space::box1(vec![f32::NEG_INFINITY; 2], vec![f32::INFINITY; 2])
    );
    let steps = vec![
        (vec![0.0, 0.0], 0.0, false, false),
        (vec![0.0, 0.0], 0.0, false, false),
        (vec![1e6, -1e6], 0.0, false, false),
    ];
    let inner = Scripted::new(2, vec![vec![0.0, 0.0]], steps);
    let mut env =
        NormalizeObservation::with_config(inner, NormalizeObservationConfig::cleanrl()).unwrap();
    assert_eq!(env.clip(), Some(10.0));
    assert_eq!(
        env.observation_space(),
        Space::box1(vec![-10.0; 2], vec![10.0; 2])
    );
    env.reset(None);
    env.step(&A).unwrap();
    env.step(&A).unwrap();
    let s = env.step(&A).unwrap();
    // z = (1e6 - 1e6/4.0001) / sqrt(var), var ~ 1.9e11: z ~ 1.73, inside the clip range.
    let st = env.stats().clone();
    let z = (1e6 - st.mean[0]) / (st.var[0] + 1e-8).sqrt();
    assert_close(f64::from(s.observation[0]), z.min(10.0), 1e-6, "obs[0]");
    assert_close(f64::from(s.observation[1]), (-z).max(-10.0), 1e-6, "obs[1]");
    // With frozen statistics around zero an outlier is clipped to exactly ±10.
    let clipped = env.normalize(&[1e30, -1e30]);
    assert_eq!(clipped.to_vec(), vec![10.0, -10.0]);
    assert!(
        env.observation_space()
            .contains_observation(&clipped.to_vec())
    );
}

#[test]
fn normalize_observation_cleanrl_clips_an_early_outlier() {
    // After a long run of zeros the variance is tiny, so a single 1.0 is far out: clipped.
    let mut steps: Vec<_> = (0..200).map(|_| (vec![0.0], 0.0, false, false)).collect();
    steps.push((vec![1.0], 0.0, false, false));
    let inner = Scripted::new(1, vec![vec![0.0]], steps);
    let mut env =
        NormalizeObservation::with_config(inner, NormalizeObservationConfig::cleanrl()).unwrap();
    env.reset(None);
    for _ in 0..200 {
        assert_eq!(env.step(&A).unwrap().observation[0], 0.0);
    }
    // mean = 1/202.0001, var ~ 201/202² (the prior is negligible): z ~ sqrt(201) > 10.
    assert_eq!(env.step(&A).unwrap().observation[0], 10.0);

    let mut steps: Vec<_> = (0..200).map(|_| (vec![0.0], 0.0, false, false)).collect();
    steps.push((vec![1.0], 0.0, false, false));
    let mut unclipped = NormalizeObservation::new(Scripted::new(1, vec![vec![0.0]], steps));
    unclipped.reset(None);
    for _ in 0..200 {
        unclipped.step(&A).unwrap();
    }
    let z = unclipped.step(&A).unwrap().observation[0];
    // 202 samples: the reset's 0, 200 step zeros, then 1 (z ~ sqrt(201) ~ 14.18).
    let (n, e) = (202.0, 1e-4);
    let m = 1.0 / (n + e);
    let v = (e * (1.0 + m * m) + 201.0 * m * m + (1.0 - m) * (1.0 - m)) / (n + e);
    assert_close(f64::from(z), (1.0 - m) / (v + 1e-8_f64).sqrt(), 1e-6, "z");
    assert!(z > 10.0);
}

#[test]
fn normalize_observation_frozen_stats_and_checkpoint_roundtrip() {
    let mut env = NormalizeObservation::new(obs_script(10));
    env.reset(None);
    for _ in 0..6 {
        env.step(&A).unwrap();
    }
    let saved = serde_json::to_string(env.stats()).unwrap();

    // Freezing: steps use but do not change the statistics.
    env.set_update_running_stats(false);
    assert!(!env.update_running_stats());
    let before = env.stats().clone();
    let s = env.step(&A).unwrap();
    assert_eq!(env.stats(), &before);
    assert_eq!(s.observation, env.normalize(&[4.0, -4.0]));
    env.reset(None);
    assert_eq!(
        env.stats(),
        &before,
        "a frozen reset does not update either"
    );
    env.set_update_running_stats(true);
    env.step(&A).unwrap();
    assert_ne!(env.stats(), &before);

    // Restoring a checkpoint into a fresh wrapper gives the same normalisation.
    let mut fresh = NormalizeObservation::new(obs_script(0));
    fresh
        .set_stats(serde_json::from_str(&saved).unwrap())
        .unwrap();
    assert_eq!(fresh.stats(), &before);
    fresh.set_update_running_stats(false);
    let (o, _) = fresh.reset(None);
    assert_eq!(o, {
        let mut probe = NormalizeObservation::new(obs_script(0));
        probe.set_stats(before.clone()).unwrap();
        probe.normalize(&[1.0, -2.0])
    });

    // Statistics of the wrong shape or with invalid values are refused.
    let err = fresh.set_stats(RunningMeanStd::new(3)).unwrap_err();
    assert!(matches!(err, EnvError::InvalidState { .. }), "{err}");
    assert!(err.to_string().contains("expected 2"), "{err}");
    let mut nan = before.clone();
    nan.var[0] = f64::NAN;
    assert!(fresh.set_stats(nan).is_err());
    assert_eq!(
        fresh.stats(),
        &before,
        "a refused set_stats changes nothing"
    );
}

#[test]
fn normalize_observation_rejects_non_finite_observations() {
    // A NaN from step: error, statistics untouched, the episode is over.
    let steps = vec![
        (vec![1.0, 2.0], 0.0, false, false),
        (vec![1.0, f32::NAN], 0.0, false, false),
        (vec![5.0, 6.0], 0.0, false, false),
    ];
    let inner = Scripted::new(2, vec![vec![0.0, 0.0]; 2], steps);
    let mut env = NormalizeObservation::new(inner);
    env.reset(None);
    env.step(&A).unwrap();
    let before = env.stats().clone();
    let err = env.step(&A).unwrap_err();
    let EnvError::NonFinite { id, what } = &err else {
        panic!("expected NonFinite, got {err:?}");
    };
    assert_eq!(id, "Scripted-v0");
    assert!(what.contains("component 1 is NaN"), "{what}");
    assert!(err.to_string().contains("non-finite observation"), "{err}");
    assert_eq!(env.stats(), &before);
    assert!(matches!(env.step(&A), Err(EnvError::StepAfterDone { .. })));
    env.reset(None);
    assert!(env.step(&A).is_ok(), "a reset clears the error");

    // An infinite observation from reset: NaN returned, reported by the next step.
    let inner = Scripted::new(
        2,
        vec![vec![f32::INFINITY, 1.0], vec![0.0, 0.0]],
        vec![(vec![0.0, 0.0], 0.0, false, false)],
    );
    let mut env =
        NormalizeObservation::with_config(inner, NormalizeObservationConfig::cleanrl()).unwrap();
    let (o, _) = env.reset(None);
    assert!(o[0].is_nan(), "not clipped into range: {o}");
    assert!(o[1].is_finite());
    assert_eq!(env.stats(), &RunningMeanStd::new(2));
    let err = env.step(&A).unwrap_err();
    assert!(
        matches!(&err, EnvError::NonFinite { what, .. } if what.contains("inf") && what.contains("from reset")),
        "{err}"
    );
    assert!(matches!(env.step(&A), Err(EnvError::StepAfterDone { .. })));
    env.reset(None);
    assert!(env.step(&A).is_ok());
}

#[test]
fn normalize_observation_set_state_counts_as_a_reset_observation() {
    let mut env = NormalizeObservation::new(CartPole::new());
    let o = env.set_state(&[0.1, 0.0, 0.0, 0.0]).unwrap();
    assert_eq!(env.stats().count, 1.0001);
    // First sample x: (x - x/1.0001) / sqrt(var + 1e-8); zero components stay zero.
    assert!(o[0] > 0.0 && o[1] == 0.0, "{o}");
    assert!(env.set_state(&[f64::NAN; 4]).is_err());
    assert_eq!(env.stats().count, 1.0001);
    assert_eq!(env.state().unwrap(), vec![0.1, 0.0, 0.0, 0.0]);
}

#[test]
fn invalid_configs_are_rejected() {
    for config in [
        NormalizeObservationConfig {
            epsilon: 0.0,
            clip: None,
        },
        NormalizeObservationConfig {
            epsilon: f64::NAN,
            clip: None,
        },
        NormalizeObservationConfig {
            epsilon: 1e-8,
            clip: Some(0.0),
        },
        NormalizeObservationConfig {
            epsilon: 1e-8,
            clip: Some(f64::NAN),
        },
    ] {
        let err = NormalizeObservation::with_config(CartPole::new(), config).unwrap_err();
        assert!(matches!(err, EnvError::InvalidKwargs { .. }), "{err}");
    }
    for config in [
        NormalizeRewardConfig {
            gamma: 1.5,
            ..Default::default()
        },
        NormalizeRewardConfig {
            gamma: -0.1,
            ..Default::default()
        },
        NormalizeRewardConfig {
            epsilon: -1.0,
            ..Default::default()
        },
        NormalizeRewardConfig {
            clip: Some(-10.0),
            ..Default::default()
        },
    ] {
        let err = NormalizeReward::with_config(CartPole::new(), config).unwrap_err();
        assert!(matches!(err, EnvError::InvalidKwargs { .. }), "{err}");
    }
    // The bounds themselves are valid.
    for gamma in [0.0, 1.0] {
        let config = NormalizeRewardConfig {
            gamma,
            ..Default::default()
        };
        assert!(NormalizeReward::with_config(CartPole::new(), config).is_ok());
    }
}

// ---------------------------------------------------------------- NormalizeReward

#[test]
fn normalize_reward_hand_computed_with_gymnasium_accumulator_rule() {
    // gamma = 0.5. R = R * gamma * (1 - terminated) + r:
    //   r = 1            -> R = 1
    //   r = 2 terminated -> R = 2   (cleared on the terminating step itself)
    //   r = 4 truncated  -> R = 5   (truncation does not clear; the reset keeps R)
    //   r = 1 terminated -> R = 1
    let inner = Scripted::rewards(&[
        (1.0, false, false),
        (2.0, true, false),
        (4.0, false, true),
        (1.0, true, false),
    ]);
    let config = NormalizeRewardConfig {
        gamma: 0.5,
        ..Default::default()
    };
    let mut env = NormalizeReward::with_config(inner, config).unwrap();
    assert_eq!((env.gamma(), env.epsilon(), env.clip()), (0.5, 1e-8, None));
    env.reset(None);
    let expected = [
        (1.0, 70.71421321062337),
        (2.0, 3.9988005647001663),
        (5.0, 2.3533227228447164),
        (1.0, 0.6099847055278532),
    ];
    for (k, (want_r, want_reward)) in expected.into_iter().enumerate() {
        let s = env.step(&A);
        let s = match s {
            Ok(s) => s,
            Err(EnvError::StepAfterDone { .. }) => {
                env.reset(None);
                env.step(&A).unwrap()
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(env.discounted_return(), want_r, "R after step {k}");
        assert_close(s.reward, want_reward, 1e-12, &format!("reward {k}"));
    }
    assert_close(env.stats().count, 4.0001, 1e-15, "count");
}

#[test]
fn normalize_reward_defaults_clip_freeze_and_checkpoint() {
    let env = NormalizeReward::new(CartPole::new());
    assert_eq!((env.gamma(), env.epsilon(), env.clip()), (0.99, 1e-8, None));
    assert_eq!(NormalizeRewardConfig::cleanrl().clip, Some(10.0));

    // The first reward is 1 / sqrt(var(R=1 with the prior) + 1e-8) ~ 70.7: clipped to 10.
    let inner = Scripted::rewards(&[
        (1.0, false, false),
        (-1.0, false, false),
        (3.0, false, false),
    ]);
    let mut env = NormalizeReward::with_config(inner, NormalizeRewardConfig::cleanrl()).unwrap();
    env.reset(None);
    assert_eq!(env.step(&A).unwrap().reward, 10.0);
    let r = env.step(&A).unwrap().reward;
    assert!(r > -10.0 && r < 0.0, "{r}");
    assert_close(r, -1.0 / (env.stats().var[0] + 1e-8).sqrt(), 1e-15, "r");

    // Frozen: R still accumulates, the statistics do not change.
    env.set_update_running_stats(false);
    assert!(!env.update_running_stats());
    let before = env.stats().clone();
    let s = env.step(&A).unwrap();
    assert_eq!(env.stats(), &before);
    assert_eq!(s.reward, env.normalize(3.0));
    assert_close(
        env.discounted_return(),
        (1.0 * 0.99 - 1.0) * 0.99 + 3.0,
        1e-15,
        "R",
    );

    // Checkpoint roundtrip.
    let json = serde_json::to_string(env.stats()).unwrap();
    let mut fresh = NormalizeReward::new(CartPole::new());
    fresh
        .set_stats(serde_json::from_str(&json).unwrap())
        .unwrap();
    assert_eq!(fresh.stats(), &before);
    assert!(matches!(
        fresh.set_stats(RunningMeanStd::new(2)),
        Err(EnvError::InvalidState { .. })
    ));
}

#[test]
fn normalize_reward_rejects_non_finite_rewards() {
    let inner = Scripted::rewards(&[
        (1.0, false, false),
        (f64::NAN, false, false),
        (f64::NEG_INFINITY, false, false),
        (2.0, false, false),
    ]);
    let mut env = NormalizeReward::new(inner);
    env.reset(None);
    env.step(&A).unwrap();
    let (before, r) = (env.stats().clone(), env.discounted_return());
    let err = env.step(&A).unwrap_err();
    assert!(
        matches!(&err, EnvError::NonFinite { id, what } if id == "Scripted-v0" && what == "reward (NaN)"),
        "{err:?}"
    );
    assert!(err.to_string().contains("non-finite reward (NaN)"), "{err}");
    assert_eq!((env.stats(), env.discounted_return()), (&before, r));
    assert!(matches!(env.step(&A), Err(EnvError::StepAfterDone { .. })));
    // The inner env is still running; after a reset the wrapper steps it again.
    env.inner_mut().running = true;
    env.inner_mut().resets.extend([vec![0.0], vec![0.0]]);
    env.reset(None);
    let err = env.step(&A).unwrap_err();
    assert!(matches!(&err, EnvError::NonFinite { what, .. } if what == "reward (-inf)"));
    env.reset(None);
    assert!(env.step(&A).unwrap().reward.is_finite());
}

// ---------------------------------------------------------------- composition

/// Random CartPole actions, reproducible.
fn actions(seed: u64, n: usize) -> Vec<Action> {
    let mut rng = EnvRng::seed_from_u64(seed);
    (0..n)
        .map(|_| Action::Discrete(rng.random_range(0..2)))
        .collect()
}

#[test]
fn statistics_inside_normalize_reward_report_raw_returns() {
    // The recommended order: statistics innermost, on raw rewards.
    let inner = TimeLimit::new(CartPole::new(), 15).unwrap();
    let mut env = NormalizeReward::new(EpisodeStatistics::new(inner));
    env.reset(Some(3));
    let (mut seen, mut steps, mut episodes) = (0.0, 0usize, 0);
    for a in actions(7, 400) {
        let s = env.step(&a).unwrap();
        seen += s.reward;
        steps += 1;
        assert!(s.reward != 1.0, "the agent sees normalised rewards");
        if s.terminated || s.truncated {
            // CartPole pays 1 per step: the raw return equals the length.
            assert_eq!(s.info["episode_return"], steps as f64);
            assert_eq!(s.info["episode_length"], steps as f64);
            assert!((seen - steps as f64).abs() > 1e-3, "normalised sum differs");
            let last = env.inner().last_episode().unwrap();
            assert_eq!(last.episode_return, steps as f64);
            episodes += 1;
            (seen, steps) = (0.0, 0);
            env.reset(None);
        }
    }
    assert!(episodes >= 10, "{episodes}");

    // The other order records what the agent sees: sums of normalised rewards.
    let inner = TimeLimit::new(CartPole::new(), 15).unwrap();
    let mut env = EpisodeStatistics::new(NormalizeReward::new(inner));
    env.reset(Some(3));
    let (mut seen, mut steps) = (0.0, 0usize);
    for a in actions(7, 100) {
        let s = env.step(&a).unwrap();
        seen += s.reward;
        steps += 1;
        if s.terminated || s.truncated {
            assert_eq!(s.info["episode_return"], seen);
            assert!((s.info["episode_return"] - steps as f64).abs() > 1e-3);
            (seen, steps) = (0.0, 0);
            env.reset(None);
        }
    }
}

#[test]
fn full_stack_over_a_registry_env() {
    // CleanRL's order over `Box<dyn Env>` from the registry.
    let registry = Registry::with_builtins();
    let env = EpisodeStatistics::new(registry.make("CartPole-v1").unwrap());
    let env =
        NormalizeObservation::with_config(env, NormalizeObservationConfig::cleanrl()).unwrap();
    let mut env = NormalizeReward::with_config(env, NormalizeRewardConfig::cleanrl()).unwrap();
    assert_eq!(env.id(), "CartPole-v1");
    assert_eq!(
        env.observation_space(),
        Space::box1(vec![-10.0; 4], vec![10.0; 4])
    );
    let (o, _) = env.reset(Some(0));
    assert!(
        env.observation_space()
            .contains_observation(o.as_slice().unwrap())
    );
    let mut ended = 0;
    for a in actions(1, 300) {
        let s = env.step(&a).unwrap();
        assert!(s.observation.iter().all(|x| x.abs() <= 10.0));
        assert!(s.reward.abs() <= 10.0);
        if s.terminated || s.truncated {
            assert!(s.info["episode_return"] >= 1.0);
            ended += 1;
            env.reset(None);
        }
    }
    assert!(ended > 3);
    assert_close(
        env.inner().stats().count,
        300.0 + ended as f64 + 1.0 + 1e-4,
        1e-12,
        "one observation per step and per reset",
    );
    assert_close(env.stats().count, 300.0 + 1e-4, 1e-12, "one R per step");
}

/// Episode statistics of each copy reach the caller through `VectorStep::infos` on the
/// step that ends the episode (Gymnasium's `final_info`), and equal the episode's raw
/// return and length.
#[test]
fn vector_env_hands_back_episode_statistics() {
    let registry = Registry::with_builtins();
    let copies: Vec<Box<dyn Env>> = (0..2)
        .map(|_| {
            Box::new(EpisodeStatistics::new(
                registry.make("CartPole-v1").unwrap(),
            )) as Box<dyn Env>
        })
        .collect();
    let mut envs = pdmrl_envs::SyncVectorEnv::new(copies).unwrap();
    envs.reset(Some(3));
    let mut running = [0.0f64; 2];
    let mut lengths = [0usize; 2];
    let mut finished = 0;
    for a in actions(9, 400) {
        let step = envs.step(&[a.clone(), a]).unwrap();
        for i in 0..2 {
            running[i] += step.rewards[i];
            lengths[i] += 1;
            let ended = step.terminated[i] || step.truncated[i];
            assert_eq!(step.infos[i].contains_key("episode_return"), ended);
            if ended {
                assert_eq!(step.infos[i]["episode_return"], running[i]);
                assert_eq!(step.infos[i]["episode_length"], lengths[i] as f64);
                running[i] = 0.0;
                lengths[i] = 0;
                finished += 1;
            }
        }
    }
    assert!(finished >= 10, "only {finished} episodes ended");
}
