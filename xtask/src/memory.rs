//! `cargo xtask memory`: the memory claim of docs/method.md ("Memory"), measured.
//!
//! For depths 1, 2, 4, 8, 16 (hidden layers of width 256, tanh, obs dim 4, 2 actions,
//! minibatch 256), the peak heap bytes allocated during one actor-critic update *above*
//! parameters and optimiser state (which a warm-up update has already allocated), under
//! `bp` and under `pdm`. Writes `results/memory/memory_vs_depth.csv` and
//! `results/figures/memory_vs_depth.png` and prints the table.
//!
//! Bytes are counted by xtask's global allocator (`alloc.rs`), only on the measuring
//! thread; `crates/agents/tests/memory.rs` counts with `peak_alloc::PeakAlloc` and asserts
//! the criteria on the same measurement (`pdmrl_agents::memory`).

use anyhow::{Context, Result};
use pdmrl_agents::TrainerKind;
use pdmrl_agents::memory::{BATCH, OBS_DIM, Variant, WIDTH, update_peak_bytes};
use pdmrl_runner::atomic::write_atomic;
use pdmrl_runner::figures::{Figure, Panel, PanelData, Series, save_figure};
use std::fmt::Write as _;
use std::path::Path;

const DEPTHS: [usize; 5] = [1, 2, 4, 8, 16];
const MIB: f64 = 1024.0 * 1024.0;

/// Peak bytes of one update of `kind` with `depth` hidden layers, above parameters and
/// optimiser state.
fn update_peak(depth: usize, kind: TrainerKind) -> Result<usize> {
    Ok(update_peak_bytes(
        depth,
        Variant::Trainer(kind),
        &mut crate::alloc::peak_above,
    )?)
}

/// Measures, writes the CSV and the figure under `root/results/`, prints the table;
/// returns the rows `(depth, bp bytes, pdm bytes)`.
pub fn run(root: &Path) -> Result<Vec<(usize, usize, usize)>> {
    let mut rows = Vec::with_capacity(DEPTHS.len());
    for depth in DEPTHS {
        let bp = update_peak(depth, TrainerKind::Bp)?;
        let pdm = update_peak(depth, TrainerKind::Pdm)?;
        rows.push((depth, bp, pdm));
    }

    let mut csv = String::from("depth,bp_bytes,pdm_bytes\n");
    for (depth, bp, pdm) in &rows {
        writeln!(csv, "{depth},{bp},{pdm}")?;
    }
    let csv_path = root.join("results/memory/memory_vs_depth.csv");
    write_atomic(&csv_path, csv.as_bytes())?;

    let figures = figure(&root.join("results"))?;
    println!("peak bytes allocated during one update, above parameters and optimiser state");
    println!("(width {WIDTH}, tanh, obs dim {OBS_DIM}, minibatch {BATCH}, actor + critic)\n");
    println!("| depth | bp bytes | pdm bytes | bp MiB | pdm MiB |");
    println!("|---:|---:|---:|---:|---:|");
    for (depth, bp, pdm) in &rows {
        println!(
            "| {depth} | {bp} | {pdm} | {:.2} | {:.2} |",
            *bp as f64 / MIB,
            *pdm as f64 / MIB
        );
    }
    eprintln!("\n  table:  {}", csv_path.display());
    for f in figures {
        eprintln!("  figure: {}", f.display());
    }
    Ok(rows)
}

/// Draws `<results>/figures/memory_vs_depth.{png,svg}` from
/// `<results>/memory/memory_vs_depth.csv` (measuring nothing); returns the files written.
///
/// # Errors
/// A missing or malformed CSV, or a figure that cannot be written.
pub fn figure(results: &Path) -> Result<Vec<std::path::PathBuf>> {
    let csv_path = results.join("memory/memory_vs_depth.csv");
    let mut reader = csv::Reader::from_path(&csv_path).with_context(|| {
        format!(
            "cannot read `{}` (run `cargo xtask memory`)",
            csv_path.display()
        )
    })?;
    let rows: Vec<(usize, usize, usize)> = reader
        .deserialize()
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot parse `{}`", csv_path.display()))?;
    let x: Vec<f64> = rows.iter().map(|r| r.0 as f64).collect();
    let curve = |label: &str, bytes: &dyn Fn(&(usize, usize, usize)) -> usize| {
        let mib: Vec<f64> = rows.iter().map(|r| bytes(r) as f64 / MIB).collect();
        Series {
            label: label.to_string(),
            x: x.clone(),
            mean: mib.clone(),
            lower: mib.clone(),
            upper: mib,
        }
    };
    let figure = Figure {
        title: String::new(),
        panels: vec![Panel {
            title: format!(
                "Peak memory of one update (width {WIDTH}, minibatch {BATCH}, actor + critic)"
            ),
            x_label: "hidden layers".into(),
            y_label: "peak MiB above parameters and optimiser state".into(),
            data: PanelData::Lines(vec![curve("bp", &|r| r.1), curve("pdm", &|r| r.2)]),
            references: Vec::new(),
        }],
        columns: 1,
        panel_size: (900, 560),
        legend: false,
    };
    let stem = results.join("figures/memory_vs_depth");
    save_figure(&stem, &figure).with_context(|| format!("drawing `{}`", stem.display()))
}
