//! Every committed run's `config.toml` still resolves to the run id its folder is named
//! by: new options, left out of the serialized config at their defaults, change no old
//! run's id (so `cargo xtask figures` and `reproduce` still find every committed run).

use pdmrl_runner::experiment::run_id;
use pdmrl_runner::run::RunConfig;
use std::path::Path;

#[test]
fn every_committed_run_keeps_its_id() {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for experiment in std::fs::read_dir(&results).unwrap().flatten() {
        let Ok(runs) = std::fs::read_dir(experiment.path()) else {
            continue;
        };
        for run in runs.flatten() {
            let config = run.path().join("config.toml");
            let Ok(text) = std::fs::read_to_string(&config) else {
                continue;
            };
            let parsed: RunConfig = toml::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", config.display()));
            let name = run.file_name().to_string_lossy().into_owned();
            if run_id(&parsed) != name {
                wrong.push(format!("{name} resolves to {}", run_id(&parsed)));
            }
            // The serialized form is unchanged too, byte for byte.
            if toml::to_string(&parsed).unwrap() != text {
                wrong.push(format!("{name}: config.toml serialises differently"));
            }
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} committed runs found under {}", results.display());
    assert!(wrong.is_empty(), "{} of {checked} runs:\n{}", wrong.len(), wrong.join("\n"));
}
