//! The one seeded random number generator of the project, and how sub-seeds are derived.
//!
//! Every random draw in pdmrl comes from an [`Rng`] created by [`rng_from_seed`] from a
//! seed that is itself derived from the run's seed by [`derive_seed`] with a fixed stream
//! label (for example `"actor-init"`, `"action-sampling"`, `"minibatch-shuffle"`). Each
//! consumer has its own stream, so adding draws to one consumer never shifts another, and
//! results do not depend on thread scheduling.
//!
//! `Rng` is ChaCha8 (`rand_chacha::ChaCha8Rng`), whose output is specified and stable
//! across platforms and crate versions (unlike `rand::rngs::StdRng`). `pdmrl-envs` uses
//! the same type as `EnvRng`.

use rand::SeedableRng;

/// The project's seeded RNG: ChaCha8.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A fresh [`Rng`] from a 64-bit seed (`ChaCha8Rng::seed_from_u64`).
pub fn rng_from_seed(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// Derives the seed of a named stream from a run seed.
///
/// `derive_seed(seed, label) = splitmix64(seed ^ splitmix64(fnv1a64(label)))`: FNV-1a
/// hashes the label, SplitMix64 (Steele et al., 2014) mixes. Deterministic, platform
/// independent, and distinct labels give unrelated streams.
pub fn derive_seed(seed: u64, label: &str) -> u64 {
    splitmix64(seed ^ splitmix64(fnv1a64(label.as_bytes())))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn same_seed_same_stream() {
        let mut a = rng_from_seed(derive_seed(7, "actor-init"));
        let mut b = rng_from_seed(derive_seed(7, "actor-init"));
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn labels_and_seeds_separate_streams() {
        let s = derive_seed(7, "actor-init");
        assert_ne!(s, derive_seed(7, "critic-init"));
        assert_ne!(s, derive_seed(8, "actor-init"));
        // Pinned value: the derivation is part of the reproducibility contract.
        assert_eq!(
            derive_seed(0, ""),
            splitmix64(splitmix64(0xcbf2_9ce4_8422_2325))
        );
    }

    #[test]
    fn chacha_output_is_stable() {
        // ChaCha8 from seed_from_u64(0): pinned so a dependency bump that changes the
        // stream fails loudly instead of silently changing every published number.
        let first = rng_from_seed(0).next_u64();
        assert_eq!(first, 13_080_132_717_333_068_652);
    }
}
