//! Tests for the pure-Rust PNG learning-curve figures (`pdmrl_runner::figures`).

use std::path::{Path, PathBuf};

use pdmrl_runner::figures::{FigureError, Series, compact_number, learning_curves_png};

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// A learning-curve-like series: `n` evaluations up to `max_steps`, saturating at `level`.
fn series(label: &str, n: usize, max_steps: f64, level: f64) -> Series {
    let x: Vec<f64> = (0..n)
        .map(|i| max_steps * i as f64 / (n - 1) as f64)
        .collect();
    let mean: Vec<f64> = x
        .iter()
        .map(|&s| level * (1.0 - (-4.0 * s / max_steps).exp()))
        .collect();
    let std: Vec<f64> = x.iter().map(|&s| 5.0 + 20.0 * s / max_steps).collect();
    Series {
        label: label.to_owned(),
        lower: mean.iter().zip(&std).map(|(m, s)| m - s).collect(),
        upper: mean.iter().zip(&std).map(|(m, s)| m + s).collect(),
        x,
        mean,
    }
}

fn two_series() -> Vec<Series> {
    vec![
        series("PD-MRL", 41, 200_000.0, 450.0),
        series("Backprop", 41, 200_000.0, 300.0),
    ]
}

/// Width and height from the IHDR chunk, which must be the first chunk after the signature.
fn png_dimensions(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "PNG too short: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], &PNG_SIGNATURE, "missing PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "first chunk is not IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    assert_eq!(be(&bytes[8..12]), 13, "IHDR chunk length");
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// Files in `dir` other than the expected outputs (e.g. leftover temporary files).
fn stray_files(dir: &Path, expected: &[&str]) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !expected.iter().any(|name| p.file_name().unwrap() == *name))
        .collect()
}

#[test]
fn two_series_png_has_signature_size_and_content() {
    let dir = tempfile::tempdir().unwrap();
    // The parent folder does not exist yet: it must be created.
    let out = dir.path().join("figures").join("curves.png");
    learning_curves_png(
        &out,
        "CartPole: episode return",
        "environment steps",
        "episode return",
        &two_series(),
        (900, 560),
    )
    .unwrap();

    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(png_dimensions(&bytes), (900, 560));
    assert!(
        bytes.len() > 5_000,
        "PNG is suspiciously small ({} bytes): blank image?",
        bytes.len()
    );
    assert_eq!(
        &bytes[bytes.len() - 12..bytes.len() - 4],
        &[0, 0, 0, 0, b'I', b'E', b'N', b'D'],
        "PNG does not end with an IEND chunk"
    );
    // The atomic write leaves no temporary file behind.
    assert_eq!(
        stray_files(out.parent().unwrap(), &["curves.png"]),
        Vec::<PathBuf>::new()
    );

    // Rendering is deterministic, and the text really is drawn: a different title changes
    // the pixels.
    let same = dir.path().join("same.png");
    let retitled = dir.path().join("retitled.png");
    let labels = ("environment steps", "episode return");
    learning_curves_png(
        &same,
        "CartPole: episode return",
        labels.0,
        labels.1,
        &two_series(),
        (900, 560),
    )
    .unwrap();
    learning_curves_png(
        &retitled,
        "Acrobot: episode return",
        labels.0,
        labels.1,
        &two_series(),
        (900, 560),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&same).unwrap(),
        bytes,
        "rendering is not deterministic"
    );
    assert_ne!(
        std::fs::read(&retitled).unwrap(),
        bytes,
        "changing the title did not change the image"
    );
}

#[test]
fn size_is_respected_and_existing_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fig.png");
    std::fs::write(&out, b"old content").unwrap();
    learning_curves_png(&out, "t", "x", "y", &two_series(), (640, 400)).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(png_dimensions(&bytes), (640, 400));
    learning_curves_png(&out, "t", "x", "y", &two_series(), (1800, 1120)).unwrap();
    assert_eq!(png_dimensions(&std::fs::read(&out).unwrap()), (1800, 1120));
}

#[test]
fn flat_and_single_point_series_still_render() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flat.png");
    let flat = Series {
        label: "flat".into(),
        x: vec![0.0, 1000.0, 2000.0],
        mean: vec![3.0; 3],
        lower: vec![3.0; 3],
        upper: vec![3.0; 3],
    };
    let single = Series {
        label: "single".into(),
        x: vec![500.0],
        mean: vec![3.0],
        lower: vec![3.0],
        upper: vec![3.0],
    };
    learning_curves_png(&out, "flat", "x", "y", &[flat, single.clone()], (900, 560)).unwrap();
    assert_eq!(png_dimensions(&std::fs::read(&out).unwrap()), (900, 560));

    // A lone point: x and y ranges are both degenerate.
    let out = dir.path().join("single.png");
    learning_curves_png(&out, "single", "x", "y", &[single], (900, 560)).unwrap();
    assert_eq!(png_dimensions(&std::fs::read(&out).unwrap()), (900, 560));
}

fn expect_err(series: &[Series], name: &str) -> (String, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(name);
    let err: FigureError = learning_curves_png(&out, "t", "x", "y", series, (900, 560))
        .expect_err("invalid input must be rejected");
    let msg = err.to_string();
    assert!(
        msg.contains(&out.display().to_string()),
        "error does not name the output path: {msg}"
    );
    assert!(!out.exists(), "no file may be written on error");
    assert_eq!(stray_files(dir.path(), &[]), Vec::<PathBuf>::new());
    (msg, out, dir)
}

#[test]
fn empty_series_is_an_error() {
    let (msg, _, _dir) = expect_err(&[], "empty.png");
    assert!(msg.contains("no series"), "{msg}");
    assert!(matches!(
        learning_curves_png(Path::new("unused.png"), "t", "x", "y", &[], (900, 560)),
        Err(FigureError::NoSeries { .. })
    ));

    let no_points = Series {
        label: "hollow".into(),
        x: vec![],
        mean: vec![],
        lower: vec![],
        upper: vec![],
    };
    let (msg, _, _dir) = expect_err(&[no_points], "hollow.png");
    assert!(
        msg.contains("\"hollow\"") && msg.contains("no points"),
        "{msg}"
    );
}

#[test]
fn mismatched_lengths_is_an_error() {
    let mut bad = series("ragged", 10, 1000.0, 1.0);
    bad.upper.pop();
    let (msg, _, _dir) = expect_err(&[series("ok", 10, 1000.0, 1.0), bad], "ragged.png");
    assert!(msg.contains("\"ragged\""), "{msg}");
    assert!(msg.contains("mismatched lengths"), "{msg}");
    assert!(msg.contains("upper: 9"), "{msg}");
}

#[test]
fn non_finite_values_are_errors() {
    let mut nan = series("nan curve", 10, 1000.0, 1.0);
    nan.mean[3] = f64::NAN;
    let (msg, _, _dir) = expect_err(&[series("ok", 10, 1000.0, 1.0), nan], "nan.png");
    assert!(msg.contains("\"nan curve\""), "{msg}");
    assert!(
        msg.contains("non-finite mean value (NaN) at index 3"),
        "{msg}"
    );

    let mut inf = series("inf curve", 10, 1000.0, 1.0);
    inf.x[0] = f64::INFINITY;
    let (msg, _, _dir) = expect_err(&[inf], "inf.png");
    assert!(
        msg.contains("\"inf curve\"") && msg.contains("non-finite x value"),
        "{msg}"
    );
}

#[test]
fn invalid_size_is_an_error() {
    let (msg, _, _dir) = {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("zero.png");
        let err = learning_curves_png(&out, "t", "x", "y", &two_series(), (0, 560)).unwrap_err();
        (err.to_string(), out, dir)
    };
    assert!(msg.contains("invalid image size 0x560"), "{msg}");
}

#[test]
fn io_failure_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // The "parent folder" is a regular file, so it cannot be created.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let out = blocker.join("fig.png");
    let err = learning_curves_png(&out, "t", "x", "y", &two_series(), (900, 560)).unwrap_err();
    assert!(matches!(err, FigureError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&out.display().to_string()),
        "{err}"
    );
}

#[test]
fn concurrent_calls_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared.png");
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let own = dir.path().join(format!("thread-{t}.png"));
                let shared = shared.clone();
                scope.spawn(move || {
                    let data = two_series();
                    let title = format!("thread {t}");
                    let a = learning_curves_png(&own, &title, "steps", "return", &data, (900, 560));
                    // Every thread also writes the same destination at the same time.
                    let b = learning_curves_png(
                        &shared,
                        "shared",
                        "steps",
                        "return",
                        &data,
                        (900, 560),
                    );
                    (own, a, b)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut images = Vec::new();
    for (own, a, b) in results {
        a.unwrap();
        b.unwrap();
        let bytes = std::fs::read(&own).unwrap();
        assert_eq!(png_dimensions(&bytes), (900, 560));
        assert!(bytes.len() > 5_000);
        images.push(bytes);
    }
    // Different titles, different images.
    for i in 0..images.len() {
        for j in i + 1..images.len() {
            assert_ne!(
                images[i], images[j],
                "threads {i} and {j} produced the same image"
            );
        }
    }
    assert_eq!(png_dimensions(&std::fs::read(&shared).unwrap()), (900, 560));
    let mut expected: Vec<String> = (0..4).map(|t| format!("thread-{t}.png")).collect();
    expected.push("shared.png".into());
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(stray_files(dir.path(), &expected), Vec::<PathBuf>::new());
}

#[test]
fn tick_labels_are_compact() {
    assert_eq!(compact_number(0.0), "0");
    assert_eq!(compact_number(-0.0), "0");
    assert_eq!(compact_number(20_000.0), "20k");
    assert_eq!(compact_number(40_000.0), "40k");
    assert_eq!(compact_number(100_000.0), "100k");
    assert_eq!(compact_number(2_500.0), "2.5k");
    assert_eq!(compact_number(1_000_000.0), "1M");
    assert_eq!(compact_number(1_500_000.0), "1.5M");
    assert_eq!(compact_number(2e9), "2B");
    assert_eq!(compact_number(-250.0), "-250");
    assert_eq!(compact_number(0.25), "0.25");
    assert_eq!(compact_number(0.1 + 0.2), "0.3");
    assert_eq!(compact_number(1e-4), "1.0e-4");
}

fn interval(label: &str, value: f64) -> pdmrl_runner::figures::Interval {
    pdmrl_runner::figures::Interval {
        label: label.into(),
        value,
        lower: value - 10.0,
        upper: value + 5.0,
        points: vec![value - 12.0, value, value + 6.0],
    }
}

/// Grids of panels: lines and intervals, PNG and SVG, sized by the grid.
#[test]
fn figures_of_panels_are_written_as_png_and_svg() {
    use pdmrl_runner::figures::{Figure, Panel, PanelData, save_figure};
    let dir = tempfile::tempdir().unwrap();
    let lines = |title: &str| Panel {
        title: title.into(),
        x_label: "steps".into(),
        y_label: "return".into(),
        data: PanelData::Lines(two_series()),
        references: Vec::new(),
    };
    let bars = Panel {
        title: "final".into(),
        x_label: "return".into(),
        y_label: String::new(),
        data: PanelData::Intervals(vec![interval("bp", 400.0), interval("pdm", -50.0)]),
        references: Vec::new(),
    };
    let figure = Figure {
        title: "three panels".into(),
        panels: vec![lines("CartPole-v1"), lines("Acrobot-v1"), bars],
        columns: 2,
        panel_size: (400, 300),
        legend: false,
    };
    let stem = dir.path().join("out").join("grid");
    let written = save_figure(&stem, &figure).unwrap();
    assert_eq!(
        written,
        vec![stem.with_extension("png"), stem.with_extension("svg")]
    );
    // 2 columns x 2 rows of 400x300, plus the title band.
    assert_eq!(figure.size(), (800, 644));
    assert_eq!(
        png_dimensions(&std::fs::read(&written[0]).unwrap()),
        (800, 644)
    );
    let svg = std::fs::read_to_string(&written[1]).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for text in [
        "three panels",
        "CartPole-v1",
        "Acrobot-v1",
        "final",
        "bp",
        "pdm",
    ] {
        assert!(
            svg.contains(&format!("\n{text}\n</text>")),
            "{text} missing from the SVG"
        );
    }
    assert_eq!(
        stray_files(&dir.path().join("out"), &["grid.png", "grid.svg"]),
        Vec::<PathBuf>::new()
    );
    // A non-finite interval, an empty one, or no panel at all: errors naming the file,
    // nothing written.
    for (panels, needle) in [
        (
            vec![Panel {
                data: PanelData::Intervals(vec![interval("bp", f64::NAN)]),
                ..lines("x")
            }],
            "non-finite",
        ),
        (
            vec![Panel {
                data: PanelData::Intervals(vec![]),
                ..lines("x")
            }],
            "no series",
        ),
        (vec![], "no series"),
    ] {
        let stem = dir.path().join("bad").join("f");
        let err = save_figure(
            &stem,
            &Figure {
                panels,
                ..figure.clone()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(needle) && err.contains("f.png"), "{err}");
        assert!(
            !dir.path().join("bad").exists()
                || stray_files(&dir.path().join("bad"), &[]).is_empty()
        );
    }
}

/// Trainers keep their colour whatever their position (bp blue, pdm vermillion, frozen
/// orange; a second group of a trainer a shade of it), reference lines and the figure-level
/// legend are drawn with their labels, and the legend strip adds to the height.
#[test]
fn trainer_colours_references_and_legend() {
    use pdmrl_runner::figures::{Figure, Panel, PanelData, Reference, Series, save_figure};
    let dir = tempfile::tempdir().unwrap();
    let series = |label: &str, y: f64| {
        let mut s = Series::new(label);
        for x in 0..5 {
            s.push(f64::from(x), (y + f64::from(x), y, y + 2.0 * f64::from(x)));
        }
        s
    };
    let panel = |data| Panel {
        title: "CartPole-v1".into(),
        x_label: "steps".into(),
        y_label: "return".into(),
        data,
        references: vec![
            Reference {
                label: "random play".into(),
                value: 22.0,
            },
            Reference {
                label: "solved".into(),
                value: 475.0,
            },
        ],
    };
    let figure = Figure {
        title: "colours".into(),
        panels: vec![
            panel(PanelData::Lines(vec![
                series("frozen", 100.0),
                series("pdm x=1", 50.0),
                series("bp", 200.0),
                series("pdm x=2", 60.0),
            ])),
            panel(PanelData::Intervals(vec![interval("bp", 300.0)])),
        ],
        columns: 2,
        panel_size: (400, 300),
        legend: true,
    };
    let stem = dir.path().join("colours");
    let written = save_figure(&stem, &figure).unwrap();
    let svg = std::fs::read_to_string(&written[1]).unwrap();
    for colour in ["#0072B2", "#E69F00", "#D55E00"] {
        assert!(svg.contains(colour), "{colour} missing");
    }
    // The second `pdm` group is a darker shade of vermillion, not another palette colour.
    assert!(
        !svg.contains("#009E73"),
        "a non-trainer colour for a pdm group"
    );
    for text in ["random play", "solved", "frozen", "pdm x=2", "bp"] {
        assert!(
            svg.contains(&format!("\n{text}\n</text>")),
            "{text} missing from the SVG"
        );
    }
    // One legend row (30 px) between the title band and the panels.
    assert_eq!(figure.size(), (800, 300 + 44 + 30));
    assert_eq!(
        png_dimensions(&std::fs::read(&written[0]).unwrap()),
        figure.size()
    );
}
