//! The example builds, runs every trainer, and `bp` learns the corridor.

use std::process::Command;

#[test]
fn trains_every_trainer_and_bp_learns() {
    let out = Command::new(env!("CARGO_BIN_EXE_custom-env"))
        .arg("20480")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for kind in ["bp", "pdm", "pdm_guided", "frozen"] {
        assert!(stdout.contains(&format!("{kind}: mean return")), "{stdout}");
    }
    // A random walk from a uniform start needs ~58 steps on average (81 - k^2 from cell k),
    // so random play mostly hits the time limit of 50: a mean return
    // above -10 means the policy walks right almost directly.
    let bp = stdout.lines().find(|l| l.starts_with("bp:")).unwrap();
    let mean: f64 = bp
        .split("episodes ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(mean > -10.0, "bp did not learn the corridor: {bp}");
    assert!(bp.ends_with("goal 1"), "{bp}");
}

#[test]
fn bad_budget_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_custom-env"))
        .arg("lots")
        .output()
        .expect("run the example");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected a number of steps, got `lots`")
    );
}
