//! `cargo xtask bench`: how many experiments a day pdmrl runs on this CPU, side by side with
//! jit-compiled JAX and with PyTorch, and how close it comes to the machine's own limit.
//!
//! One invocation measures, in this order:
//! 1. single-thread sgemm GFLOP/s at the shapes PPO uses: pdmrl's kernel
//!    ([`pdmrl_tensor::gemm`]) and matrixmultiply (ndarray's `dot`);
//! 2. pdmrl PPO with `bp` and `pdm` on CartPole-v1 and Pendulum-v1 (`--steps` env steps)
//!    and MinAtar/Breakout-v1 (`--minatar-steps`), CleanRL's hyperparameters (`ppo.py`,
//!    `ppo_continuous_action.py`; MinAtar: `ppo.py` with the [256, 256] network), one
//!    thread, no evaluation, `--repeats` times each (median): env steps/s, the time per
//!    update (advantages and the epochs of minibatch steps), and achieved GFLOP/s from the
//!    FLOPs per env step counted from the shapes ([`flops_per_step`]);
//! 3. two CartPole `bp` runs on two threads at once against one alone;
//! 4. the JAX comparison on CartPole-v1 at `--jax-steps` per seed: pdmrl PPO-bp (one seed,
//!    and two runs on two threads) against `xtask/python/ppo_jax.py` (PureJaxRL's design:
//!    the whole training loop one XLA program, gymnax's CartPole-v1) with 1 seed and with
//!    8 seeds under `vmap`, one thread, compile time apart; steps per second of wall clock
//!    and per CPU-second of the process (so that a busy machine skews it less), and the
//!    final return of each (a fast PPO that does not learn is no anchor);
//! 5. `xtask/python/ppo_torch.py` (CleanRL's PyTorch PPO) on the envs of 2 at 1 and 2
//!    threads;
//! 6. the peak memory of one update against depth (`cargo xtask memory`), which also
//!    redraws `results/figures/memory_vs_depth.png`.
//!
//! The Python sides run when a Python has their packages (`--python`, `PDMRL_BENCH_PYTHON`,
//! else `python3`): `jax`, `flax`, `optax`, `gymnax` for 4, `torch`, `gymnasium` for 5 (one
//! venv for both: `xtask/python/requirements-jax.txt`); without them the table has no such
//! columns. Writes `results/bench/bench.md` and `results/bench/bench.json` and prints the
//! tables. Timings are on whatever else the machine is doing: run it on an idle machine.

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
    /// Environment steps of the MinAtar/Breakout-v1 runs.
    #[arg(long, default_value_t = 20_000)]
    minatar_steps: usize,
    /// Environment steps per seed of the JAX comparison (both sides).
    #[arg(long, default_value_t = 500_000)]
    jax_steps: usize,
    /// Repeats of every JAX run (compiled once per run); the table shows the median.
    #[arg(long, default_value_t = 1)]
    jax_repeats: usize,
}

const ENVS: [&str; 3] = ["CartPole-v1", "Pendulum-v1", "MinAtar/Breakout-v1"];
/// The envs the PyTorch side runs (it has no MinAtar).
const TORCH_ENVS: [&str; 2] = ["CartPole-v1", "Pendulum-v1"];
/// Seeds of the vmapped JAX run.
const JAX_SEEDS: usize = 8;
/// `final_return`: the mean return of the episodes that ended in this many last
/// iterations (as `ppo_jax.py` counts it).
const LAST_ITERATIONS: usize = 10;
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

/// One sgemm measurement: `[m, k] x [k, n]`, pdmrl's kernel and matrixmultiply.
#[derive(Debug, Clone, Serialize)]
struct Gemm {
    what: &'static str,
    m: usize,
    k: usize,
    n: usize,
    gflops: f64,
    matrixmultiply_gflops: f64,
}

/// Single-thread GFLOP/s of `C = A B` for `[m, k] x [k, n]` f32, over about 0.3 s, with
/// pdmrl's kernel or (`matrixmultiply`) ndarray's.
fn sgemm_gflops(m: usize, k: usize, n: usize, matrixmultiply: bool) -> f64 {
    let a = Array2::<f32>::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1);
    let b = Array2::<f32>::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.1);
    let mut c = Array2::<f32>::zeros((m, n));
    let flops = 2.0 * (m * k * n) as f64;
    let mut reps = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..reps {
            if matrixmultiply {
                general_mat_mul(1.0, &a, &b, 0.0, &mut c);
            } else {
                pdmrl_tensor::mat_mul_into(a.view(), b.view(), c.view_mut());
            }
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

/// Wall-clock seconds of one training run and of its updates, the shapes it ran and its
/// final return.
struct Timed {
    seconds: f64,
    update_seconds: f64,
    iterations: usize,
    steps: usize,
    obs_dim: usize,
    actor_out: usize,
    /// Mean return of the episodes that ended in the last [`LAST_ITERATIONS`] iterations.
    final_return: f64,
}

/// CPU seconds used by this process so far, all threads.
fn process_cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write; the clock id is a constant of libc.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn train_once(registry: &Registry, config: &CheckedRun) -> Result<Timed> {
    let mut agent = build_agent(config, registry)?;
    let mut episodes = Vec::new();
    let start = Instant::now();
    agent.train(&mut |event| {
        if let pdmrl_agents::Event::Episode(e) = event {
            episodes.push((e.global_step, e.episodic_return));
        }
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let phases = agent.phase_times();
    let steps = agent.global_step();
    let from = steps.saturating_sub(LAST_ITERATIONS * config.agent.batch_size());
    let last: Vec<f64> = episodes
        .iter()
        .filter(|(step, _)| *step > from)
        .map(|(_, r)| *r)
        .collect();
    Ok(Timed {
        seconds,
        update_seconds: phases.update_seconds,
        iterations: phases.iterations,
        steps,
        obs_dim: agent.envs().obs_dim(),
        actor_out: agent.policy().head_outputs(),
        final_return: last.iter().sum::<f64>() / last.len() as f64,
    })
}

/// Runs `configs` at once, one thread each: wall seconds, process CPU seconds, and each
/// run's timing.
fn train_concurrently(
    registry: &Registry,
    configs: &[CheckedRun],
) -> Result<(f64, f64, Vec<Timed>)> {
    let (cpu0, start) = (process_cpu_seconds(), Instant::now());
    let timed = std::thread::scope(|s| -> Result<Vec<Timed>> {
        let handles: Vec<_> = configs
            .iter()
            .map(|c| s.spawn(move || train_once(registry, c)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a bench thread panicked"))?
            })
            .collect()
    })?;
    Ok((
        start.elapsed().as_secs_f64(),
        process_cpu_seconds() - cpu0,
        timed,
    ))
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
    /// Process CPU seconds (absent from outputs of older versions of the script).
    #[serde(default)]
    cpu_seconds: Option<f64>,
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

/// One row of the JAX comparison: a system's throughput and final return on CartPole-v1.
#[derive(Debug, Clone, Serialize)]
struct SpeedRow {
    system: String,
    /// Seeds trained at once (runs, for pdmrl and PyTorch).
    seeds: usize,
    steps_per_seed: usize,
    /// Env steps of all seeds per second of wall clock.
    steps_per_second: f64,
    /// Env steps of all seeds per CPU-second of the process.
    steps_per_cpu_second: f64,
    /// Seconds of jit compilation before the run (JAX only).
    compile_seconds: Option<f64>,
    /// Mean return of the episodes of the last iterations (NaN: not measured).
    final_return: f64,
}

/// The JAX comparison (step 4).
#[derive(Debug, Clone, Serialize)]
struct JaxComparison {
    steps: usize,
    rows: Vec<SpeedRow>,
    /// Versions of the JAX side, or why it did not run.
    note: String,
}

#[derive(Debug, Serialize)]
struct Report {
    cpu: String,
    cores: usize,
    /// `pdmrl_tensor::simd` path the kernels ran on.
    vector_path: String,
    steps: usize,
    minatar_steps: usize,
    repeats: usize,
    gemm: Vec<Gemm>,
    ceiling_gflops: f64,
    pdmrl: Vec<PdmrlRow>,
    pdm_over_bp_update: Vec<(String, f64)>,
    concurrency: Concurrency,
    jax: JaxComparison,
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

/// The Python of the bench's other sides and which of them it can run (else why not).
struct Python {
    path: PathBuf,
    torch: std::result::Result<(), String>,
    jax: std::result::Result<(), String>,
}

/// The last line of what `python -c "import ..."` says, or `Ok` if the imports work.
fn probe(python: &Path, imports: &str) -> std::io::Result<std::result::Result<(), String>> {
    let out = Command::new(python)
        .args(["-c", &format!("import {imports}")])
        .output()?;
    Ok(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("no error message")
            .trim()
            .to_string())
    })
}

/// The Python to use for the PyTorch and JAX sides, and which it runs. An interpreter
/// named explicitly must run and have the packages of at least one side.
fn find_python(args: &Args) -> Result<Python> {
    let skipped = |why: &str| Python {
        path: PathBuf::from("python3"),
        torch: Err(why.to_string()),
        jax: Err(why.to_string()),
    };
    if args.no_python {
        return Ok(skipped("skipped (--no-python)"));
    }
    let (path, explicit, from) = match (&args.python, std::env::var_os("PDMRL_BENCH_PYTHON")) {
        (Some(p), _) => (p.clone(), true, "--python"),
        (None, Some(p)) => (PathBuf::from(p), true, "PDMRL_BENCH_PYTHON"),
        (None, None) => (PathBuf::from("python3"), false, ""),
    };
    let setup = "see README, Speed: one venv from xtask/python/requirements-jax.txt";
    let probes = probe(&path, "torch, gymnasium")
        .and_then(|torch| probe(&path, "jax, flax, optax, gymnax").map(|jax| (torch, jax)));
    match probes {
        Ok((torch, jax)) => {
            if let (true, Err(t), Err(j)) = (explicit, &torch, &jax) {
                bail!(
                    "`{}` ({from}) has neither the PyTorch side's packages ({t}) nor the JAX \
                     side's ({j}); install them ({setup}) or pass --no-python",
                    path.display()
                );
            }
            let why = |r: std::result::Result<(), String>, what: &str| {
                r.map_err(|e| format!("no {what} in `{}` ({e}; {setup})", path.display()))
            };
            Ok(Python {
                torch: why(torch, "torch and gymnasium"),
                jax: why(jax, "jax, flax, optax and gymnax"),
                path,
            })
        }
        Err(e) if explicit => bail!("cannot run `{}` ({from}): {e}", path.display()),
        Err(_) => Ok(skipped(&format!(
            "no Python (`{}`); set PDMRL_BENCH_PYTHON ({setup})",
            path.display()
        ))),
    }
}

/// One run of `ppo_jax.py`, as it prints it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct JaxRun {
    env: String,
    seeds: usize,
    steps_per_seed: usize,
    compile_seconds: f64,
    seconds: f64,
    cpu_seconds: f64,
    steps_per_second: f64,
    steps_per_cpu_second: f64,
    final_return: f64,
    final_returns: Vec<f64>,
    jax: String,
    gymnax: String,
    flax: String,
    optax: String,
}

/// Runs a Python script of the bench and parses the JSON object of its last line.
fn python_json<T: serde::de::DeserializeOwned>(
    python: &Path,
    script: &Path,
    args: &[String],
    threads: usize,
) -> Result<T> {
    let out = Command::new(python)
        .arg(script)
        .args(args)
        // One thread means one: no OpenMP/MKL pool beside the framework's own setting.
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("MKL_NUM_THREADS", threads.to_string())
        .output()
        .with_context(|| format!("running `{}`", script.display()))?;
    if !out.status.success() {
        bail!(
            "`{} {}` failed: {}",
            script.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .with_context(|| format!("parsing the output of `{}`: {line}", script.display()))
}

/// `ppo_jax.py` with `seeds` seeds, the median (by CPU time) of `--jax-repeats` runs.
fn jax_runs(root: &Path, python: &Path, seeds: usize, args: &Args) -> Result<JaxRun> {
    let script = root.join("xtask/python/ppo_jax.py");
    let mut runs = Vec::new();
    for _ in 0..args.jax_repeats.max(1) {
        let run: JaxRun = python_json(
            python,
            &script,
            &[
                "--total-timesteps".into(),
                args.jax_steps.to_string(),
                "--seeds".into(),
                seeds.to_string(),
            ],
            1,
        )?;
        eprintln!(
            "  JAX {seeds} seed(s): compile {:.1} s, run {:.1} s ({:.1} CPU-s), {:.0} steps per \
             CPU-second, final return {:.1}",
            run.compile_seconds,
            run.seconds,
            run.cpu_seconds,
            run.steps_per_cpu_second,
            run.final_return
        );
        runs.push(run);
    }
    runs.sort_by(|a, b| a.cpu_seconds.total_cmp(&b.cpu_seconds));
    Ok(runs.swap_remove(runs.len() / 2))
}

fn torch_run(
    root: &Path,
    python: &Path,
    env: &str,
    steps: usize,
    threads: usize,
) -> Result<TorchRow> {
    let args = [
        "--env".to_string(),
        env.to_string(),
        "--total-timesteps".into(),
        steps.to_string(),
        "--threads".into(),
        threads.to_string(),
    ];
    python_json(
        python,
        &root.join("xtask/python/ppo_torch.py"),
        &args,
        threads,
    )
}

/// The PyTorch runs of every env at 1 and 2 threads, the median of `--torch-repeats` each.
fn torch_side(root: &Path, py: &Path, args: &Args) -> Result<Vec<TorchRow>> {
    let mut torch = Vec::new();
    for env in TORCH_ENVS {
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

/// Runs every measurement, writes `results/bench/bench.{md,json}`, prints the tables.
///
/// # Errors
/// A run that fails, an explicitly named Python that cannot run either Python side, or a
/// file that cannot be written.
pub fn run(root: &Path, args: &Args) -> Result<()> {
    if args.repeats == 0 || args.steps == 0 || args.minatar_steps == 0 || args.jax_steps == 0 {
        bail!("--steps, --minatar-steps, --jax-steps and --repeats must be at least 1");
    }
    let python = find_python(args)?;
    let registry = Registry::with_builtins();
    // Every config is built and checked before anything is measured.
    let mut configs = Vec::new();
    for env in ENVS {
        let steps = if env.starts_with("MinAtar/") {
            args.minatar_steps
        } else {
            args.steps
        };
        for trainer in TRAINERS {
            let config = bench_config(&registry, env, trainer, steps, 1)
                .with_context(|| format!("{steps} steps on {env}"))?;
            configs.push((env, trainer, config));
        }
    }
    let jax_config = |seed| {
        bench_config(
            &registry,
            "CartPole-v1",
            TrainerKind::Bp,
            args.jax_steps,
            seed,
        )
        .with_context(|| format!("--jax-steps {}", args.jax_steps))
    };
    let (jax_one, jax_two) = (jax_config(1)?, jax_config(2)?);

    eprintln!(
        "[1/6] sgemm, single thread ({} path)",
        pdmrl_tensor::simd::active()
    );
    let gemm: Vec<Gemm> = [
        ("rollout forward, hidden layer", 4, 64, 64),
        ("minibatch forward, hidden layer", 128, 64, 64),
        ("weight gradient X^T dZ", 64, 128, 64),
        ("pdm Gram matrix X X^T", 128, 64, 128),
        ("MinAtar minibatch forward, first layer", 128, 400, 256),
        ("large (reference)", 512, 512, 512),
    ]
    .into_iter()
    .map(|(what, m, k, n)| Gemm {
        what,
        m,
        k,
        n,
        gflops: sgemm_gflops(m, k, n, false),
        matrixmultiply_gflops: sgemm_gflops(m, k, n, true),
    })
    .collect();
    // The update's dominant product decides what the hardware allows at PPO's shapes.
    let ceiling = gemm[1].gflops;

    eprintln!(
        "[2/6] pdmrl PPO, {} steps ({} on MinAtar), {} repeats",
        args.steps, args.minatar_steps, args.repeats
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

    eprintln!("[3/6] two concurrent CartPole-v1 bp runs vs one");
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
    let (two, _, _) = train_concurrently(&registry, &[c1, c2])?;
    let concurrency = Concurrency {
        one_seconds: one,
        two_seconds: two,
        ratio: two / one,
    };

    eprintln!(
        "[4/6] JAX comparison: CartPole-v1 PPO, {} steps per seed, one thread per process",
        args.jax_steps
    );
    let jax = jax_comparison(root, &registry, &python, args, &jax_one, &jax_two)?;

    let mut torch = Vec::new();
    let torch_note = match &python.torch {
        Ok(()) => {
            eprintln!("[5/6] PyTorch PPO ({})", python.path.display());
            // A failing PyTorch run is reported in the table, never a reason to lose the
            // pdmrl measurements taken so far.
            match torch_side(root, &python.path, args) {
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
            eprintln!("[5/6] PyTorch side: {why}");
            why.clone()
        }
    };

    let memory = if args.no_memory {
        eprintln!("[6/6] memory: skipped (--no-memory)");
        Vec::new()
    } else {
        eprintln!("[6/6] peak memory of one update against depth");
        memory::run(root)?
    };

    let report = Report {
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        vector_path: pdmrl_tensor::simd::active().name().into(),
        steps: args.steps,
        minatar_steps: args.minatar_steps,
        repeats: args.repeats,
        gemm,
        ceiling_gflops: ceiling,
        pdmrl,
        pdm_over_bp_update,
        concurrency,
        jax,
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

/// Step 4: pdmrl PPO-bp on CartPole-v1 (one seed, `--repeats` times, median by CPU time;
/// two seeds on two threads at once) and, with the JAX side, `ppo_jax.py` with one seed and
/// with [`JAX_SEEDS`] vmapped. A failing JAX run is noted, never a reason to lose the rest.
fn jax_comparison(
    root: &Path,
    registry: &Registry,
    python: &Python,
    args: &Args,
    one: &CheckedRun,
    two: &CheckedRun,
) -> Result<JaxComparison> {
    let mut rows = Vec::new();
    let mut singles = Vec::new();
    for r in 0..args.repeats {
        let (wall, cpu, mut timed) = train_concurrently(registry, std::slice::from_ref(one))?;
        let t = timed.remove(0);
        eprintln!(
            "  pdmrl 1 seed, run {}/{}: {wall:.2} s ({cpu:.2} CPU-s), final return {:.1}",
            r + 1,
            args.repeats,
            t.final_return
        );
        singles.push((cpu, wall, t));
    }
    singles.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (cpu, wall, t) = singles.swap_remove(singles.len() / 2);
    rows.push(SpeedRow {
        system: "pdmrl PPO-bp, 1 thread".into(),
        seeds: 1,
        steps_per_seed: t.steps,
        steps_per_second: t.steps as f64 / wall,
        steps_per_cpu_second: t.steps as f64 / cpu,
        compile_seconds: None,
        final_return: t.final_return,
    });
    let (wall, cpu, timed) = train_concurrently(registry, &[one.clone(), two.clone()])?;
    let steps: usize = timed.iter().map(|t| t.steps).sum();
    let final_return = timed.iter().map(|t| t.final_return).sum::<f64>() / timed.len() as f64;
    eprintln!("  pdmrl 2 seeds on 2 threads: {wall:.2} s ({cpu:.2} CPU-s)");
    rows.push(SpeedRow {
        system: "pdmrl PPO-bp, 2 runs on 2 threads".into(),
        seeds: 2,
        steps_per_seed: steps / 2,
        steps_per_second: steps as f64 / wall,
        steps_per_cpu_second: steps as f64 / cpu,
        compile_seconds: None,
        final_return,
    });
    let note = match &python.jax {
        Err(why) => {
            eprintln!("  JAX side: {why}");
            why.clone()
        }
        Ok(()) => {
            let runs = jax_runs(root, &python.path, 1, args)
                .and_then(|a| Ok((a, jax_runs(root, &python.path, JAX_SEEDS, args)?)));
            match runs {
                Ok((a, b)) => {
                    let note = format!(
                        "jax {}, flax {}, optax {}, gymnax {}",
                        a.jax, a.flax, a.optax, a.gymnax
                    );
                    for (run, what) in [(a, "1 seed"), (b, "8 seeds vmapped")] {
                        rows.push(SpeedRow {
                            system: format!("JAX PPO (PureJaxRL design), {what}, 1 thread"),
                            seeds: run.seeds,
                            steps_per_seed: run.steps_per_seed,
                            steps_per_second: run.steps_per_second,
                            steps_per_cpu_second: run.steps_per_cpu_second,
                            compile_seconds: Some(run.compile_seconds),
                            final_return: run.final_return,
                        });
                    }
                    note
                }
                Err(e) => {
                    eprintln!("  JAX side failed: {e:#}");
                    format!("failed ({e:#})")
                }
            }
        }
    };
    Ok(JaxComparison {
        steps: args.jax_steps,
        rows,
        note,
    })
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
        "Machine: {} ({} cores), pdmrl kernels on the `{}` vector path.\n",
        r.cpu, r.cores, r.vector_path
    );
    s.push_str(&jax_markdown(&r.jax, &r.torch));
    let _ = writeln!(
        s,
        "PPO with CleanRL's hyperparameters, {} env steps per run ({} on MinAtar), one \
         thread, no evaluation; pdmrl: median of {} runs. PyTorch: {}.\n",
        r.steps, r.minatar_steps, r.repeats, r.torch_note
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
        "- Ceiling: single-thread sgemm (pdmrl's kernel) at the minibatch shape [128, 64] x \
         [64, 64]: {:.1} GFLOP/s.\n",
        r.ceiling_gflops
    );
    s.push_str("| sgemm | shape | pdmrl GFLOP/s | matrixmultiply GFLOP/s |\n|---|---|---:|---:|\n");
    for g in &r.gemm {
        let _ = writeln!(
            s,
            "| {} | [{}, {}] x [{}, {}] | {:.1} | {:.1} |",
            g.what, g.m, g.k, g.k, g.n, g.gflops, g.matrixmultiply_gflops
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

/// The JAX comparison as Markdown: the table, then the ratios the targets are about.
fn jax_markdown(j: &JaxComparison, torch: &[TorchRow]) -> String {
    let mut s = format!(
        "**CartPole-v1 PPO, {} env steps per seed, one thread per process** (JAX: {}). \
         Steps per CPU-second count the steps of all seeds per second of the process's CPU \
         time; final return: mean return of the episodes of the last {LAST_ITERATIONS} \
         iterations.\n\n",
        j.steps, j.note
    );
    s.push_str(
        "| system | seeds | steps per CPU-second | steps/s (wall) | compile s | final return |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|\n");
    let opt = |v: Option<f64>, digits: usize| v.map_or("–".into(), |v| format!("{v:.digits$}"));
    for row in &j.rows {
        let ret = (!row.final_return.is_nan()).then_some(row.final_return);
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.0} | {} | {} |",
            row.system,
            row.seeds,
            row.steps_per_cpu_second,
            row.steps_per_second,
            opt(row.compile_seconds, 1),
            opt(ret, 1)
        );
    }
    if let Some(t) = torch
        .iter()
        .find(|t| t.env == "CartPole-v1" && t.threads == 1)
    {
        let _ = writeln!(
            s,
            "| PyTorch PPO (CleanRL), 1 thread, {} steps | 1 | {} | {:.0} | – | – |",
            t.steps,
            opt(t.cpu_seconds.map(|c| t.steps as f64 / c), 0),
            t.steps_per_second
        );
    }
    let per_cpu = |prefix: &str| {
        j.rows
            .iter()
            .find(|r| r.system.starts_with(prefix))
            .map(|r| r.steps_per_cpu_second)
    };
    let ours = per_cpu("pdmrl PPO-bp, 1 thread");
    s.push('\n');
    for (what, theirs, target) in [
        (
            "JAX with 1 seed",
            per_cpu("JAX PPO (PureJaxRL design), 1 seed"),
            1.5,
        ),
        (
            "JAX with 8 seeds vmapped (per core)",
            per_cpu("JAX PPO (PureJaxRL design), 8 seeds"),
            1.0,
        ),
    ] {
        if let (Some(ours), Some(theirs)) = (ours, theirs) {
            let _ = writeln!(
                s,
                "- pdmrl (1 seed) against {what}, steps per CPU-second: {:.2}× (target {target}×)",
                ours / theirs
            );
        }
    }
    s.push('\n');
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
