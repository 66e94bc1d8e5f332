//! Which vector path the `f32` kernels ([`crate::gemm`], [`crate::tanh`]) run on, and a
//! way to force one.
//!
//! Two paths: [`SimdPath::Avx2Fma`] (x86-64 with AVX2 and FMA, chosen at run time where the
//! CPU has them, AVX-512 CPUs included) and [`SimdPath::Portable`] (plain Rust, any CPU).
//! Both compute the same arithmetic in the same order, so **the same inputs give the same
//! bits on either path**: the products are chains of fused multiply-adds over `k` in order
//! on both (`f32::mul_add` is exact fused multiply-add on every target, in hardware or in
//! libm's `fmaf`), and the elementwise kernels use no fused operation (Rust never contracts
//! `a * b + c`). The tests force each path the CPU has and compare bits; there is no
//! AVX-512 kernel because no machine this project is tested on has AVX-512, and a path that
//! is not tested is not a guarantee.
//!
//! Forcing: [`force`] in code, or the environment variable `PDMRL_SIMD=portable|avx2`
//! (read once: by [`init_from_env`], which the `pdmrl` binary and `cargo xtask` call at
//! start, else at the first kernel call that dispatches).

use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::TensorError;

/// A vector path of the `f32` kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdPath {
    /// Plain Rust, compiled for the target's baseline (any CPU).
    Portable,
    /// x86-64 AVX2 with FMA (8 lanes).
    Avx2Fma,
}

crate::name_enum!(SimdPath, "vector path", crate::UnknownName; Portable => "portable", Avx2Fma => "avx2");

/// 0: not decided yet; otherwise 1 + the path's index in [`SimdPath::ALL`].
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The fastest path this CPU has.
pub fn detected() -> SimdPath {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return SimdPath::Avx2Fma;
        }
    }
    SimdPath::Portable
}

/// Whether this CPU can run `path`.
pub fn supported(path: SimdPath) -> bool {
    match path {
        SimdPath::Portable => true,
        SimdPath::Avx2Fma => detected() == SimdPath::Avx2Fma,
    }
}

/// The path the kernels take: the forced one ([`force`], else `PDMRL_SIMD`), else
/// [`detected`].
///
/// # Panics
/// If `PDMRL_SIMD` names an unknown path or one this CPU lacks (a clear message, at the
/// first kernel call).
#[inline]
pub fn active() -> SimdPath {
    match ACTIVE.load(Ordering::Relaxed) {
        0 => decide(),
        i => SimdPath::ALL[usize::from(i - 1)],
    }
}

#[cold]
fn decide() -> SimdPath {
    init_from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// Decides the path now from `PDMRL_SIMD` (else [`detected`]) and returns it. A binary
/// calls it first thing, so that a bad value is a clear error rather than a panic at the
/// first kernel call; without the call, the first kernel call decides.
///
/// # Errors
/// [`TensorError::Unsupported`] naming the variable if it holds an unknown path or one
/// this CPU lacks.
pub fn init_from_env() -> Result<SimdPath, TensorError> {
    let path = match std::env::var("PDMRL_SIMD") {
        Ok(name) => {
            let path: SimdPath = name.parse().map_err(|e: crate::UnknownName| {
                TensorError::Unsupported(format!("environment variable PDMRL_SIMD: {e}"))
            })?;
            if !supported(path) {
                return Err(TensorError::Unsupported(format!(
                    "environment variable PDMRL_SIMD={name}: this CPU has no `{name}` path \
                     (detected: `{}`)",
                    detected()
                )));
            }
            path
        }
        Err(_) => detected(),
    };
    store(path);
    Ok(path)
}

fn store(path: SimdPath) {
    let index = SimdPath::ALL
        .iter()
        .position(|p| *p == path)
        .expect("listed");
    ACTIVE.store(index as u8 + 1, Ordering::Relaxed);
}

/// Forces every kernel of this process onto `path` (`None`: back to [`detected`]). Meant
/// for tests and for checking a result on another path; results are the same on every
/// path, only the speed differs.
///
/// # Errors
/// [`TensorError::Unsupported`] if this CPU cannot run `path`.
pub fn force(path: Option<SimdPath>) -> Result<(), TensorError> {
    let path = path.unwrap_or_else(detected);
    if !supported(path) {
        return Err(TensorError::Unsupported(format!(
            "vector path `{path}`: this CPU lacks it (detected: `{}`)",
            detected()
        )));
    }
    store(path);
    Ok(())
}

/// Every path this CPU can run, portable first.
pub fn available() -> Vec<SimdPath> {
    SimdPath::ALL
        .iter()
        .copied()
        .filter(|p| supported(*p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_portable_is_always_there() {
        for p in SimdPath::ALL {
            assert_eq!(p.name().parse::<SimdPath>().unwrap(), p);
        }
        assert!(supported(SimdPath::Portable));
        assert_eq!(available()[0], SimdPath::Portable);
        assert!("avx512".parse::<SimdPath>().is_err());
    }
}
