//! `cargo xtask ci`: the checks of `.ci/run`, in its order, stopping at the first that
//! fails. `.ci/run` stays the CI entry point (a fresh machine needs no build of xtask to
//! run it); keep the two lists the same.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// One step: its heading in `.ci/run` (`== heading`), the program and its arguments.
struct Step {
    heading: &'static str,
    program: &'static str,
    args: &'static [&'static str],
}

/// `.ci/run`'s steps after printing the toolchain: format, lint, tests, Slurm.
const STEPS: &[Step] = &[
    Step {
        heading: "format",
        program: "cargo",
        args: &["fmt", "--all", "--", "--check"],
    },
    Step {
        heading: "lint",
        program: "cargo",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    },
    Step {
        heading: "tests (the README's test command)",
        program: "cargo",
        args: &["test", "--workspace", "--locked"],
    },
    Step {
        heading: "Slurm job array on a one-node cluster (the README's recipe)",
        program: "bash",
        args: &[".ci/slurm_test.sh"],
    },
];

/// Prints the toolchain, then runs every step in `root`; the first failing step ends the
/// run with an error naming it and its command.
pub fn run(root: &Path) -> Result<()> {
    eprintln!("== toolchain");
    for program in ["rustc", "cargo"] {
        status(root, program, &["--version"])?;
    }
    for (i, step) in STEPS.iter().enumerate() {
        eprintln!("== {}", step.heading);
        status(root, step.program, step.args).with_context(|| {
            format!(
                "ci step {} of {} ({}) failed; later steps were not run",
                i + 1,
                STEPS.len(),
                step.heading
            )
        })?;
    }
    eprintln!("== ci: all {} steps passed", STEPS.len());
    Ok(())
}

/// Runs `program args` in `root` with inherited output; an error unless it exits with 0.
fn status(root: &Path, program: &str, args: &[&str]) -> Result<()> {
    let command = format!("{program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start `{command}`"))?;
    if !status.success() {
        bail!("`{command}` {status}");
    }
    Ok(())
}
