//! Observation and action spaces (Gymnasium's `Discrete` and `Box`).

use ndarray::Array1;
use rand::Rng;
use std::fmt;

/// An action, as passed to [`crate::Env::step`].
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// An element of a `Discrete(n)` space: `0..n`.
    Discrete(usize),
    /// An element of a `Box` space, flattened, `[dim]`.
    Continuous(Array1<f32>),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Discrete(a) => write!(f, "{a}"),
            Action::Continuous(v) => write!(f, "{:?}", v.as_slice().unwrap_or(&[])),
        }
    }
}

/// A space of observations or actions, as in Gymnasium.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// The integers `0..n` (Gymnasium `Discrete(n)`, start 0).
    Discrete {
        /// Number of elements.
        n: usize,
    },
    /// A box of f32 vectors, `low[i] <= x[i] <= high[i]` (Gymnasium `Box`). Bounds may be
    /// infinite. `shape` is the logical shape; values are stored flattened, row-major.
    Box {
        /// Lower bounds, flattened, `[prod(shape)]`.
        low: Array1<f32>,
        /// Upper bounds, flattened, `[prod(shape)]`.
        high: Array1<f32>,
        /// Logical shape, e.g. `[4]` or `[10, 10, 4]`.
        shape: Vec<usize>,
    },
}

impl Space {
    /// A 1-D box with the given bounds. # Panics if `low` and `high` differ in length.
    pub fn box1(low: Vec<f32>, high: Vec<f32>) -> Space {
        assert_eq!(low.len(), high.len(), "Box bounds must have equal length");
        let n = low.len();
        Space::Box {
            low: Array1::from(low),
            high: Array1::from(high),
            shape: vec![n],
        }
    }

    /// Number of scalars in one element: 1 for `Discrete`, `prod(shape)` for `Box`.
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::Box { shape, .. } => shape.iter().product(),
        }
    }

    /// Whether `action` belongs to this space (type, range, length; NaN never belongs).
    pub fn contains(&self, action: &Action) -> bool {
        match (self, action) {
            (Space::Discrete { n }, Action::Discrete(a)) => a < n,
            (Space::Box { low, high, .. }, Action::Continuous(v)) => {
                v.len() == low.len()
                    && v.iter()
                        .zip(low.iter().zip(high.iter()))
                        .all(|(&x, (&l, &h))| x >= l && x <= h)
            }
            _ => false,
        }
    }

    /// Whether an observation vector lies in this `Box` space (always false for `Discrete`).
    pub fn contains_observation(&self, observation: &[f32]) -> bool {
        match self {
            Space::Box { low, high, .. } => {
                observation.len() == low.len()
                    && observation
                        .iter()
                        .zip(low.iter().zip(high.iter()))
                        .all(|(&x, (&l, &h))| x >= l && x <= h)
            }
            Space::Discrete { .. } => false,
        }
    }

    /// A uniformly random element, drawn from `rng` (Gymnasium's `sample`): an integer in
    /// `0..n`, or per dimension uniform in `[low, high]` where both bounds are finite and a
    /// standard normal draw where either bound is infinite (clipped to the finite bound).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Action {
        match self {
            Space::Discrete { n } => Action::Discrete(rng.random_range(0..*n)),
            Space::Box { low, high, .. } => {
                let v = low
                    .iter()
                    .zip(high.iter())
                    .map(|(&l, &h)| {
                        if l.is_finite() && h.is_finite() {
                            l + (h - l) * rng.random::<f32>()
                        } else {
                            let z: f32 = rng.sample(rand_distr::StandardNormal);
                            z.clamp(l, h)
                        }
                    })
                    .collect();
                Action::Continuous(v)
            }
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Discrete { n } => write!(f, "Discrete({n})"),
            Space::Box { low, high, shape } => {
                let fmt_bounds = |a: &Array1<f32>| {
                    if a.iter().all(|&x| x == a[0]) {
                        format!("{}", a[0])
                    } else {
                        format!("{:?}", a.as_slice().unwrap_or(&[]))
                    }
                };
                write!(
                    f,
                    "Box({}, {}, {:?}, float32)",
                    fmt_bounds(low),
                    fmt_bounds(high),
                    shape
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn discrete_contains_and_samples_in_range() {
        let s = Space::Discrete { n: 3 };
        assert!(s.contains(&Action::Discrete(2)));
        assert!(!s.contains(&Action::Discrete(3)));
        assert!(!s.contains(&Action::Continuous(Array1::from(vec![0.0]))));
        let mut rng = crate::EnvRng::seed_from_u64(1);
        let mut seen = [0usize; 3];
        for _ in 0..3000 {
            match s.sample(&mut rng) {
                Action::Discrete(a) => seen[a] += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(seen.iter().all(|&c| c > 900), "{seen:?}");
    }

    #[test]
    fn box_contains_bounds_length_and_nan() {
        let s = Space::box1(vec![-1.0, 0.0], vec![1.0, f32::INFINITY]);
        let a = |v: Vec<f32>| Action::Continuous(Array1::from(v));
        assert!(s.contains(&a(vec![-1.0, 1e30])));
        assert!(!s.contains(&a(vec![-1.5, 0.0])));
        assert!(!s.contains(&a(vec![0.0])));
        assert!(!s.contains(&a(vec![f32::NAN, 0.0])));
        assert!(!s.contains(&Action::Discrete(0)));
        assert!(s.contains_observation(&[0.5, 3.0]));
        assert!(!s.contains_observation(&[0.5, -3.0]));
        assert_eq!(s.flat_dim(), 2);
        assert_eq!(s.to_string(), "Box([-1.0, 0.0], [1.0, inf], [2], float32)");
    }

    #[test]
    fn box_sample_is_seeded_and_within_bounds() {
        let s = Space::box1(vec![-2.0, 0.0], vec![2.0, f32::INFINITY]);
        let draw = |seed| {
            let mut rng = crate::EnvRng::seed_from_u64(seed);
            (0..100).map(|_| s.sample(&mut rng)).collect::<Vec<_>>()
        };
        let (a, b, c) = (draw(5), draw(5), draw(6));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|x| s.contains(x)));
    }
}
