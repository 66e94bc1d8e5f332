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
use serde::{Deserialize, Serialize};

/// The project's seeded RNG: ChaCha8.
pub type Rng = rand_chacha::ChaCha8Rng;

/// The complete state of an [`Rng`], for checkpoints: its 256-bit key, its stream and the
/// position of the next 32-bit word in that stream. [`RngState::restore`] gives an RNG
/// whose every later draw equals the original's.
///
/// Serialised as text (hex key, decimal word position) so that JSON keeps all 128 bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The 32-byte ChaCha key, as 64 hex digits.
    pub key: String,
    /// The stream number.
    pub stream: u64,
    /// The word position (`ChaCha8Rng::get_word_pos`), in decimal.
    pub word_pos: String,
}

impl RngState {
    /// Captures `rng`'s state.
    pub fn capture(rng: &Rng) -> Self {
        RngState {
            key: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// An RNG in exactly this state.
    ///
    /// # Errors
    /// A description of the problem if `key` is not 64 hex digits or `word_pos` is not a
    /// decimal `u128`.
    pub fn restore(&self) -> Result<Rng, String> {
        let bytes = self.key.as_bytes();
        if bytes.len() != 64 {
            return Err(format!(
                "RNG key must be 64 hex digits, got {} characters",
                bytes.len()
            ));
        }
        let mut key = [0u8; 32];
        for (k, pair) in key.iter_mut().zip(bytes.chunks(2)) {
            let text = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            *k = u8::from_str_radix(text, 16)
                .map_err(|_| format!("RNG key has a non-hex digit in `{text}`"))?;
        }
        let word_pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| format!("RNG word position `{}` is not a u128", self.word_pos))?;
        let mut rng = Rng::from_seed(key);
        rng.set_stream(self.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }
}

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
    fn state_round_trip_continues_the_stream() {
        let mut a = rng_from_seed(derive_seed(3, "action-sampling"));
        for _ in 0..17 {
            a.next_u32(); // an odd number of words: mid-block
        }
        let state = RngState::capture(&a);
        let json = serde_json::to_string(&state).unwrap();
        let mut b = serde_json::from_str::<RngState>(&json)
            .unwrap()
            .restore()
            .unwrap();
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let bad = RngState {
            key: "zz".repeat(32),
            ..state
        };
        assert!(bad.restore().unwrap_err().contains("non-hex"));
    }

    #[test]
    fn chacha_output_is_stable() {
        // ChaCha8 from seed_from_u64(0): pinned so a dependency bump that changes the
        // stream fails loudly instead of silently changing every published number.
        let first = rng_from_seed(0).next_u64();
        assert_eq!(first, 13_080_132_717_333_068_652);
    }
}
