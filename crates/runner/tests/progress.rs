//! The rate and time left of a reproduction count only the steps its process trains:
//! complete runs and the steps a resumed run took before move the bar, not the rate.

use pdmrl_runner::progress::{
    Counts, RunEvent, human_duration, parse_every, rate_and_eta, rate_text, stale_line, status_line,
};
use std::time::Duration;

#[test]
fn rate_and_eta_of_trained_steps() {
    // 50,000 steps in 10 s: 5,000 steps/s; 150,000 left take 30 s.
    let (rate, eta) = rate_and_eta(50_000, Duration::from_secs(10), 150_000);
    assert_eq!(rate, Some(5000.0));
    assert_eq!(eta, Some(Duration::from_secs(30)));
    // Nothing trained yet: no rate, no ETA; nothing left: ETA 0 either way.
    assert_eq!(rate_and_eta(0, Duration::from_secs(10), 1000), (None, None));
    assert_eq!(
        rate_and_eta(0, Duration::ZERO, 0),
        (None, Some(Duration::ZERO))
    );
    assert_eq!(
        rate_and_eta(100, Duration::from_secs(1), 0),
        (Some(100.0), Some(Duration::ZERO))
    );
}

/// The reproduction that showed 139,149,010 steps/s and "ETA 0s": most runs complete
/// before it started, one resumed mid-way; the rate must be that of the steps trained.
#[test]
fn skipped_and_resumed_steps_do_not_count_toward_the_rate() {
    let mut c = Counts::default();
    for id in ["a", "b", "c"] {
        c.record(&RunEvent::Skipped { id, steps: 500_000 });
    }
    c.record(&RunEvent::Started {
        id: "d",
        resumed_at: 200_000,
        steps: 500_000,
    });
    c.record(&RunEvent::Started {
        id: "e",
        resumed_at: 0,
        steps: 500_000,
    });
    assert_eq!(c.runs_done, 3);
    assert_eq!(c.runs_running, 2);
    assert_eq!(c.steps_before, 1_700_000);
    assert_eq!(c.steps_trained, 0);
    let total = 2_500_000;
    let at = Duration::from_millis(10);
    // Just after the start: 1.7M steps are done, none trained here; no rate yet.
    assert_eq!(
        rate_text(&c, total, at),
        "ETA unknown (no step trained yet)"
    );
    // 40 s later, 400,000 steps trained: 10,000 steps/s; 400,000 left: 40 s.
    c.record(&RunEvent::Trained { steps: 300_000 });
    c.record(&RunEvent::Trained { steps: 100_000 });
    assert_eq!(c.steps_done(), 2_100_000);
    assert_eq!(c.steps_left(total), 400_000);
    assert_eq!(
        rate_text(&c, total, Duration::from_secs(40)),
        "10000 steps/s, ETA 40s"
    );
    c.record(&RunEvent::Completed { id: "d" });
    assert_eq!(
        status_line("quick", &c, 5, total, Duration::from_secs(40)),
        "quick [40s]: 4/5 runs done (1 running), 2100000/2500000 steps, 10000 steps/s, ETA 40s"
    );
    // A failed run's untrained steps leave the time left.
    c.record(&RunEvent::Failed {
        id: "e",
        untrained: 400_000,
    });
    assert_eq!(c.steps_left(total), 0);
    assert_eq!(
        status_line("quick", &c, 5, total, Duration::from_secs(125)),
        "quick [2m 05s]: 4/5 runs done (1 failed), 2100000/2500000 steps, 3200 steps/s, nothing left to train"
    );
}

#[test]
fn durations_and_the_progress_interval() {
    assert_eq!(human_duration(Duration::from_secs(0)), "0s");
    assert_eq!(human_duration(Duration::from_secs(59)), "59s");
    assert_eq!(human_duration(Duration::from_secs(185)), "3m 05s");
    assert_eq!(human_duration(Duration::from_secs(7620)), "2h 07m");
    assert_eq!(parse_every("30").unwrap(), Some(Duration::from_secs(30)));
    assert_eq!(
        parse_every(" 0.5 ").unwrap(),
        Some(Duration::from_millis(500))
    );
    assert_eq!(parse_every("0").unwrap(), None);
    for bad in ["", "-1", "soon", "inf", "NaN"] {
        let e = parse_every(bad).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "PDMRL_PROGRESS_EVERY = {bad:?} must be a number of seconds >= 0"
            )),
            "{e}"
        );
    }
}

/// A stale run is announced by its own line, naming its version and the code's, and how it
/// is replaced; it counts as nothing by itself (its `Skipped` or `Started` does).
#[test]
fn a_stale_run_has_its_line_and_changes_no_count() {
    let v = pdmrl_runner::RESULTS_VERSION;
    assert_eq!(
        stale_line("quick", "ppo-x", 1, false),
        format!(
            "quick: ppo-x is of results version 1 (this code: {v}): stale, trained again from scratch"
        )
    );
    assert!(
        stale_line("quick", "ppo-x", 1, true).ends_with(
            "stale, replaced by the current run copied from another experiment's folder"
        )
    );
    let mut c = Counts::default();
    c.record(&RunEvent::Stale {
        id: "ppo-x",
        version: 1,
        copied: false,
    });
    assert_eq!(c, Counts::default());
}
