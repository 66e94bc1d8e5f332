//! Every bad experiment file gets one error naming the file, the key, its line and what
//! is allowed, before any run starts.

use pdmrl_agents::pdmrl_envs::Registry;
use pdmrl_runner::experiment::Experiment;

/// A valid file; each case edits one line of it.
const BASE: &str = r#"name = "x"

[env]
id = "CartPole-v1"

[algo]
name = "ppo"
learning_rate = 2.5e-4

[network]
hidden_sizes = [64, 64]

[trainer]
kind = ["bp", "pdm"]

[trainer.pdm]
normalize = "mean"

[run]
seeds = [1, 2]
total_timesteps = 2048
"#;

fn edit(line: usize, text: &str) -> String {
    let mut lines: Vec<&str> = BASE.lines().collect();
    lines[line - 1] = text;
    lines.join("\n") + "\n"
}

/// The runs of a valid file.
fn plan_of(text: &str) -> Vec<pdmrl_runner::experiment::PlannedRun> {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("exp.toml");
    std::fs::write(&path, text).unwrap();
    Experiment::from_file(&path)
        .unwrap()
        .plan(&Registry::with_builtins())
        .unwrap()
}

fn error_of(text: &str) -> String {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("exp.toml");
    std::fs::write(&path, text).unwrap();
    Experiment::from_file(&path)
        .and_then(|e| e.plan(&Registry::with_builtins()))
        .map(|runs| format!("no error: {} runs", runs.len()))
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn the_base_file_is_valid() {
    let runs = plan_of(BASE);
    assert_eq!(runs.len(), 4);
}

#[test]
fn each_error_names_file_line_key_and_what_is_allowed() {
    let cases: Vec<(String, Option<usize>, &[&str])> = vec![
        // Syntax.
        (edit(8, "learning_rate = "), Some(8), &["not valid"]),
        // Unknown keys, at each level, with the allowed keys.
        (
            edit(1, "nmae = \"x\""),
            Some(1),
            &["unknown key `nmae` at the top level", "allowed: name, env"],
        ),
        (
            edit(8, "learnin_rate = 1e-3"),
            Some(8),
            &["unknown key `learnin_rate` in [algo]", "learning_rate"],
        ),
        (
            edit(11, "width = 64"),
            Some(11),
            &["unknown key `width` in [network]", "hidden_sizes"],
        ),
        (
            edit(17, "normalise = \"mean\""),
            Some(17),
            &[
                "`trainer.pdm.normalise`",
                "unknown field `normalise`",
                "normalize",
            ],
        ),
        (
            edit(21, "total_steps = 2048"),
            Some(21),
            &["unknown key `total_steps` in [run]", "total_timesteps"],
        ),
        // Types and ranges.
        (
            edit(8, "learning_rate = \"fast\""),
            Some(8),
            &["`algo.learning_rate` = \"fast\"", "expected f64"],
        ),
        (
            edit(8, "learning_rate = -1.0"),
            Some(8),
            &["`learning_rate` = -1", "must be finite and > 0"],
        ),
        (
            edit(11, "hidden_sizes = [64, 0]"),
            Some(11),
            &["hidden_sizes"],
        ),
        (
            edit(17, "normalize = \"median\""),
            Some(17),
            &["`trainer.pdm.normalize` = \"median\"", "mean"],
        ),
        (
            edit(17, "pairs = { sampled = { k = 512 } }"),
            Some(17),
            &["trainer.pdm.pairs.sampled.k", "below the minibatch size"],
        ),
        (
            edit(17, "guidance_weight = 2.0"),
            Some(17),
            &["trainer.pdm.guidance_weight", "leave it at 0"],
        ),
        // The local optimisation options: ranges, names, and what the optimiser reads.
        (
            edit(14, "kind = [\"bp\", \"pdm\"]\nlocal_momentum = 0.9"),
            Some(15),
            &["trainer.local_momentum", "local_optimizer = \"sgd\" only"],
        ),
        (
            edit(
                14,
                "kind = [\"bp\", \"pdm\"]\nlocal_optimizer = \"sgd\"\nlocal_adam_eps = 0.01",
            ),
            Some(16),
            &["trainer.local_adam_eps", "local_optimizer = \"adam\" only"],
        ),
        (
            edit(14, "kind = [\"bp\", \"pdm\"]\nfeature_ema = 1.5"),
            Some(15),
            &["trainer.feature_ema", "[0, 1)"],
        ),
        (
            edit(14, "kind = [\"bp\", \"pdm\"]\nlocal_steps = \"always\""),
            Some(15),
            &["trainer.local_steps", "minibatch"],
        ),
        (
            edit(14, "kind = [\"bp\", \"pdm\"]\nlocal_optimizer = \"lbfgs\""),
            Some(15),
            &["trainer.local_optimizer", "sgd"],
        ),
        (
            edit(17, "loss = \"stress\""),
            Some(17),
            &["trainer.pdm.loss", "sammon"],
        ),
        (
            edit(17, "loss = \"strain\"\npairs = { sampled = { k = 8 } }"),
            Some(17),
            &["`pdm.loss` = strain", "pairs = \"all\""],
        ),
        // A default that no longer fits: the error says so and points at the section.
        (
            edit(8, "num_steps = 127\nnum_envs = 3"),
            Some(6),
            &[
                "num_minibatches",
                "not set in the file",
                "default of ppo on CartPole-v1",
            ],
        ),
        // Names of envs, algorithms and trainers.
        (
            edit(4, "id = \"Pong-v5\""),
            Some(4),
            &["unknown environment id `Pong-v5`"],
        ),
        (
            edit(4, "id = [\"CartPole-v1\", \"CartPole-v1\"]"),
            Some(4),
            &["listed twice"],
        ),
        (
            edit(7, "name = \"dqn\""),
            Some(7),
            &["`algo.name`", "\"dqn\"", "ppo, a2c or reinforce"],
        ),
        (
            edit(14, "kind = [\"bp\", \"sgd\"]"),
            Some(14),
            &["`trainer.kind`", "\"sgd\""],
        ),
        (
            edit(14, "kind = [\"bp\", \"bp\"]"),
            Some(14),
            &["trainer `bp` is listed twice"],
        ),
        (edit(1, "name = \"figures\""), Some(1), &["is reserved"]),
        (edit(1, "name = \"../up\""), Some(1), &["ASCII letters"]),
        (
            edit(1, &format!("name = \"{}\"", "n".repeat(65))),
            Some(1),
            &["1 to 64"],
        ),
        // Keys the algorithm does not use.
        (
            edit(8, "num_episodes = 8"),
            Some(8),
            &["`algo.num_episodes` is not used by ppo"],
        ),
        (
            format!("{BASE}[sweep]\n\"algo.baseline\" = [true, false]\n"),
            Some(23),
            &["`algo.baseline` is not used by ppo"],
        ),
        // A trainer option set for trainers that do not read it.
        (
            edit(14, "kind = \"bp\"")
                .replace("normalize = \"mean\"", "pairs = { sampled = { k = 1000 } }"),
            Some(17),
            &["no trainer of this experiment (bp) reads `trainer.pdm.pairs.sampled.k`"],
        ),
        // A sweep over a per-env budget: the sweep key is blamed.
        (
            format!("{BASE}[sweep]\n\"run.total_timesteps\" = [{{ \"CartPole-v1\" = 1024 }}]\n"),
            Some(23),
            &["`sweep.run.total_timesteps`"],
        ),
        // Runs that collide name the key.
        (
            format!("{BASE}[ablate]\n\"trainer.pdm.normalize\" = [\"mean\"]\n"),
            Some(23),
            &["`ablate.trainer.pdm.normalize` lists a value twice, or a key's default"],
        ),
        (
            format!("{BASE}[sweep]\n\"algo.gamma\" = [0.9, 0.9]\n"),
            Some(23),
            &["`sweep.algo.gamma` lists a value twice"],
        ),
        // Seeds and budgets.
        (
            edit(20, "seeds = [1, 1]"),
            Some(20),
            &["seed 1 is listed twice"],
        ),
        (edit(20, "seeds = [-1]"), Some(20), &["`run.seeds`", "-1"]),
        (
            edit(21, "total_timesteps = 0"),
            Some(21),
            &["`run.total_timesteps` = 0 must be an integer >= 1"],
        ),
        (
            edit(21, "total_timesteps = { \"Acrobot-v1\" = 1000 }"),
            Some(21),
            &["`Acrobot-v1`, which is not in `env.id`"],
        ),
        (
            edit(21, "total_timesteps = 100"),
            Some(21),
            &["total_timesteps", "one iteration"],
        ),
        (
            edit(20, "seed = [1]"),
            Some(20),
            &["unknown key `seed` in [run]"],
        ),
        // Missing sections.
        (
            BASE.replace("[run]\nseeds = [1, 2]\n", "[run]\n"),
            Some(19),
            &["`[run] seeds` is missing"],
        ),
        (
            BASE.replace("name = \"ppo\"\n", ""),
            Some(6),
            &["`[algo] name` is missing"],
        ),
        // Sweeps and ablations.
        (
            format!("{BASE}[sweep]\n\"algo.gamma\" = [0.9, 2.0]\n"),
            Some(23),
            &["`gamma` = 2", "must be in [0, 1]"],
        ),
        (
            format!("{BASE}[sweep]\n\"algo.gamma\" = [0.9]\n[ablate]\n\"algo.gamma\" = [0.8]\n"),
            Some(25),
            &["in both [sweep] and [ablate]"],
        ),
        (
            format!("{BASE}[ablate]\n\"trainer.pdm.metric\" = [\"cosine\"]\n"),
            Some(23),
            &["`ablate.trainer.pdm.metric` = \"cosine\""],
        ),
    ];
    for (i, (text, line, needles)) in cases.iter().enumerate() {
        let err = error_of(text);
        let at = match line {
            Some(l) => format!("exp.toml`, line {l}: "),
            None => "exp.toml`: ".to_string(),
        };
        assert!(err.starts_with("invalid config `"), "case {i}: {err}");
        assert!(err.contains(&at), "case {i}: wanted `{at}` in: {err}");
        for n in *needles {
            assert!(err.contains(n), "case {i}: wanted `{n}` in: {err}");
        }
        // One screen: a single line of reasonable length.
        assert!(!err.contains('\n') && err.len() < 600, "case {i}: {err}");
    }
}

#[test]
fn ablations_run_the_defaults_and_each_value_alone() {
    let runs = plan_of(&format!(
        "{}[ablate]\n\"trainer.pdm.normalize\" = [\"max\", \"none\"]\n\"trainer.local_lr\" = [1e-4]\n",
        BASE.replace("kind = [\"bp\", \"pdm\"]", "kind = \"pdm\"")
            .replace("seeds = [1, 2]", "seeds = [1]")
    ));
    let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "pdm",
            "pdm trainer.local_lr=0.0001",
            "pdm trainer.pdm.normalize=\"max\"",
            "pdm trainer.pdm.normalize=\"none\""
        ]
    );
    assert_eq!(runs[1].config.trainer.local().local_lr, 1e-4);
    assert_eq!(runs[1].config.trainer.local().pdm.normalize.name(), "mean");
    assert_eq!(runs[3].config.trainer.local().pdm.normalize.name(), "none");
    assert_eq!(runs[3].config.trainer.local().local_lr, 1e-3);
}

/// `[ablate] trainer = [{ ... }]`: each table is one point with all its options set
/// together; `bp` and `frozen`, which read none of them, run once.
#[test]
fn bundles_of_trainer_options_run_together() {
    let runs = plan_of(&format!(
        "{}[ablate]\ntrainer = [{{ local_adam_eps = 0.01, local_steps = \"iteration\" }}, {{ local_optimizer = \"sgd\", local_lr = 0.1, pdm = {{ loss = \"sammon\" }} }}]\n\"trainer.local_lr\" = [1e-4]\n",
        BASE.replace("seeds = [1, 2]", "seeds = [1]")
    ));
    let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "bp",
            "pdm",
            "pdm trainer.local_adam_eps=0.01 trainer.local_steps=\"iteration\"",
            "pdm trainer.local_lr=0.1 trainer.local_optimizer=\"sgd\" trainer.pdm.loss=\"sammon\"",
            "pdm trainer.local_lr=0.0001",
        ]
    );
    let (a, b) = (
        runs[2].config.trainer.local(),
        runs[3].config.trainer.local(),
    );
    assert_eq!(
        (a.local_adam_eps, a.local_steps),
        (0.01, pdmrl_agents::LocalSteps::Iteration)
    );
    assert_eq!(a.local_lr, 1e-3);
    assert_eq!(b.local_optimizer, pdmrl_agents::LocalOptimizer::Sgd);
    assert_eq!(
        (b.local_lr, b.pdm.loss),
        (0.1, pdmrl_agents::MdsLoss::Sammon)
    );
    assert!(runs.iter().all(|r| r.bp_label == "bp"));
    // Broken bundles: errors at `ablate.trainer`'s line.
    let base = BASE.replace("seeds = [1, 2]", "seeds = [1]");
    let line = base.lines().count() + 2;
    for (bundle, needle) in [
        ("trainer = [0.01]", "takes tables of trainer options"),
        (
            "trainer = [{ local_adam_epsilon = 0.01 }]",
            "`local_adam_epsilon` is not a trainer option",
        ),
        (
            "trainer = [{ kind = \"pdm\" }]",
            "`kind` is not a trainer option",
        ),
        ("trainer = [{}]", "an empty table"),
        ("trainer = []", "lists no values"),
        ("trainer = { local_lr = 0.1 }", "must be a list of tables"),
        (
            "trainer = [{ local_lr = 0.1 }]\n[sweep]\n\"trainer.local_lr\" = [1e-4, 1e-2]",
            "`trainer.local_lr` is set by a bundle",
        ),
        (
            "trainer = [{ local_momentum = 0.9 }]",
            "local_optimizer = \"sgd\" only",
        ),
    ] {
        let err = error_of(&format!("{base}[ablate]\n{bundle}\n"));
        assert!(err.contains(&format!("line {line}")), "{bundle}: {err}");
        assert!(err.contains(needle), "{bundle}: {err}");
    }
}

/// Varying options that `bp` and `frozen` do not read runs them once, at the defaults;
/// `pdm` ignores the guidance options likewise. Every group names the `bp` and `frozen`
/// groups it is compared with.
#[test]
fn trainers_run_once_per_point_of_the_options_they_read() {
    let runs = plan_of(&format!(
        "{}[sweep]\n\"network.hidden_sizes\" = [[8], [8, 8]]\n\
             [ablate]\n\"trainer.guidance.weight\" = [0.6]\n\"trainer.local_until\" = [0.5]\n",
        BASE.replace(
            "kind = [\"bp\", \"pdm\"]",
            "kind = [\"bp\", \"pdm\", \"pdm_guided\", \"frozen\"]"
        )
        .replace("hidden_sizes = [64, 64]\n", "")
        .replace("seeds = [1, 2]", "seeds = [1]")
    ));
    let rows: Vec<[&str; 3]> = runs
        .iter()
        .map(|r| [&*r.label, &*r.bp_label, &*r.frozen_label])
        .collect();
    let (bp, fr) = (
        "bp network.hidden_sizes=[8]",
        "frozen network.hidden_sizes=[8]",
    );
    assert_eq!(
        rows[..6],
        [
            [bp, bp, fr],
            ["pdm network.hidden_sizes=[8]", bp, fr],
            ["pdm_guided network.hidden_sizes=[8]", bp, fr],
            [fr, bp, fr],
            [
                "pdm_guided network.hidden_sizes=[8] trainer.guidance.weight=0.6",
                bp,
                fr
            ],
            [
                "pdm network.hidden_sizes=[8] trainer.local_until=0.5",
                bp,
                fr
            ],
        ]
    );
    assert_eq!(runs.len(), 14, "7 runs per network");
    assert_eq!(runs[7].bp_label, "bp network.hidden_sizes=[8, 8]");
    // bp's and frozen's configs hold the defaults, whatever the file sets.
    assert!(
        runs.iter()
            .filter(|r| !r.config.trainer.kind().trains_locally())
            .all(|r| pdmrl_agents::TrainerOptions::from(r.config.trainer)
                == pdmrl_agents::TrainerOptions::new(r.config.trainer.kind()))
    );
    assert_eq!(runs[5].config.trainer.local().local_until, 0.5);
}

/// A trainer option that no listed trainer reads is an error, not runs that all train
/// the same way.
#[test]
fn an_option_no_trainer_reads_is_an_error() {
    let err = error_of(&format!(
        "{}[ablate]\n\"trainer.local_lr\" = [1e-4]\n",
        BASE.replace("kind = [\"bp\", \"pdm\"]", "kind = [\"bp\", \"frozen\"]")
    ));
    assert!(
        err.contains("line 23")
            && err.contains("no trainer of this experiment (bp, frozen) reads `trainer.local_lr`"),
        "{err}"
    );
}

#[test]
fn envs_algorithms_and_per_env_budgets_expand() {
    let runs = plan_of(
        "name = \"multi\"\n[env]\nid = [\"CartPole-v1\", \"Acrobot-v1\"]\n[algo]\nname = [\"a2c\", \"reinforce\"]\n[trainer]\nkind = \"bp\"\n[run]\nseeds = [3]\ntotal_timesteps = { \"CartPole-v1\" = 4000, \"Acrobot-v1\" = 6000 }\n",
    );
    let got: Vec<(String, String, usize, String)> = runs
        .iter()
        .map(|r| {
            (
                r.config.env_id.clone(),
                r.config.agent.algo.name().to_string(),
                r.config.agent.total_timesteps,
                r.label.clone(),
            )
        })
        .collect();
    let want = [
        ("CartPole-v1", "a2c", 4000, "a2c bp"),
        ("CartPole-v1", "reinforce", 4000, "reinforce bp"),
        ("Acrobot-v1", "a2c", 6000, "a2c bp"),
        ("Acrobot-v1", "reinforce", 6000, "reinforce bp"),
    ];
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0.as_str(), g.1.as_str(), g.2, g.3.as_str()), w);
    }
    // The per-algorithm defaults apply: A2C's 8 envs, REINFORCE's 1.
    assert_eq!(runs[0].config.agent.num_envs, 8);
    assert_eq!(runs[1].config.agent.num_envs, 1);
}

/// Every config the project ships parses and plans.
#[test]
fn shipped_configs_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let runs = Experiment::from_file(&path)
                .and_then(|e| e.plan(&Registry::with_builtins()))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(!runs.is_empty(), "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 7, "{n} configs");
}

/// The example of the README's "Experiment files" section is a valid file, and its
/// error examples are what the runner prints.
#[test]
fn readme_example_is_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = &readme[readme.find("## Experiment files").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let runs = Experiment::from_text(std::path::Path::new("README.md"), example)
        .and_then(|e| e.plan(&Registry::with_builtins()))
        .unwrap_or_else(|e| panic!("{e}"));
    // 2 envs x 2 networks x (bp + frozen, once each; pdm and pdm_guided at 2 local_lr x
    // (1 + 3 ablation values + 1 bundle)) x 5 seeds.
    assert_eq!(runs.len(), 2 * 2 * (2 + 2 * 2 * 5) * 5);
    let errors = &section[section.find("```text\n").unwrap()..];
    let shown = |text: &str| {
        let err = error_of(text);
        let tail = err.split("`, ").nth(1).unwrap().to_string();
        let line = format!("error: invalid config `configs/x.toml`, {tail}");
        let shown: String = line.chars().take(60).collect();
        assert!(errors.contains(&shown), "README lacks: {line}");
    };
    shown(&edit(8, "learnin_rate = 1e-3"));
    shown(
        "name = \"x\"\n[env]\nid = \"CartPole-v1\"\n[algo]\nname = \"ppo\"\nnum_steps = 127\nnum_envs = 3\n[trainer]\nkind = \"bp\"\n[run]\nseeds = [1]\n",
    );
}
