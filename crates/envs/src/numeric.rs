//! Small numeric helpers shared by the built-in environments.

use crate::env::EnvRng;
use crate::error::EnvError;
use rand::Rng;

/// A draw uniform in `[low, high)`: numpy's `Generator.uniform` formula
/// `low + (high - low) * u` with `u` uniform in `[0, 1)` (53 random bits), redrawn in the
/// (practically never seen) case where rounding lands on `high`, so the bound is strict.
pub(crate) fn uniform_half_open(rng: &mut EnvRng, low: f64, high: f64) -> f64 {
    loop {
        let u: f64 = rng.random();
        let v = low + (high - low) * u;
        if v < high {
            return v;
        }
    }
}

/// `x ** 2` as numpy computes it for a float64 scalar: through the C library's `pow`
/// (which sometimes differs by one ulp from `x * x`). `black_box` keeps the compiler from
/// turning `pow(x, 2)` back into `x * x`.
pub(crate) fn np_square(x: f64) -> f64 {
    x.powf(std::hint::black_box(2.0))
}

/// `x ** 2` for a float32 scalar, through `powf` as numpy does.
pub(crate) fn np_square_f32(x: f32) -> f32 {
    x.powf(std::hint::black_box(2.0))
}

/// Checks a state given to `set_state`: exactly `N` values, all finite.
///
/// # Errors
/// [`EnvError::InvalidState`] naming the env, the expected layout (`names`) and the first
/// offending component.
pub(crate) fn checked_state<const N: usize>(
    id: &str,
    state: &[f64],
    names: [&str; N],
) -> Result<[f64; N], EnvError> {
    let state: [f64; N] = state.try_into().map_err(|_| EnvError::InvalidState {
        id: id.to_string(),
        reason: format!(
            "expected {N} values [{}], got {}",
            names.join(", "),
            state.len()
        ),
    })?;
    if let Some(i) = state.iter().position(|v| !v.is_finite()) {
        return Err(EnvError::InvalidState {
            id: id.to_string(),
            reason: format!("component {i} (`{}`) is not finite: {}", names[i], state[i]),
        });
    }
    Ok(state)
}

/// Parses Gymnasium-style kwargs that may hold one numeric option `key` (an integer or a
/// finite float) and nothing else; returns its value if given.
///
/// # Errors
/// [`EnvError::InvalidKwargs`] naming the key: `render_mode` (this port does not render),
/// an unknown key, a non-number or a non-finite value.
pub(crate) fn number_kwarg(
    id: &str,
    kwargs: &toml::Table,
    key: &str,
) -> Result<Option<f64>, EnvError> {
    let invalid = |reason: String| EnvError::InvalidKwargs {
        id: id.to_string(),
        reason,
    };
    let mut out = None;
    for (k, value) in kwargs {
        if k == key {
            let v = match value {
                toml::Value::Float(f) => *f,
                toml::Value::Integer(i) => *i as f64,
                other => {
                    return Err(invalid(format!(
                        "`{key}` must be a number, got {} `{other}`",
                        other.type_str()
                    )));
                }
            };
            if !v.is_finite() {
                return Err(invalid(format!("`{key}` must be finite, got {v}")));
            }
            out = Some(v);
        } else if k == "render_mode" {
            return Err(invalid(
                "`render_mode` is not supported: this port does not render".to_string(),
            ));
        } else {
            return Err(invalid(format!(
                "unknown key `{k}`; accepted keys: `{key}`"
            )));
        }
    }
    Ok(out)
}
