//! Publication-style PNG figures (learning curves), rendered in pure Rust.
//!
//! Text is rasterised by plotters' `ab_glyph` backend from DejaVu Sans, which is embedded in
//! the binary (`assets/DejaVuSans.ttf`, license in `assets/DejaVuSans-LICENSE.txt`): building
//! or running needs no fontconfig, no freetype and no installed fonts.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{BoldPoints, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

/// DejaVu Sans (regular), embedded so that figures render identically everywhere.
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Font family names the embedded font is registered under. Plotters looks fonts up by the
/// family string (`FontFamily::as_str`), and its own defaults use `"sans-serif"`.
const FONT_FAMILIES: [&str; 4] = ["sans-serif", "serif", "monospace", "DejaVu Sans"];

/// The family used for all text in the figures.
const FONT: &str = "sans-serif";

/// Okabe–Ito colour-blind friendly palette (yellow left out: unreadable on white).
const COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(230, 159, 0),   // orange
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
];

/// Figures are drawn at this multiple of the output size, then averaged down.
const SUPERSAMPLE: usize = 2;

/// Larger outputs (in pixels) are drawn directly, without supersampling, to bound memory.
const MAX_SUPERSAMPLED_PIXELS: usize = 4_000_000;

/// Opacity of the shaded band around each curve.
const BAND_ALPHA: f64 = 0.2;

/// One curve: a label, x values, and per-x centre with a lower/upper band (e.g. IQM and CI over
/// seeds).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub x: Vec<f64>,
    pub mean: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

impl Series {
    /// A series without points.
    pub fn new(label: impl Into<String>) -> Self {
        Series {
            label: label.into(),
            x: vec![],
            mean: vec![],
            lower: vec![],
            upper: vec![],
        }
    }

    /// Appends the point `x` with its centre and band.
    pub fn push(&mut self, x: f64, (mean, lower, upper): (f64, f64, f64)) {
        self.x.push(x);
        self.mean.push(mean);
        self.lower.push(lower);
        self.upper.push(upper);
    }
}

/// Why a figure could not be produced. Every message names the output path.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error("cannot draw figure {}: no series to plot", path.display())]
    NoSeries { path: PathBuf },

    #[error("cannot draw figure {}: series {label:?} has no points", path.display())]
    EmptySeries { path: PathBuf, label: String },

    #[error(
        "cannot draw figure {}: series {label:?} has mismatched lengths \
         (x: {x}, mean: {mean}, lower: {lower}, upper: {upper})",
        path.display()
    )]
    LengthMismatch {
        path: PathBuf,
        label: String,
        x: usize,
        mean: usize,
        lower: usize,
        upper: usize,
    },

    #[error(
        "cannot draw figure {}: series {label:?} has a non-finite {field} value ({value}) at index {index}",
        path.display()
    )]
    NonFinite {
        path: PathBuf,
        label: String,
        field: &'static str,
        index: usize,
        value: f64,
    },

    #[error("cannot draw figure {}: invalid image size {width}x{height}", path.display())]
    InvalidSize {
        path: PathBuf,
        width: u32,
        height: u32,
    },

    #[error("cannot draw figure {}: the embedded font could not be loaded", path.display())]
    Font { path: PathBuf },

    #[error("cannot draw figure {}: {message}", path.display())]
    Render { path: PathBuf, message: String },

    #[error("cannot write figure {}: {action} {}: {source}", path.display(), target.display())]
    Io {
        path: PathBuf,
        /// What was being done, e.g. "creating folder".
        action: &'static str,
        /// The file or folder the failing operation was applied to.
        target: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Registers the embedded font with plotters, once per process. Safe to call from several
/// threads at once: `OnceLock` blocks the others until the first registration has finished.
fn ensure_font() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        FONT_FAMILIES
            .iter()
            .all(|family| register_font(family, FontStyle::Normal, DEJAVU_SANS).is_ok())
    })
}

/// Draws the series as lines with translucent shaded bands, a legend, axis labels and a
/// title, into a PNG of `size` = (width, height) pixels (900x560 is a good default).
///
/// The x range spans min..max over all series; the y range spans all means and bands, padded
/// by 5% (a flat curve still gets a valid range). Points are drawn in increasing x order.
/// The legend goes into the corner of the plot where it hides the least of the curves.
///
/// The PNG is written atomically: it is rendered to a hidden temporary file
/// (`.<file name>.<pid>-<n>.tmp.png`) in the destination folder, then renamed onto `path`.
/// The parent folder is created if missing. The file is PNG whatever the extension of `path`.
pub fn learning_curves_png(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    size: (u32, u32),
) -> Result<(), FigureError> {
    let (width, height) = size;
    if width < 200 || height < 150 || width > 20_000 || height > 20_000 {
        return Err(FigureError::InvalidSize {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    let data = validate(path, series)?;
    prepare(path)?;

    let pixels = render(size, &|root, k| {
        root.fill(&WHITE).map_err(err_string)?;
        draw_chart(
            root,
            k,
            title,
            x_label,
            y_label,
            &data,
            &[],
            size,
            &[],
            true,
        )
    })
    .map_err(|message| FigureError::Render {
        path: path.to_path_buf(),
        message,
    })?;
    write_png(path, &pixels, size)
}

/// Writes `pixels` (RGB, `size`) as the PNG `path` atomically: a temporary file of a
/// unique name next to it ([`crate::temp_path::unique_temp_path`]), renamed into place.
fn write_png(path: &Path, pixels: &[u8], size: (u32, u32)) -> Result<(), FigureError> {
    // Plotters' bitmap backend picks the encoder from the extension: keep `.png`.
    let tmp = crate::temp_path::unique_temp_path(path, ".png");
    if let Err(message) = save_png(&tmp, pixels, size) {
        let _ = std::fs::remove_file(&tmp);
        return Err(FigureError::Io {
            path: path.to_path_buf(),
            action: "writing temporary file",
            target: tmp,
            source: std::io::Error::other(message),
        });
    }
    rename_into_place(&tmp, path)
}

/// Loads the font and creates the folder of `path`.
fn prepare(path: &Path) -> Result<(), FigureError> {
    if !ensure_font() {
        return Err(FigureError::Font {
            path: path.to_path_buf(),
        });
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|source| FigureError::Io {
        path: path.to_path_buf(),
        action: "creating folder",
        target: parent.clone(),
        source,
    })
}

/// Encodes an RGB image of `size` pixels as PNG into `file` (whose name must end in `.png`).
fn save_png(file: &Path, pixels: &[u8], size: (u32, u32)) -> Result<(), String> {
    let mut backend = BitMapBackend::new(file, size);
    backend
        .blit_bitmap((0, 0), size, pixels)
        .map_err(err_string)?;
    backend.present().map_err(err_string)
}

/// A validated series, points sorted by x.
struct Curve<'a> {
    label: &'a str,
    /// (x, mean, lower, upper)
    points: Vec<(f64, f64, f64, f64)>,
}

fn validate<'a>(path: &Path, series: &'a [Series]) -> Result<Vec<Curve<'a>>, FigureError> {
    if series.is_empty() {
        return Err(FigureError::NoSeries {
            path: path.to_path_buf(),
        });
    }
    series
        .iter()
        .map(|s| {
            let n = s.x.len();
            if s.mean.len() != n || s.lower.len() != n || s.upper.len() != n {
                return Err(FigureError::LengthMismatch {
                    path: path.to_path_buf(),
                    label: s.label.clone(),
                    x: n,
                    mean: s.mean.len(),
                    lower: s.lower.len(),
                    upper: s.upper.len(),
                });
            }
            if n == 0 {
                return Err(FigureError::EmptySeries {
                    path: path.to_path_buf(),
                    label: s.label.clone(),
                });
            }
            for (field, values) in [
                ("x", &s.x),
                ("mean", &s.mean),
                ("lower", &s.lower),
                ("upper", &s.upper),
            ] {
                if let Some((index, &value)) =
                    values.iter().enumerate().find(|(_, v)| !v.is_finite())
                {
                    return Err(FigureError::NonFinite {
                        path: path.to_path_buf(),
                        label: s.label.clone(),
                        field,
                        index,
                        value,
                    });
                }
            }
            let mut points: Vec<_> = (0..n)
                .map(|i| (s.x[i], s.mean[i], s.lower[i], s.upper[i]))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Ok(Curve {
                label: &s.label,
                points,
            })
        })
        .collect()
}

/// `lo..hi` widened so that it is never empty.
fn non_empty_range(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        (lo - pad, hi + pad)
    }
}

fn data_ranges(data: &[Curve], references: &[Reference]) -> ((f64, f64), (f64, f64)) {
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(x, m, lo, hi) in data.iter().flat_map(|c| &c.points) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(m).min(lo).min(hi);
        y1 = y1.max(m).max(lo).max(hi);
    }
    for r in references.iter().filter(|r| r.value.is_finite()) {
        y0 = y0.min(r.value);
        y1 = y1.max(r.value);
    }
    let x = non_empty_range(x0, x1);
    let (y0, y1) = non_empty_range(y0, y1);
    let pad = 0.05 * (y1 - y0);
    (x, (y0 - pad, y1 + pad))
}

/// Compact tick label: 20000 -> "20k", 2500 -> "2.5k", 1500000 -> "1.5M", 0.25 -> "0.25",
/// 0.0001 -> "1.0e-4".
pub fn compact_number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "B")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if suffix.is_empty() && a != 0.0 && a < 1e-3 {
        return format!("{v:.1e}");
    }
    for decimals in 0..=4 {
        let s = format!("{scaled:.decimals$}");
        let back: f64 = s.parse().unwrap_or(f64::NAN);
        if (back - scaled).abs() <= 1e-9 * scaled.abs().max(1.0) {
            let s = if s == "-0" { "0".to_owned() } else { s };
            return s + suffix;
        }
    }
    let s = format!("{scaled:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{suffix}")
}

/// A tick label on an axis spanning `span`: rounding noise such as `-5.6e-17` shows as `0`.
fn tick_label(v: f64, span: f64) -> String {
    if v.abs() <= span.abs() * 1e-9 {
        "0".to_owned()
    } else {
        compact_number(v)
    }
}

/// The colour of each trainer in every figure of the project: `bp` blue, `pdm` vermillion,
/// `pdm_guided` bluish green, `frozen` orange (Okabe–Ito).
pub const TRAINER_COLOURS: [(&str, RGBColor); 4] = [
    ("bp", COLOURS[0]),
    ("pdm", COLOURS[1]),
    ("pdm_guided", COLOURS[2]),
    ("frozen", COLOURS[3]),
];

/// The trainer a label names: the first of its words that is a trainer's name (labels are
/// `[algo] trainer [options]`).
fn trainer_of(label: &str) -> Option<&'static str> {
    label.split_whitespace().find_map(|w| {
        TRAINER_COLOURS
            .iter()
            .find(|(name, _)| *name == w)
            .map(|(name, _)| *name)
    })
}

/// The colour of each label of a figure, in order: a label that names a trainer gets the
/// trainer's colour ([`TRAINER_COLOURS`]); the second, third, ... label of the same trainer
/// a shade of it, darker and lighter in turn; other labels the palette's colours in order.
fn label_colours(labels: &[&str]) -> Vec<RGBColor> {
    let mut seen: Vec<&str> = Vec::new();
    let mut others = 0;
    labels
        .iter()
        .map(|label| match trainer_of(label) {
            Some(trainer) => {
                let base = TRAINER_COLOURS
                    .iter()
                    .find(|(n, _)| *n == trainer)
                    .map(|(_, c)| *c)
                    .expect("a trainer's colour");
                let k = seen.iter().filter(|t| **t == trainer).count();
                seen.push(trainer);
                shade(base, k)
            }
            None => {
                // Palette colours not used by a trainer: black, sky blue, purple, then more.
                let c = [COLOURS[6], COLOURS[5], COLOURS[4]]
                    .get(others)
                    .copied()
                    .unwrap_or_else(|| colour(others + COLOURS.len()));
                others += 1;
                c
            }
        })
        .collect()
}

/// The `k`-th shade of `c`: `c` itself, then darker, lighter, darker still, ...
fn shade(c: RGBColor, k: usize) -> RGBColor {
    if k == 0 {
        return c;
    }
    let step = 0.28 * k.div_ceil(2) as f64;
    let t = step.min(0.75);
    let mix = |v: u8, to: f64| (f64::from(v) + (to - f64::from(v)) * t).round() as u8;
    let to = if k % 2 == 1 { 0.0 } else { 255.0 };
    RGBColor(mix(c.0, to), mix(c.1, to), mix(c.2, to))
}

fn colour(i: usize) -> RGBColor {
    if i < COLOURS.len() {
        COLOURS[i]
    } else {
        let c = Palette99::pick(i - COLOURS.len()).to_rgba();
        RGBColor(c.0, c.1, c.2)
    }
}

fn err_string<E: fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Renders `draw` into an RGB buffer of `width x height` pixels. Drawing happens at
/// `SUPERSAMPLE`x that size (the factor is passed to `draw`) and is averaged down, which
/// anti-aliases the lines and smooths plotters' whole-pixel glyph placement.
type Draw<'a> = dyn Fn(&DrawingArea<BitMapBackend<'_>, Shift>, f64) -> Result<(), String> + 'a;

fn render((width, height): (u32, u32), draw: &Draw) -> Result<Vec<u8>, String> {
    let (w, h) = (width as usize, height as usize);
    let k = if w * h <= MAX_SUPERSAMPLED_PIXELS {
        SUPERSAMPLE
    } else {
        1
    };
    let mut big = vec![255u8; w * k * h * k * 3];
    {
        let root = BitMapBackend::with_buffer(&mut big, ((w * k) as u32, (h * k) as u32))
            .into_drawing_area();
        draw(&root, k as f64)?;
        root.present().map_err(err_string)?;
    }
    Ok(downsample(big, w, h, k))
}

/// Box-filters an RGB image of `(w * k) x (h * k)` pixels down to `w x h`.
fn downsample(big: Vec<u8>, w: usize, h: usize, k: usize) -> Vec<u8> {
    if k == 1 {
        return big;
    }
    let big_w = w * k;
    let n = (k * k) as u32;
    let mut small = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0u32; 3];
            for dy in 0..k {
                let row = (y * k + dy) * big_w;
                for dx in 0..k {
                    let i = (row + x * k + dx) * 3;
                    for (a, &v) in acc.iter_mut().zip(&big[i..i + 3]) {
                        *a += u32::from(v);
                    }
                }
            }
            let o = (y * w + x) * 3;
            for (dst, a) in small[o..o + 3].iter_mut().zip(acc) {
                *dst = ((a + n / 2) / n) as u8;
            }
        }
    }
    small
}

/// Draws the chart into an RGB `buffer` of `buf_size` pixels. Sizes are designed for the
/// `out_size` output image, and multiplied by the supersampling factor `k`.
#[allow(clippy::too_many_arguments)]
fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    k: f64,
    title: &str,
    x_label: &str,
    y_label: &str,
    data: &[Curve],
    colours: &[RGBColor],
    (width, height): (u32, u32),
    references: &[Reference],
    own_legend: bool,
) -> Result<(), String> {
    let colour = |i: usize| colours.get(i).copied().unwrap_or_else(|| colour(i));
    // Everything scales with the image, relative to the 900x560 reference size.
    // Text shrinks less than the rest, so that small figures stay readable.
    let s = (f64::from(width) / 900.0).min(f64::from(height) / 560.0);
    let px = |v: f64| ((v * s).round().max(1.0) * k).round();
    let pt = |v: f64| (v * s.max(0.9) * k).round();
    let title_font = (FONT, pt(22.0)).into_font().color(&BLACK);
    let desc_font = (FONT, pt(17.0)).into_font().color(&BLACK);
    let tick_font = (FONT, pt(14.0)).into_font().color(&RGBColor(40, 40, 40));
    let legend_font = (FONT, pt(15.0)).into_font().color(&BLACK);

    let ((x0, x1), (y0, y1)) = data_ranges(data, references);
    let (n_x_labels, n_y_labels) = (8, 7);

    // Size the label areas from the actual tick labels.
    let y_ticks: Vec<String> = RangedCoordf64::from(y0..y1)
        .key_points(BoldPoints(n_y_labels))
        .iter()
        .map(|v| tick_label(*v, y1 - y0))
        .collect();
    let mut y_tick_w = 0u32;
    for t in &y_ticks {
        y_tick_w = y_tick_w.max(
            root.estimate_text_size(t, &tick_font)
                .map_err(err_string)?
                .0,
        );
    }
    let (tick_mark, x_area, desc_h) = x_label_area(root, &px, &tick_font, &desc_font)?;
    let y_area = y_tick_w + tick_mark + px(10.0) as u32 + desc_h + px(8.0) as u32;

    let mut builder = ChartBuilder::on(root);
    let mut chart = panel_margins(builder.caption(title, title_font), &px)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err_string)?;

    let x_tick = |v: &f64| tick_label(*v, x1 - x0);
    let y_tick = |v: &f64| tick_label(*v, y1 - y0);
    chart
        .configure_mesh()
        .x_labels(n_x_labels)
        .y_labels(n_y_labels)
        .x_label_formatter(&x_tick)
        .y_label_formatter(&y_tick)
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style(desc_font)
        .label_style(tick_font)
        .bold_line_style(RGBColor(225, 225, 225).stroke_width(px(1.0) as u32))
        .light_line_style(TRANSPARENT)
        .axis_style(RGBColor(60, 60, 60).stroke_width(px(1.0) as u32))
        .set_all_tick_mark_size(tick_mark)
        .draw()
        .map_err(err_string)?;

    // Reference lines under the data, labelled at their right end.
    let ref_font = (FONT, pt(13.0)).into_font().color(&RGBColor(90, 90, 90));
    for r in references {
        let dash = (pt(8.0), pt(5.0));
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(x0, r.value), (x1, r.value)],
                dash.0 as i32,
                dash.1 as i32,
                reference_style(k),
            )))
            .map_err(err_string)?;
        let anchor = Pos::new(HPos::Right, VPos::Bottom);
        chart
            .draw_series(std::iter::once(Text::new(
                r.label.clone(),
                (x1, r.value),
                ref_font.clone().pos(anchor),
            )))
            .map_err(err_string)?;
    }

    // Bands first, so that no band covers another series' line.
    let line_w = pt(2.5) as u32;
    for (i, curve) in data.iter().enumerate() {
        if let [(x, _, lower, upper)] = curve.points[..] {
            // A lone point has no area: show its band as an error bar.
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, lower), (x, upper)],
                    colour(i).mix(0.6).stroke_width(line_w),
                )))
                .map_err(err_string)?;
            continue;
        }
        let band: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|p| (p.0, p.3))
            .chain(curve.points.iter().rev().map(|p| (p.0, p.2)))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                colour(i).mix(BAND_ALPHA).filled(),
            )))
            .map_err(err_string)?;
    }
    for (i, curve) in data.iter().enumerate() {
        let c = colour(i);
        let line = curve.points.iter().map(|p| (p.0, p.1));
        let anno = if curve.points.len() == 1 {
            chart
                .draw_series(line.map(|p| Circle::new(p, line_w * 2, c.filled())))
                .map_err(err_string)?
        } else {
            chart
                .draw_series(LineSeries::new(line, c.stroke_width(line_w)))
                .map_err(err_string)?
        };
        let (kw, kh) = (pt(24.0) as i32, pt(6.0) as i32);
        anno.label(curve.label).legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + Rectangle::new([(0, -kh), (kw, kh)], c.mix(BAND_ALPHA).filled())
                + PathElement::new(vec![(0, 0), (kw, 0)], c.stroke_width(line_w))
        });
    }

    if !own_legend {
        return Ok(());
    }
    // Legend in the corner where it hides the least of the curves.
    let legend_key = pt(34.0) as i32;
    let legend_margin = pt(8.0) as i32;
    let gap = px(10.0) as i32;
    let mut text = MultiLineText::<_, &str>::new((0, 0), &legend_font);
    for curve in data {
        text.push_line(curve.label);
    }
    let (tw, th) = text.estimate_dimension().map_err(err_string)?;
    let legend = (tw + legend_key + 2 * legend_margin, th + 2 * legend_margin);
    let area = chart.plotting_area();
    let (aw, ah) = area.dim_in_pixel();
    let (aw, ah) = (aw as i32, ah as i32);
    let base = area.get_base_pixel();
    let to_px = |x: f64, y: f64| {
        let (px, py) = chart.backend_coord(&(x, y));
        (f64::from(px - base.0), f64::from(py - base.1))
    };
    let corners = [
        (aw - legend.0 - gap, ah - legend.1 - gap), // lower right
        (gap, gap),                                 // upper left
        (aw - legend.0 - gap, gap),                 // upper right
        (gap, ah - legend.1 - gap),                 // lower left
    ];
    let best = corners
        .iter()
        .copied()
        .min_by_key(|&(lx, ly)| {
            let rect = (
                f64::from(lx),
                f64::from(ly),
                f64::from(lx + legend.0),
                f64::from(ly + legend.1),
            );
            overlap_score(data, &to_px, rect)
        })
        .unwrap_or(corners[0]);

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::Coordinate(best.0, best.1))
        .legend_area_size(legend_key)
        .margin(legend_margin)
        .label_font(legend_font.clone())
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(190, 190, 190))
        .draw()
        .map_err(err_string)?;
    Ok(())
}

/// How much of the curves a legend placed at `rect` (x0, y0, x1, y1, plot-area pixels) would
/// hide: mean lines count heavily, bands lightly. Segments are sampled every few pixels.
fn overlap_score(
    data: &[Curve],
    to_px: &dyn Fn(f64, f64) -> (f64, f64),
    (rx0, ry0, rx1, ry1): (f64, f64, f64, f64),
) -> u64 {
    let mut score = 0u64;
    let mut visit = |x: f64, m: f64, lo: f64, hi: f64| {
        if x < rx0 || x > rx1 {
            return;
        }
        if m >= ry0 && m <= ry1 {
            score += 20;
        } else if lo.max(hi) >= ry0 && lo.min(hi) <= ry1 {
            score += 1;
        }
    };
    for curve in data {
        let pts: Vec<_> = curve
            .points
            .iter()
            .map(|&(x, m, lo, hi)| {
                let (px, pm) = to_px(x, m);
                (px, pm, to_px(x, lo).1, to_px(x, hi).1)
            })
            .collect();
        if let [p] = pts.as_slice() {
            visit(p.0, p.1, p.2, p.3);
        }
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let len = (b.0 - a.0).hypot(b.1 - a.1);
            let steps = ((len / 3.0).ceil() as usize).clamp(1, 10_000);
            for k in 0..=steps {
                let t = k as f64 / steps as f64;
                let lerp = |u: f64, v: f64| u + (v - u) * t;
                visit(
                    lerp(a.0, b.0),
                    lerp(a.1, b.1),
                    lerp(a.2, b.2),
                    lerp(a.3, b.3),
                );
            }
        }
    }
    score
}

/// The heights of the text around a panel: `(tick_mark, x_area)`, the tick-mark length
/// and the height of the x label area (ticks, their labels and the axis description).
fn x_label_area<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    px: &dyn Fn(f64) -> f64,
    tick_font: &TextStyle,
    desc_font: &TextStyle,
) -> Result<(u32, u32, u32), String> {
    let (_, tick_h) = root
        .estimate_text_size("0k", tick_font)
        .map_err(err_string)?;
    let (_, desc_h) = root
        .estimate_text_size("Ag", desc_font)
        .map_err(err_string)?;
    let tick_mark = px(5.0) as u32;
    let x_area = tick_h + tick_mark + px(10.0) as u32 + desc_h + px(8.0) as u32;
    Ok((tick_mark, x_area, desc_h))
}

/// The margins every panel uses.
fn panel_margins<'a, 'b, DB: DrawingBackend>(
    builder: &'b mut ChartBuilder<'a, 'b, DB>,
    px: &dyn Fn(f64) -> f64,
) -> &'b mut ChartBuilder<'a, 'b, DB> {
    builder
        .margin_top(px(10.0) as u32)
        .margin_left(px(8.0) as u32)
        .margin_bottom(px(6.0) as u32)
        .margin_right(px(22.0) as u32)
}

/// One estimate with its interval, e.g. the IQM of the final returns of a trainer's runs
/// and its 95% bootstrap CI.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub label: String,
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
    /// The values the estimate is made of (e.g. each seed's final return), drawn as dots
    /// in the row; empty draws none.
    pub points: Vec<f64>,
}

/// A reference value drawn across a panel as a dashed grey line with its label (random
/// play, the solved threshold): horizontal in line panels, vertical in interval panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub label: String,
    pub value: f64,
}

/// What a panel shows.
#[derive(Debug, Clone, PartialEq)]
pub enum PanelData {
    /// Lines with shaded bands (learning curves, return against depth).
    Lines(Vec<Series>),
    /// One row per label: the interval as a shaded bar and the estimate as a tick
    /// (rliable's interval estimates).
    Intervals(Vec<Interval>),
}

/// One panel of a [`Figure`].
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub title: String,
    /// The axis of the values (for intervals: the horizontal axis).
    pub x_label: String,
    pub y_label: String,
    pub data: PanelData,
    /// Reference lines (the axis range includes them); empty draws none.
    pub references: Vec<Reference>,
}

/// A figure: a title over a grid of panels, `columns` wide, each `panel_size` pixels.
/// Labels keep their colour across panels: a trainer's colour ([`TRAINER_COLOURS`]), or
/// the palette's in the order of first appearance.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The title over the panels; each further line (after a `\n`) is drawn smaller
    /// under it, such as the note of a figure drawn from stale runs.
    pub title: String,
    pub panels: Vec<Panel>,
    pub columns: usize,
    pub panel_size: (u32, u32),
    /// One legend for the whole figure, in a strip under the title, clear of the data (and
    /// none inside the line panels); otherwise each line panel has its own.
    pub legend: bool,
}

impl Figure {
    /// Every label, in the order of first appearance over the panels.
    fn labels(&self) -> Vec<&str> {
        let mut labels: Vec<&str> = Vec::new();
        for panel in &self.panels {
            let names: Vec<&str> = match &panel.data {
                PanelData::Lines(s) => s.iter().map(|s| s.label.as_str()).collect(),
                PanelData::Intervals(v) => v.iter().map(|v| v.label.as_str()).collect(),
            };
            for n in names {
                if !labels.contains(&n) {
                    labels.push(n);
                }
            }
        }
        labels
    }

    fn grid(&self) -> (usize, usize) {
        let cols = self.columns.clamp(1, self.panels.len().max(1));
        (self.panels.len().div_ceil(cols), cols)
    }

    /// Height in pixels of the figure-level legend strip (0 without one).
    fn legend_height(&self) -> u32 {
        if !self.legend {
            return 0;
        }
        let width = self.panel_size.0 * self.grid().1 as u32;
        LEGEND_ROW * legend_rows(&self.labels(), width)
    }

    /// Size of the whole image in pixels.
    pub fn size(&self) -> (u32, u32) {
        let (rows, cols) = self.grid();
        // 44 pixels for the title's first line, 30 for each further line.
        let title_h = if self.title.is_empty() {
            0
        } else {
            44 + 30 * (self.title.lines().count().max(1) as u32 - 1)
        };
        (
            self.panel_size.0 * cols as u32,
            self.panel_size.1 * rows as u32 + title_h + self.legend_height(),
        )
    }
}

const INTERVAL_BAR_ALPHA: f64 = 0.45;

/// Height of one row of the figure-level legend, in output pixels.
const LEGEND_ROW: u32 = 30;

/// Approximate width in output pixels of one legend entry (key and text at 15 pt).
fn legend_entry_width(label: &str) -> u32 {
    44 + 9 * label.chars().count() as u32
}

/// Rows the figure-level legend needs at `width` pixels.
fn legend_rows(labels: &[&str], width: u32) -> u32 {
    let (mut rows, mut x) = (1, 0);
    for l in labels {
        let w = legend_entry_width(l);
        if x > 0 && x + w > width.saturating_sub(40) {
            rows += 1;
            x = 0;
        }
        x += w;
    }
    rows
}

/// Draws the figure-level legend into `area`: a key and the label of each entry, left to
/// right, wrapping into rows.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    k: f64,
    labels: &[&str],
    colours: &[RGBColor],
) -> Result<(), String> {
    let font = (FONT, (15.0 * k).round()).into_font().color(&BLACK);
    let (w, _) = area.dim_in_pixel();
    let row_h = (f64::from(LEGEND_ROW) * k) as i32;
    let (mut x, mut y) = ((20.0 * k) as i32, 0i32);
    for (label, c) in labels.iter().zip(colours) {
        let entry = (f64::from(legend_entry_width(label)) * k) as i32;
        if x > (20.0 * k) as i32 && x + entry > w as i32 - (20.0 * k) as i32 {
            x = (20.0 * k) as i32;
            y += row_h;
        }
        let mid = y + row_h / 2;
        let key = (24.0 * k) as i32;
        area.draw(&Rectangle::new(
            [
                (x, mid - (5.0 * k) as i32),
                (x + key, mid + (5.0 * k) as i32),
            ],
            c.mix(BAND_ALPHA).filled(),
        ))
        .map_err(err_string)?;
        area.draw(&PathElement::new(
            vec![(x, mid), (x + key, mid)],
            c.stroke_width((2.5 * k) as u32),
        ))
        .map_err(err_string)?;
        area.draw(&Text::new(
            label.to_string(),
            (x + key + (8.0 * k) as i32, mid - (8.0 * k) as i32),
            font.clone(),
        ))
        .map_err(err_string)?;
        x += entry;
    }
    Ok(())
}

/// The style of reference lines.
fn reference_style(k: f64) -> ShapeStyle {
    RGBColor(110, 110, 110).stroke_width((1.5 * k).round().max(1.0) as u32)
}

/// Draws one interval panel into `root`.
fn draw_intervals<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    k: f64,
    panel: &Panel,
    intervals: &[Interval],
    colours: &[RGBColor],
    (width, height): (u32, u32),
) -> Result<(), String> {
    let s = (f64::from(width) / 900.0).min(f64::from(height) / 560.0);
    let px = |v: f64| ((v * s).round().max(1.0) * k).round();
    let pt = |v: f64| (v * s.max(0.9) * k).round();
    let title_font = (FONT, pt(22.0)).into_font().color(&BLACK);
    let desc_font = (FONT, pt(17.0)).into_font().color(&BLACK);
    let tick_font = (FONT, pt(14.0)).into_font().color(&RGBColor(40, 40, 40));
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in intervals {
        x0 = x0.min(v.lower).min(v.value);
        x1 = x1.max(v.upper).max(v.value);
        for &p in &v.points {
            x0 = x0.min(p);
            x1 = x1.max(p);
        }
    }
    for r in &panel.references {
        x0 = x0.min(r.value);
        x1 = x1.max(r.value);
    }
    let (x0, x1) = non_empty_range(x0, x1);
    let pad = 0.05 * (x1 - x0);
    let (x0, x1) = (x0 - pad, x1 + pad);
    let n = intervals.len() as i32;
    let mut label_w = 0u32;
    for v in intervals {
        label_w = label_w.max(
            root.estimate_text_size(&v.label, &tick_font)
                .map_err(err_string)?
                .0,
        );
    }
    let (tick_mark, x_area, _) = x_label_area(root, &px, &tick_font, &desc_font)?;
    let mut builder = ChartBuilder::on(root);
    let mut chart = panel_margins(builder.caption(&panel.title, title_font), &px)
        .x_label_area_size(x_area)
        .y_label_area_size(label_w + tick_mark + px(12.0) as u32)
        .build_cartesian_2d(x0..x1, (0..n - 1).into_segmented())
        .map_err(err_string)?;
    let labels: Vec<&str> = intervals.iter().map(|v| v.label.as_str()).collect();
    // Rows from the top in the order given.
    let row_label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(n - 1 - *i)
            .ok()
            .and_then(|j| labels.get(j))
            .map_or(String::new(), |l| (*l).to_string()),
        SegmentValue::Last => String::new(),
    };
    let x_tick = |v: &f64| tick_label(*v, x1 - x0);
    chart
        .configure_mesh()
        .x_labels(7)
        .y_labels(intervals.len())
        .x_label_formatter(&x_tick)
        .y_label_formatter(&row_label)
        .x_desc(&panel.x_label)
        .axis_desc_style(desc_font)
        .label_style(tick_font)
        .bold_line_style(RGBColor(225, 225, 225).stroke_width(px(1.0) as u32))
        .light_line_style(TRANSPARENT)
        .disable_y_mesh()
        .axis_style(RGBColor(60, 60, 60).stroke_width(px(1.0) as u32))
        .set_all_tick_mark_size(tick_mark)
        .draw()
        .map_err(err_string)?;
    let ref_font = (FONT, pt(13.0)).into_font().color(&RGBColor(90, 90, 90));
    for r in &panel.references {
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![
                    (r.value, SegmentValue::Exact(0)),
                    (r.value, SegmentValue::Exact(n)),
                ],
                pt(8.0) as i32,
                pt(5.0) as i32,
                reference_style(k),
            )))
            .map_err(err_string)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!(" {}", r.label),
                (r.value, SegmentValue::Exact(n)),
                ref_font.clone().pos(Pos::new(HPos::Left, VPos::Top)),
            )))
            .map_err(err_string)?;
    }
    let line_w = pt(3.0) as u32;
    for (j, v) in intervals.iter().enumerate() {
        let c = colours.get(j).copied().unwrap_or_else(|| colour(j));
        let row = n - 1 - j as i32;
        let mut bar = Rectangle::new(
            [
                (v.lower, SegmentValue::Exact(row)),
                (v.upper, SegmentValue::Exact(row + 1)),
            ],
            c.mix(INTERVAL_BAR_ALPHA).filled(),
        );
        bar.set_margin(px(6.0) as u32, px(6.0) as u32, 0, 0);
        chart
            .draw_series(std::iter::once(bar))
            .map_err(err_string)?;
        let mut tick = Rectangle::new(
            [
                (v.value, SegmentValue::Exact(row)),
                (v.value, SegmentValue::Exact(row + 1)),
            ],
            c.stroke_width(line_w),
        );
        tick.set_margin(px(3.0) as u32, px(3.0) as u32, 0, 0);
        chart
            .draw_series(std::iter::once(tick))
            .map_err(err_string)?;
        // One dot per value, spread over the row's height (fixed offsets: reproducible).
        let (_, top) = chart.backend_coord(&(v.value, SegmentValue::Exact(row + 1)));
        let (_, bottom) = chart.backend_coord(&(v.value, SegmentValue::Exact(row)));
        let dark = shade(c, 1);
        for (i, &p) in v.points.iter().enumerate() {
            let (x, _) = chart.backend_coord(&(p, SegmentValue::Exact(row)));
            let frac = 0.2 + 0.6 * ((i * 7) % 11) as f64 / 10.0;
            let y = top + ((bottom - top) as f64 * frac) as i32;
            let base = root.get_base_pixel();
            root.draw(&Circle::new(
                (x - base.0, y - base.1),
                pt(3.0) as i32,
                dark.mix(0.85).filled(),
            ))
            .map_err(err_string)?;
        }
    }
    Ok(())
}

fn check_intervals(path: &Path, panel: &Panel, v: &[Interval]) -> Result<(), FigureError> {
    if v.is_empty() {
        return Err(FigureError::NoSeries {
            path: path.to_path_buf(),
        });
    }
    for i in v {
        let points = i.points.iter().map(|&p| ("points", p));
        for (field, value) in [("value", i.value), ("lower", i.lower), ("upper", i.upper)]
            .into_iter()
            .chain(points)
        {
            if !value.is_finite() {
                return Err(FigureError::NonFinite {
                    path: path.to_path_buf(),
                    label: format!("{}: {}", panel.title, i.label),
                    field,
                    index: 0,
                    value,
                });
            }
        }
    }
    Ok(())
}

/// Draws the whole figure into `root` (filled white), `k` the supersampling factor.
fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    k: f64,
    figure: &Figure,
    curves: &[Option<Vec<Curve>>],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err_string)?;
    let labels = figure.labels();
    let palette = label_colours(&labels);
    let colour_of = |label: &str| {
        labels
            .iter()
            .position(|l| *l == label)
            .map_or(COLOURS[0], |i| palette[i])
    };
    let (rows, cols) = figure.grid();
    let area = if figure.title.is_empty() {
        root.clone()
    } else {
        // The first line of the title large, any further line (a note such as the
        // results version of stale runs) smaller, each under the one before.
        let mut lines = figure.title.lines();
        let mut area = root
            .margin((8.0 * k) as u32, 0, 0, 0)
            .titled(
                lines.next().unwrap_or_default(),
                (FONT, (21.0 * k).round()).into_font().color(&BLACK),
            )
            .map_err(err_string)?;
        for line in lines {
            area = area
                .titled(line, (FONT, (16.0 * k).round()).into_font().color(&BLACK))
                .map_err(err_string)?;
        }
        area
    };
    let area = if figure.legend {
        let (strip, rest) =
            area.split_vertically((f64::from(figure.legend_height()) * k).round() as u32);
        draw_legend(&strip, k, &labels, &palette)?;
        rest
    } else {
        area
    };
    let cells = area.split_evenly((rows, cols));
    for ((panel, cell), curves) in figure.panels.iter().zip(&cells).zip(curves) {
        match (&panel.data, curves) {
            (PanelData::Lines(series), Some(curves)) => {
                let colours: Vec<RGBColor> = series.iter().map(|s| colour_of(&s.label)).collect();
                draw_chart(
                    cell,
                    k,
                    &panel.title,
                    &panel.x_label,
                    &panel.y_label,
                    curves,
                    &colours,
                    figure.panel_size,
                    &panel.references,
                    !figure.legend,
                )?;
            }
            (PanelData::Intervals(v), _) => {
                let colours: Vec<RGBColor> = v.iter().map(|s| colour_of(&s.label)).collect();
                draw_intervals(cell, k, panel, v, &colours, figure.panel_size)?;
            }
            (PanelData::Lines(_), None) => unreachable!("curves are validated for line panels"),
        }
    }
    Ok(())
}

/// Writes `figure` as `<stem>.png` and `<stem>.svg` (each atomically: a temporary file
/// renamed into place), creating the folder; returns both paths.
///
/// # Errors
/// [`FigureError`] naming the file: no panels, a panel without data, non-finite values,
/// a size outside 200x150 ..= 20000x20000, or an I/O failure.
pub fn save_figure(stem: &Path, figure: &Figure) -> Result<Vec<PathBuf>, FigureError> {
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    if figure.panels.is_empty() {
        return Err(FigureError::NoSeries { path: png });
    }
    let (width, height) = figure.size();
    let (pw, ph) = figure.panel_size;
    if pw < 200 || ph < 150 || width > 20_000 || height > 20_000 {
        return Err(FigureError::InvalidSize {
            path: png,
            width,
            height,
        });
    }
    let mut curves = Vec::new();
    for panel in &figure.panels {
        match &panel.data {
            PanelData::Lines(series) => curves.push(Some(validate(&png, series)?)),
            PanelData::Intervals(v) => {
                check_intervals(&png, panel, v)?;
                curves.push(None);
            }
        }
    }
    prepare(&png)?;
    let render_error = |path: &Path| {
        let path = path.to_path_buf();
        move |message| FigureError::Render { path, message }
    };

    // PNG: supersampled, then averaged down.
    let pixels = render((width, height), &|root, k| {
        draw_figure(root, k, figure, &curves)
    })
    .map_err(render_error(&png))?;
    write_png(&png, &pixels, (width, height))?;

    // SVG: vector, text as text.
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (width, height)).into_drawing_area();
        draw_figure(&root, 1.0, figure, &curves).map_err(render_error(&svg))?;
        root.present()
            .map_err(|e| render_error(&svg)(e.to_string()))?;
    }
    let tmp = crate::temp_path::unique_temp_path(&svg, "");
    std::fs::write(&tmp, text.as_bytes()).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        FigureError::Io {
            path: svg.clone(),
            action: "writing temporary file",
            target: tmp.clone(),
            source,
        }
    })?;
    rename_into_place(&tmp, &svg)?;
    Ok(vec![png, svg])
}

fn rename_into_place(tmp: &Path, path: &Path) -> Result<(), FigureError> {
    std::fs::rename(tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(tmp);
        FigureError::Io {
            path: path.to_path_buf(),
            action: "renaming temporary file",
            target: tmp.to_path_buf(),
            source,
        }
    })
}
