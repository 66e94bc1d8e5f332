//! The results version: which numerics produced a run's results ([`RESULTS_VERSION`]),
//! and how tables and figures say that they were drawn from runs of another version
//! ([`stale_note`]).
//!
//! Every run's `config.toml` carries the version of the code that trained it
//! (`results_version = 2`; a file without the key is of version 1, written before the key
//! existed). A run of another version than the code's is *stale*: its config is otherwise
//! the run's (same run id, same folder), but training it again gives other bits.
//! `pdmrl reproduce` trains a stale run again (or copies a current one from another
//! experiment's folder) instead of skipping it, `pdmrl train --resume` refuses to continue
//! one, and the tables and figures drawn from stale runs say so, naming the version.

/// The results version of this code. Bump it with any change to the numerics that
/// changes a run's bits (the same config and seed giving other `metrics.csv` or
/// `eval.csv` bytes): a different `tanh` or GEMM summation order, an RNG stream, an
/// optimiser's arithmetic. A change that keeps every run's bits (a refactoring, a new
/// option left out at its default) keeps it.
///
/// History:
/// * 1: everything before results versions existed (no `results_version` key in
///   `config.toml`): `tanh` is glibc 2.36's `tanhf` bit for bit (fdlibm's algorithm,
///   `pdmrl_tensor::tanh`), products are matrixmultiply's with its FMA summation order
///   (`pdmrl_tensor::small_gemm` matching it).
/// * 2: `tanh` of our own (`sign(x) e / (e + 2)` with a Taylor `expm1`, within 2 ulps,
///   no fused operations), products by `pdmrl_tensor::gemm` (one fused multiply-add chain
///   over `k` in order per element, on every vector path).
pub const RESULTS_VERSION: u32 = 2;

/// The version of a `config.toml` without a `results_version` key (written before the
/// key existed).
pub const FIRST_RESULTS_VERSION: u32 = 1;

/// The line that marks a table or figure drawn from runs of other results versions than
/// [`RESULTS_VERSION`], given the version of each run it is drawn from; `None` if every
/// run is of the current version (or there is none). For example `results version 1
/// (current code: 2): stale until regenerated`, or, when only some runs are stale, `3 of
/// 10 runs of results version 1 (current code: 2): stale until regenerated`.
pub fn stale_note(versions: impl IntoIterator<Item = u32>) -> Option<String> {
    let versions: Vec<u32> = versions.into_iter().collect();
    let mut stale: Vec<u32> = versions
        .iter()
        .copied()
        .filter(|v| *v != RESULTS_VERSION)
        .collect();
    if stale.is_empty() {
        return None;
    }
    let count = stale.len();
    stale.sort_unstable();
    stale.dedup();
    let list = stale
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let which = if stale.len() == 1 {
        format!("results version {list}")
    } else {
        format!("results versions {list}")
    };
    let runs = if count == versions.len() {
        String::new()
    } else {
        format!("{count} of {} runs of ", versions.len())
    };
    Some(format!(
        "{runs}{which} (current code: {RESULTS_VERSION}): stale until regenerated"
    ))
}

/// [`stale_note`] as a Markdown line under a table (`_Results version 1 (current code:
/// 2): stale until regenerated._` and a newline), or `None`.
pub fn stale_markdown(versions: impl IntoIterator<Item = u32>) -> Option<String> {
    let note = stale_note(versions)?;
    let mut chars = note.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    Some(format!(
        "_{}{}._\n",
        first.unwrap_or_default(),
        chars.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_names_the_stale_versions_and_counts_a_mix() {
        assert_eq!(stale_note([RESULTS_VERSION; 3]), None);
        assert_eq!(stale_note([]), None);
        assert_eq!(
            stale_note([1, 1]).as_deref(),
            Some(
                format!(
                    "results version 1 (current code: {RESULTS_VERSION}): stale until regenerated"
                )
                .as_str()
            )
        );
        assert_eq!(
            stale_note([1, RESULTS_VERSION, 1, RESULTS_VERSION + 1]).as_deref(),
            Some(
                format!(
                    "3 of 4 runs of results versions 1, {} (current code: {RESULTS_VERSION}): stale until regenerated",
                    RESULTS_VERSION + 1
                )
                .as_str()
            )
        );
        assert_eq!(
            stale_markdown([1]).as_deref(),
            Some(
                format!("_Results version 1 (current code: {RESULTS_VERSION}): stale until regenerated._\n")
                    .as_str()
            )
        );
        assert_eq!(stale_markdown([RESULTS_VERSION]), None);
    }
}
