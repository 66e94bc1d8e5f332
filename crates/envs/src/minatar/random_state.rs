//! numpy's legacy `RandomState` (MT19937), the draws MinAtar makes from it, bit for bit.
//!
//! Source: `tests/fixtures/minatar/RNG.md` §4 (written from numpy 2.4.6 and checked
//! against it). The generator is [`rand_mt::Mt`], whose 32-bit constructor is the classic
//! `init_genrand`, as `RandomState(int)`.

use rand_mt::Mt;

/// numpy's `RandomState(seed)` for an integer seed, with the draw methods MinAtar uses and
/// a count of the 32-bit outputs consumed since seeding (the fixtures' `mt_outputs_*`).
#[derive(Clone)]
pub struct RandomState {
    mt: Mt,
    outputs: u64,
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState")
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl RandomState {
    /// `RandomState(seed)`: MT19937 seeded by `init_genrand(seed)`.
    pub fn new(seed: u32) -> Self {
        RandomState {
            mt: Mt::new(seed),
            outputs: 0,
        }
    }

    /// Seeds again, as `RandomState.seed(seed)`; the output count restarts at 0.
    pub fn reseed(&mut self, seed: u32) {
        *self = RandomState::new(seed);
    }

    /// The next 32-bit output of the generator.
    pub fn next_u32(&mut self) -> u32 {
        self.outputs += 1;
        self.mt.next_u32()
    }

    /// 32-bit outputs consumed since seeding.
    pub fn outputs(&self) -> u64 {
        self.outputs
    }

    /// `rand()`: a double in `[0, 1)`, a multiple of 2^-53, from two outputs
    /// (`(a >> 5) * 2^26 + (b >> 6)) / 2^53`).
    pub fn rand(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `rand(k)`: `k` doubles, as `k` calls of [`RandomState::rand`].
    pub fn rand_n(&mut self, k: usize) -> Vec<f64> {
        (0..k).map(|_| self.rand()).collect()
    }

    /// `randint(low, high)` with the default dtype: uniform in `low..high` by masked
    /// rejection sampling, one whole output per candidate; `high - low == 1` returns
    /// `low` without drawing.
    ///
    /// # Panics
    /// If `high <= low` (numpy raises `ValueError`), or the span exceeds 2^32.
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        assert!(high > low, "randint: low >= high ({low}, {high})");
        let span = u64::try_from(high - 1 - low).expect("positive span");
        assert!(span <= u64::from(u32::MAX), "randint: span above 2^32");
        if span == 0 {
            return low;
        }
        if span == u64::from(u32::MAX) {
            return low + i64::from(self.next_u32());
        }
        let span = span as u32;
        // The smallest 2^k - 1 >= span.
        let mask = u32::MAX >> span.leading_zeros();
        loop {
            let v = self.next_u32() & mask;
            if v <= span {
                return low + i64::from(v);
            }
        }
    }

    /// `randint(low, high, k)`: `k` values, as `k` calls of [`RandomState::randint`].
    pub fn randint_n(&mut self, low: i64, high: i64, k: usize) -> Vec<i64> {
        (0..k).map(|_| self.randint(low, high)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_outputs_of_rng_md() {
        let mut r = RandomState::new(0);
        assert_eq!(
            [r.next_u32(), r.next_u32(), r.next_u32()],
            [2_357_136_044, 2_546_248_239, 3_071_714_933]
        );
        assert_eq!(RandomState::new(5489).next_u32(), 3_499_211_612);
        assert_eq!(r.outputs(), 3);
    }

    #[test]
    fn randint_of_one_value_draws_nothing() {
        let mut r = RandomState::new(1);
        assert_eq!(r.randint(0, 1), 0);
        assert_eq!(r.randint(7, 8), 7);
        assert_eq!(r.outputs(), 0);
    }
}
