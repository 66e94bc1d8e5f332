//! `xtask/slurm/reproduce.sbatch`, the job script of the README's Slurm recipe: the
//! README shows it verbatim, and, run as Slurm runs it (an array task: one shard; no array:
//! every run left), it drives the `pdmrl` binary as the README says. `.ci/slurm_test.sh`
//! runs it on a real Slurm cluster; this runs it with bash alone, as the environment of a
//! job would.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The lines between `<!-- NAME -->` and `<!-- /NAME -->` of the README, without the code
/// fence around them.
fn readme_block(name: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = format!("<!-- {name} -->\n");
    let end = format!("<!-- /{name} -->");
    let from = readme.find(&start).expect("start marker") + start.len();
    let to = from + readme[from..].find(&end).expect("end marker");
    let block = &readme[from..to];
    let body = block.split_once('\n').expect("a fence line").1;
    body.strip_suffix("```\n")
        .expect("a closing fence")
        .to_string()
}

#[test]
fn the_readme_shows_the_job_script_and_the_recipe_uses_it() {
    let script = std::fs::read_to_string(root().join("xtask/slurm/reproduce.sbatch")).unwrap();
    assert_eq!(readme_block("slurm-script"), script);
    let recipe = readme_block("slurm-recipe");
    assert!(recipe.starts_with("cargo build --release -p pdmrl-runner --locked\n"));
    assert!(recipe.contains("sbatch --parsable --array=1-8 --cpus-per-task=4 \\\n    xtask/slurm/reproduce.sbatch 8 results configs/minatar.toml"));
    assert!(recipe.contains("sbatch --dependency=afterany:$array --cpus-per-task=4 \\\n    xtask/slurm/reproduce.sbatch 8 results configs/minatar.toml"));
    assert!(root().join("configs/minatar.toml").is_file());
}

const EXPERIMENT: &str = r#"name = "sharded"
[env]
id = "CartPole-v1"
[algo]
name = "ppo"
[trainer]
kind = ["bp", "frozen"]
[run]
seeds = [1]
total_timesteps = 1024
eval_every = 0
"#;

fn job(results: &Path, config: &Path, array_task: Option<&str>) -> String {
    let mut cmd = Command::new("bash");
    cmd.current_dir(root())
        .arg("xtask/slurm/reproduce.sbatch")
        .arg("2")
        .arg(results)
        .arg(config)
        .env("PDMRL", env!("CARGO_BIN_EXE_pdmrl"))
        .env("SLURM_CPUS_PER_TASK", "1")
        .env_remove("SLURM_ARRAY_TASK_ID");
    if let Some(task) = array_task {
        cmd.env("SLURM_ARRAY_TASK_ID", task);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn an_array_task_runs_its_shard_and_the_last_step_the_rest() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("sharded.toml");
    std::fs::write(&config, EXPERIMENT).unwrap();
    let results = d.path().join("results");
    let task = job(&results, &config, Some("2"));
    assert!(task.contains("sharded: shard 2/2: 1 of 2 runs"), "{task}");
    assert!(task.contains("1 worker threads"), "{task}");
    assert!(
        task.contains("sharded: 1 runs done, 0 skipped (complete), 0 failed"),
        "{task}"
    );
    // Task 2 of 2 holds the second run of the plan: `frozen`.
    assert!(
        task.contains("sharded: completed ppo-CartPole-v1-frozen-seed1-"),
        "{task}"
    );
    assert!(results.join("sharded/summary.md").is_file());
    let last = job(&results, &config, None);
    assert!(!last.contains(": shard "), "{last}");
    assert!(
        last.contains("sharded: 1 runs done, 1 skipped (complete), 0 failed"),
        "{last}"
    );
    assert!(
        last.contains("sharded: completed ppo-CartPole-v1-bp-seed1-"),
        "{last}"
    );
    let md = std::fs::read_to_string(results.join("sharded/summary.md")).unwrap();
    assert!(md.contains("2 of 2 runs complete"), "{md}");
}
