//! Every committed run's `config.toml` still resolves to the run id its folder is named
//! by: new options, left out of the serialized config at their defaults, change no old
//! run's id (so `cargo xtask figures` and `reproduce` still find every committed run), and
//! neither does the results version (version 1, written before the key existed, has none).

use pdmrl_runner::experiment::run_id;
use pdmrl_runner::resolve::RunConfig;
use std::path::Path;

#[test]
fn every_committed_run_keeps_its_id() {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results");
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut versions = std::collections::BTreeMap::new();
    for experiment in std::fs::read_dir(&results).unwrap().flatten() {
        let Ok(runs) = std::fs::read_dir(experiment.path()) else {
            continue;
        };
        for run in runs.flatten() {
            let config = run.path().join("config.toml");
            let Ok(text) = std::fs::read_to_string(&config) else {
                continue;
            };
            let parsed: RunConfig =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", config.display()));
            let name = run.file_name().to_string_lossy().into_owned();
            if run_id(&parsed) != name {
                wrong.push(format!("{name} resolves to {}", run_id(&parsed)));
            }
            // The serialized form is unchanged too, byte for byte.
            if toml::to_string(&parsed).unwrap() != text {
                wrong.push(format!("{name}: config.toml serialises differently"));
            }
            // Of a version this code knows: version 1 (no key) or a later one it wrote.
            let version = parsed.results_version;
            if !(1..=pdmrl_runner::RESULTS_VERSION).contains(&version)
                || (version == 1) == text.contains("results_version")
            {
                wrong.push(format!("{name}: results version {version}"));
            }
            *versions.entry(version).or_insert(0usize) += 1;
            checked += 1;
        }
    }
    assert!(
        checked > 1000,
        "only {checked} committed runs found under {}",
        results.display()
    );
    assert!(
        wrong.is_empty(),
        "{} of {checked} runs:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    eprintln!("committed runs by results version: {versions:?}");
}

/// Each option added after runs were committed is absent from a serialized config at its
/// default and present (changing the run id) when set.
#[test]
fn new_options_are_left_out_at_their_defaults() {
    use pdmrl_agents::{
        AgentConfig, LocalLrSchedule, LocalOptimizer, LocalOptions, LocalSteps, MdsLoss,
        TrainerConfig, TrainerKind,
    };
    let base = RunConfig {
        results_version: pdmrl_runner::RESULTS_VERSION,
        env_id: "CartPole-v1".into(),
        seed: 1,
        trainer: TrainerConfig::new(TrainerKind::Pdm),
        agent: AgentConfig::default(),
    };
    let text = toml::to_string(&base).unwrap();
    type Change = fn(&mut LocalOptions);
    let set: [(&str, Change); 8] = [
        ("local_lr_schedule", |t| {
            t.local_lr_schedule = LocalLrSchedule::Linear
        }),
        ("local_until", |t| t.local_until = 0.5),
        ("local_optimizer", |t| {
            t.local_optimizer = LocalOptimizer::Sgd
        }),
        ("local_momentum", |t| t.local_momentum = 0.9),
        ("local_steps", |t| t.local_steps = LocalSteps::Iteration),
        ("scale_features", |t| t.scale_features = true),
        ("feature_ema", |t| t.feature_ema = 0.9),
        ("loss", |t| t.pdm.loss = MdsLoss::Sammon),
    ];
    for (key, change) in set {
        assert!(
            !text.lines().any(|l| l.starts_with(&format!("{key} ="))),
            "{key} is serialized at its default:\n{text}"
        );
        let mut c = base.clone();
        change(c.trainer.local_mut().expect("pdm holds local options"));
        let changed = toml::to_string(&c).unwrap();
        assert!(
            changed.lines().any(|l| l.starts_with(&format!("{key} ="))),
            "{key} is left out when set:\n{changed}"
        );
        assert_ne!(run_id(&c), run_id(&base), "{key}");
        let back: RunConfig = toml::from_str(&changed).unwrap();
        assert_eq!(back, c, "{key} reads back");
    }
}

/// A `config.toml` whose trainer sets an option it does not read to other than its
/// default is refused naming the key; at the default (as every committed `bp` and
/// `frozen` config holds them) it is read.
#[test]
fn an_unread_trainer_option_off_its_default_is_refused() {
    use pdmrl_agents::{AgentConfig, TrainerConfig, TrainerKind};
    let bp = RunConfig {
        results_version: pdmrl_runner::RESULTS_VERSION,
        env_id: "CartPole-v1".into(),
        seed: 1,
        trainer: TrainerConfig::new(TrainerKind::Bp),
        agent: AgentConfig::default(),
    };
    let text = toml::to_string(&bp).unwrap();
    assert!(text.contains("local_lr = 0.001\n"), "{text}");
    assert_eq!(toml::from_str::<RunConfig>(&text).unwrap(), bp);
    let err = toml::from_str::<RunConfig>(&text.replace("local_lr = 0.001\n", "local_lr = 0.01\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("trainer `bp` does not read `trainer.local_lr`"),
        "{err}"
    );
}
