//! `cargo xtask bench`: how many experiments a day pdmrl runs on this CPU, side by side with
//! PyTorch, and how close it comes to the machine's own limit.
//!
//! One invocation measures, in this order:
//! 1. the machine's ceiling: single-thread sgemm GFLOP/s of the matrix-multiply backend
//!    (ndarray's `general_mat_mul`, i.e. matrixmultiply) at the shapes PPO uses;
//! 2. pdmrl PPO with `bp` and `pdm` on CartPole-v1 and Pendulum-v1, CleanRL's
//!    hyperparameters (`ppo.py`, `ppo_continuous_action.py`), `--steps` env steps, one
//!    thread, no evaluation, `--repeats` times each (median): env steps/s, the time per
//!    update (advantages and the epochs of minibatch steps), and achieved GFLOP/s from the
//!    FLOPs per env step counted from the shapes ([`flops_per_step`]);
//! 3. two CartPole `bp` runs on two threads at once against one alone;
//! 4. when a Python with `torch` and `gymnasium` is found (`--python`,
//!    `PDMRL_BENCH_PYTHON`, else `python3`), `xtask/python/ppo_torch.py` on the same envs
//!    and budgets at 1 and 2 threads;
//! 5. the peak memory of one update against depth (`cargo xtask memory`), which also
//!    redraws `results/figures/memory_vs_depth.png`.
//!
//! Writes `results/bench/bench.md` and `results/bench/bench.json` and prints the table.
//! Timings are wall clock on whatever else the machine is doing: run it on an idle machine.

use crate::memory;
use anyhow::{Context, Result, bail};
use ndarray::{Array2, linalg::general_mat_mul};
use pdmrl_agents::pdmrl_envs::Registry;
use pdmrl_agents::{Algo, TrainerKind};
use pdmrl_runner::atomic::write_atomic;
use pdmrl_runner::resolve::{CheckedRun, RunConfig, resolve_agent, resolve_trainer};
use pdmrl_runner::run::build_agent;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Environment steps of every training run (both sides).
    #[arg(long, default_value_t = 100_000)]
    steps: usize,
    /// Repeats of every pdmrl run; the table shows the median.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Repeats of every PyTorch run (about 30 s each at 100k steps).
    #[arg(long, default_value_t = 1)]
    torch_repeats: usize,
    /// Python interpreter with torch and gymnasium for the PyTorch side (default:
    /// $PDMRL_BENCH_PYTHON, else `python3` if it has them).
    #[arg(long, conflicts_with = "no_python")]
    python: Option<PathBuf>,
    /// Skip the PyTorch side.
    #[arg(long)]
    no_python: bool,
    /// Skip the memory-vs-depth measurement.
    #[arg(long)]
    no_memory: bool,
}

const ENVS: [&str; 2] = ["CartPole-v1", "Pendulum-v1"];
const TRAINERS: [TrainerKind; 2] = [TrainerKind::Bp, TrainerKind::Pdm];

/// PPO's shape of one environment: observation size, actor head outputs, hidden sizes,
/// minibatch rows and update epochs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PpoShape {
    /// Observation size `d_0`.
    pub obs_dim: usize,
    /// Actor head outputs (logits, or Gaussian means).
    pub actor_out: usize,
    /// Hidden layer sizes (actor and critic alike).
    pub hidden: Vec<usize>,
    /// Minibatch rows `B`.
    pub minibatch: usize,
    /// Update epochs over each rollout.
    pub epochs: usize,
}

/// Multiply-adds of one row through dense layers `sizes[0] -> sizes[1] -> ...`.
fn macs(sizes: &[usize]) -> usize {
    sizes.windows(2).map(|w| w[0] * w[1]).sum()
}

/// FLOPs (2 per multiply-add) of the matrix products per environment step of PPO with
/// separate actor and critic MLPs, counted from the shapes; elementwise work (activations,
/// losses, Adam) is not counted.
///
/// Per env step: one forward of actor and critic in the rollout (`F`, the multiply-adds of
/// a row through every layer), then per epoch, for every row of the rollout:
/// * `bp`: forward `F`, weight gradients `F`, input gradients of every layer but the first
///   (`F - d_0 d_1`);
/// * `pdm`: forward `F`, the heads' weight gradients, and per hidden layer `l` its weight
///   gradient `d_{l-1} d_l` plus the local loss's `[B, B]` products per row: the Gram
///   matrices of the layer's input and output (`B d_{l-1} + B d_l`) and the Laplacian
///   product `B d_l`.
///
/// # Panics
/// A trainer other than `bp` or `pdm`.
pub fn flops_per_step(shape: &PpoShape, trainer: TrainerKind) -> f64 {
    let net = |out: usize| -> Vec<usize> {
        let mut v = vec![shape.obs_dim];
        v.extend(&shape.hidden);
        v.push(out);
        v
    };
    let per_row = |sizes: &[usize]| -> usize {
        let f = macs(sizes);
        match trainer {
            TrainerKind::Bp => 3 * f - sizes[0] * sizes[1],
            TrainerKind::Pdm => {
                let l = sizes.len() - 1;
                let heads = sizes[l - 1] * sizes[l];
                let local: usize = sizes[..l]
                    .windows(2)
                    .map(|w| w[0] * w[1] + shape.minibatch * (w[0] + 2 * w[1]))
                    .sum();
                f + heads + local
            }
            other => panic!("no FLOP count for trainer `{other}`"),
        }
    };
    let (actor, critic) = (net(shape.actor_out), net(1));
    let rollout = macs(&actor) + macs(&critic);
    let update = shape.epochs * (per_row(&actor) + per_row(&critic));
    2.0 * (rollout + update) as f64
}

/// One sgemm measurement: `[m, k] x [k, n]`.
#[derive(Debug, Clone, Serialize)]
struct Gemm {
    what: &'static str,
    m: usize,
    k: usize,
    n: usize,
    gflops: f64,
}

/// Single-thread GFLOP/s of `C = A B` for `[m, k] x [k, n]` f32, over about 0.3 s.
fn sgemm_gflops(m: usize, k: usize, n: usize) -> f64 {
    let a = Array2::<f32>::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1);
    let b = Array2::<f32>::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.1);
    let mut c = Array2::<f32>::zeros((m, n));
    let flops = 2.0 * (m * k * n) as f64;
    let mut reps = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..reps {
            general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        }
        let secs = t.elapsed().as_secs_f64();
        if secs > 0.3 {
            std::hint::black_box(&c);
            return flops * reps as f64 / secs / 1e9;
        }
        reps *= 2;
    }
}

/// Median of a non-empty slice.
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// The run config of one bench run: PPO with CleanRL's hyperparameters for the env's
/// action space, `steps` env steps, no evaluation.
fn bench_config(
    registry: &Registry,
    env_id: &str,
    trainer: TrainerKind,
    steps: usize,
    seed: u64,
) -> Result<CheckedRun> {
    let mut overrides: toml::Table = toml::toml! {
        total_timesteps = 0
        eval_every = 0
    };
    overrides.insert("total_timesteps".into(), (steps as i64).into());
    if pdmrl_runner::resolve::is_continuous(registry, env_id)? {
        // CleanRL ppo_continuous_action.py (our Pendulum-v1 default is rl-zoo's).
        let cleanrl: toml::Table = toml::toml! {
            num_envs = 1
            num_steps = 2048
            learning_rate = 3e-4
            anneal_lr = true
            gamma = 0.99
            gae_lambda = 0.95
            num_minibatches = 32
            update_epochs = 10
            ent_coef = 0.0
        };
        overrides.extend(cleanrl);
    }
    let agent = resolve_agent(registry, env_id, Algo::Ppo, &overrides)?;
    let trainer = resolve_trainer(trainer, &toml::Table::new())?;
    let config = RunConfig::new(env_id.to_string(), seed, trainer, agent);
    Ok(config.check(registry)?)
}

/// Wall-clock seconds of one training run and of its updates, and the shapes it ran.
struct Timed {
    seconds: f64,
    update_seconds: f64,
    iterations: usize,
    steps: usize,
    obs_dim: usize,
    actor_out: usize,
}

fn train_once(registry: &Registry, config: &CheckedRun) -> Result<Timed> {
    let mut agent = build_agent(config, registry)?;
    let start = Instant::now();
    agent.train(&mut |_| {})?;
    let seconds = start.elapsed().as_secs_f64();
    let phases = agent.phase_times();
    Ok(Timed {
        seconds,
        update_seconds: phases.update_seconds,
        iterations: phases.iterations,
        steps: agent.global_step(),
        obs_dim: agent.envs().obs_dim(),
        actor_out: agent.policy().head_outputs(),
    })
}

/// The median of `repeats` pdmrl runs of one env and trainer.
#[derive(Debug, Clone, Serialize)]
struct PdmrlRow {
    env: String,
    trainer: String,
    steps: usize,
    seconds: f64,
    steps_per_second: f64,
    update_ms: f64,
    flops_per_step: f64,
    achieved_gflops: f64,
    all_seconds: Vec<f64>,
}

/// One PyTorch run, as `ppo_torch.py` prints it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct TorchRow {
    env: String,
    threads: usize,
    steps: usize,
    seconds: f64,
    steps_per_second: f64,
    update_seconds: f64,
    iterations: usize,
    torch: String,
    gymnasium: String,
}

#[derive(Debug, Clone, Serialize)]
struct Concurrency {
    one_seconds: f64,
    two_seconds: f64,
    ratio: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    cpu: String,
    cores: usize,
    steps: usize,
    repeats: usize,
    gemm: Vec<Gemm>,
    ceiling_gflops: f64,
    pdmrl: Vec<PdmrlRow>,
    pdm_over_bp_update: Vec<(String, f64)>,
    concurrency: Concurrency,
    torch: Vec<TorchRow>,
    torch_note: String,
    memory: Vec<(usize, usize, usize)>,
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The Python to use, or why there is none. An interpreter named explicitly must work.
fn find_python(args: &Args) -> Result<std::result::Result<PathBuf, String>> {
    if args.no_python {
        return Ok(Err("skipped (--no-python)".into()));
    }
    let (python, explicit, from) = match (&args.python, std::env::var_os("PDMRL_BENCH_PYTHON")) {
        (Some(p), _) => (p.clone(), true, "--python"),
        (None, Some(p)) => (PathBuf::from(p), true, "PDMRL_BENCH_PYTHON"),
        (None, None) => (PathBuf::from("python3"), false, ""),
    };
    let probe = Command::new(&python)
        .args(["-c", "import torch, gymnasium"])
        .output();
    match probe {
        Ok(o) if o.status.success() => Ok(Ok(python)),
        Ok(o) if explicit => bail!(
            "`{}` ({from}) cannot import torch and gymnasium ({}); install them into it \
             (`pip install torch gymnasium==0.29.1`) or pass --no-python",
            python.display(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("no error message")
                .trim()
        ),
        Err(e) if explicit => bail!("cannot run `{}` ({from}): {e}", python.display()),
        _ => Ok(Err(format!(
            "no Python with torch and gymnasium (`{}`); set PDMRL_BENCH_PYTHON (see README)",
            python.display()
        ))),
    }
}

fn torch_run(
    root: &Path,
    python: &Path,
    env: &str,
    steps: usize,
    threads: usize,
) -> Result<TorchRow> {
    let script = root.join("xtask/python/ppo_torch.py");
    let out = Command::new(python)
        .arg(&script)
        .args(["--env", env, "--total-timesteps", &steps.to_string()])
        .args(["--threads", &threads.to_string()])
        // One thread means one: no OpenMP/MKL pool beside torch's own setting.
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("MKL_NUM_THREADS", threads.to_string())
        .output()
        .with_context(|| format!("running `{}`", script.display()))?;
    if !out.status.success() {
        bail!(
            "`{}` failed on {env}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .with_context(|| format!("parsing the output of `{}`: {line}", script.display()))
}

/// The PyTorch runs of every env at 1 and 2 threads, the median of `--torch-repeats` each.
fn torch_side(root: &Path, py: &Path, args: &Args) -> Result<Vec<TorchRow>> {
    let mut torch = Vec::new();
    for env in ENVS {
        for threads in [1, 2] {
            let mut rows = Vec::new();
            for _ in 0..args.torch_repeats.max(1) {
                let row = torch_run(root, py, env, args.steps, threads)?;
                eprintln!(
                    "  {env} {threads} thread(s): {:.1} s, {:.0} steps/s",
                    row.seconds, row.steps_per_second
                );
                rows.push(row);
            }
            rows.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
            torch.push(rows[rows.len() / 2].clone());
        }
    }
    Ok(torch)
}

/// Runs every measurement, writes `results/bench/bench.{md,json}`, prints the table.
///
/// # Errors
/// A run that fails, an explicitly named Python that cannot run the PyTorch side, or a
/// file that cannot be written.
pub fn run(root: &Path, args: &Args) -> Result<()> {
    if args.repeats == 0 || args.steps == 0 {
        bail!("--steps and --repeats must be at least 1");
    }
    let python = find_python(args)?;
    let registry = Registry::with_builtins();
    // Every config is built and checked before anything is measured.
    let mut configs = Vec::new();
    for env in ENVS {
        for trainer in TRAINERS {
            let config = bench_config(&registry, env, trainer, args.steps, 1)
                .with_context(|| format!("--steps {} on {env}", args.steps))?;
            configs.push((env, trainer, config));
        }
    }

    eprintln!("[1/5] sgemm ceiling (single thread)");
    let gemm: Vec<Gemm> = [
        ("rollout forward, hidden layer", 4, 64, 64),
        ("minibatch forward, hidden layer", 128, 64, 64),
        ("weight gradient X^T dZ", 64, 128, 64),
        ("pdm Gram matrix X X^T", 128, 64, 128),
        ("large (reference)", 512, 512, 512),
    ]
    .into_iter()
    .map(|(what, m, k, n)| Gemm {
        what,
        m,
        k,
        n,
        gflops: sgemm_gflops(m, k, n),
    })
    .collect();
    // The update's dominant product decides what the hardware allows at PPO's shapes.
    let ceiling = gemm[1].gflops;

    eprintln!(
        "[2/5] pdmrl PPO, {} steps, {} repeats",
        args.steps, args.repeats
    );
    let mut pdmrl: Vec<PdmrlRow> = Vec::new();
    for (env, trainer, config) in &configs {
        let mut secs = Vec::new();
        let mut upd = Vec::new();
        let mut last = None;
        for r in 0..args.repeats {
            let t = train_once(&registry, config)?;
            eprintln!(
                "  {env} {trainer} run {}/{}: {:.2} s, {:.0} steps/s",
                r + 1,
                args.repeats,
                t.seconds,
                t.steps as f64 / t.seconds
            );
            secs.push(t.seconds);
            upd.push(t.update_seconds / t.iterations.max(1) as f64);
            last = Some(t);
        }
        let t = last.expect("at least one repeat");
        let shape = PpoShape {
            obs_dim: t.obs_dim,
            actor_out: t.actor_out,
            hidden: config.agent.hidden_sizes.clone(),
            minibatch: config.agent.minibatch_size(),
            epochs: config.agent.update_epochs,
        };
        let seconds = median(&secs);
        let flops = flops_per_step(&shape, *trainer);
        let sps = t.steps as f64 / seconds;
        pdmrl.push(PdmrlRow {
            env: env.to_string(),
            trainer: trainer.name().into(),
            steps: t.steps,
            seconds,
            steps_per_second: sps,
            update_ms: median(&upd) * 1e3,
            flops_per_step: flops,
            achieved_gflops: flops * sps / 1e9,
            all_seconds: secs,
        });
    }
    let update_ms = |env: &str, trainer: TrainerKind| {
        pdmrl
            .iter()
            .find(|p| p.env == env && p.trainer == trainer.name())
            .map_or(f64::NAN, |p| p.update_ms)
    };
    let pdm_over_bp_update = ENVS
        .iter()
        .map(|env| {
            (
                env.to_string(),
                update_ms(env, TrainerKind::Pdm) / update_ms(env, TrainerKind::Bp),
            )
        })
        .collect();

    eprintln!("[3/5] two concurrent CartPole-v1 bp runs vs one");
    let c1 = configs
        .iter()
        .find(|(env, trainer, _)| *env == "CartPole-v1" && *trainer == TrainerKind::Bp)
        .map(|(_, _, c)| c.clone())
        .expect("CartPole-v1 bp is measured");
    let c2 = RunConfig {
        seed: 2,
        ..c1.config().clone()
    }
    .check(&registry)?;
    let one = train_once(&registry, &c1)?.seconds;
    let start = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let h1 = s.spawn(|| train_once(&registry, &c1));
        let h2 = s.spawn(|| train_once(&registry, &c2));
        for h in [h1, h2] {
            h.join()
                .map_err(|_| anyhow::anyhow!("a bench thread panicked"))??;
        }
        Ok(())
    })?;
    let two = start.elapsed().as_secs_f64();
    let concurrency = Concurrency {
        one_seconds: one,
        two_seconds: two,
        ratio: two / one,
    };

    let mut torch = Vec::new();
    let torch_note = match &python {
        Ok(py) => {
            eprintln!("[4/5] PyTorch PPO ({})", py.display());
            // A failing PyTorch run is reported in the table, never a reason to lose the
            // pdmrl measurements taken so far.
            match torch_side(root, py, args) {
                Ok(rows) => {
                    torch = rows;
                    format!("torch {}, gymnasium {}", torch[0].torch, torch[0].gymnasium)
                }
                Err(e) => {
                    eprintln!("  PyTorch side failed: {e:#}");
                    format!("failed ({e:#})")
                }
            }
        }
        Err(why) => {
            eprintln!("[4/5] PyTorch side: {why}");
            why.clone()
        }
    };

    let memory = if args.no_memory {
        eprintln!("[5/5] memory: skipped (--no-memory)");
        Vec::new()
    } else {
        eprintln!("[5/5] peak memory of one update against depth");
        memory::run(root)?
    };

    let report = Report {
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        steps: args.steps,
        repeats: args.repeats,
        gemm,
        ceiling_gflops: ceiling,
        pdmrl,
        pdm_over_bp_update,
        concurrency,
        torch,
        torch_note,
        memory,
    };
    let md = markdown(&report);
    let dir = root.join("results/bench");
    write_atomic(&dir.join("bench.md"), md.as_bytes())?;
    write_atomic(
        &dir.join("bench.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    println!("{md}");
    eprintln!("  written: {}", dir.join("bench.md").display());
    Ok(())
}

/// The report as Markdown: the side-by-side table first.
fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let torch_sps = |env: &str, threads: usize| {
        r.torch
            .iter()
            .find(|t| t.env == env && t.threads == threads)
            .map(|t| t.steps_per_second)
    };
    let _ = writeln!(
        s,
        "Machine: {} ({} cores). PPO with CleanRL's hyperparameters, {} env steps per run, \
         one thread, no evaluation; pdmrl: median of {} runs. PyTorch: {}.\n",
        r.cpu, r.cores, r.steps, r.repeats, r.torch_note
    );
    s.push_str("| env | trainer | pdmrl steps/s | PyTorch steps/s (1 thread) | ratio | PyTorch steps/s (2 threads) | ratio | update ms | FLOPs/step | GFLOP/s | of ceiling |\n");
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for p in &r.pdmrl {
        let cell = |t: Option<f64>| match t {
            Some(t) => (format!("{t:.0}"), format!("{:.1}×", p.steps_per_second / t)),
            None => ("–".into(), "–".into()),
        };
        // PyTorch runs bp only: its column is the reference for both trainers.
        let (t1, r1) = cell(torch_sps(&p.env, 1));
        let (t2, r2) = cell(torch_sps(&p.env, 2));
        let _ = writeln!(
            s,
            "| {} | `{}` | {:.0} | {t1} | {r1} | {t2} | {r2} | {:.2} | {:.0}k | {:.2} | {:.0}% |",
            p.env,
            p.trainer,
            p.steps_per_second,
            p.update_ms,
            p.flops_per_step / 1e3,
            p.achieved_gflops,
            100.0 * p.achieved_gflops / r.ceiling_gflops
        );
    }
    s.push('\n');
    for (env, ratio) in &r.pdm_over_bp_update {
        let _ = writeln!(s, "- {env}: time per update, `pdm` / `bp` = {ratio:.2}×");
    }
    let c = &r.concurrency;
    let _ = writeln!(
        s,
        "- Two CartPole-v1 `bp` runs on two threads at once: {:.2} s against {:.2} s for one \
         alone ({:.2}×).",
        c.two_seconds, c.one_seconds, c.ratio
    );
    let _ = writeln!(
        s,
        "- Ceiling: single-thread sgemm at the minibatch shape [128, 64] x [64, 64]: {:.1} GFLOP/s.\n",
        r.ceiling_gflops
    );
    s.push_str("| sgemm | shape | GFLOP/s |\n|---|---|---:|\n");
    for g in &r.gemm {
        let _ = writeln!(
            s,
            "| {} | [{}, {}] x [{}, {}] | {:.1} |",
            g.what, g.m, g.k, g.k, g.n, g.gflops
        );
    }
    if let Some(&(depth, bp, pdm)) = r.memory.iter().find(|m| m.0 == 16) {
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        let _ = writeln!(
            s,
            "\nPeak memory of one update, depth {depth}, width 256, minibatch 256 (above parameters \
             and optimiser state): `bp` {:.1} MiB, `pdm` {:.1} MiB \
             (`results/memory/memory_vs_depth.csv`, every depth).",
            mib(bp),
            mib(pdm)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cartpole() -> PpoShape {
        PpoShape {
            obs_dim: 4,
            actor_out: 2,
            hidden: vec![64, 64],
            minibatch: 128,
            epochs: 4,
        }
    }

    #[test]
    fn flops_of_cartpole_bp_by_hand() {
        // Actor 4-64-64-2: 256 + 4096 + 128 = 4480 multiply-adds; critic 4-64-64-1: 4416.
        // Rollout 8896. Per row and epoch: actor 3 * 4480 - 256 = 13184, critic
        // 3 * 4416 - 256 = 12992; 4 epochs: 104704. Total 113600 MACs = 227200 FLOPs.
        assert_eq!(flops_per_step(&cartpole(), TrainerKind::Bp), 227_200.0);
    }

    #[test]
    fn flops_of_cartpole_pdm_by_hand() {
        // Per row and epoch, actor: forward 4480, head 128, layer 1: 256 + 128 * (4 + 128)
        // = 17152, layer 2: 4096 + 128 * (64 + 128) = 28672 -> 50432. Critic: 4416 + 64 +
        // 17152 + 28672 = 50304. 4 epochs: 402944; plus rollout 8896 = 411840 MACs.
        assert_eq!(flops_per_step(&cartpole(), TrainerKind::Pdm), 823_680.0);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
