//! SVG charts for the report (plotters): latency distributions and
//! throughput against concurrency, one colour per program.

use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use plotters::prelude::*;

/// One line of a chart.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
];

/// A cumulative distribution: the share of calls (y) answered within a
/// latency (x, microseconds, log scale), one line per sorted sample set.
pub fn latency_cdf(
    path: &Path,
    title: &str,
    samples: &[(String, &[Duration])],
) -> anyhow::Result<()> {
    let series: Vec<Series> = samples
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(label, sorted)| {
            // At most ~400 points per line: the SVG stays small.
            let step = (sorted.len() / 400).max(1);
            let n = sorted.len() as f64;
            let mut points: Vec<(f64, f64)> = sorted
                .iter()
                .enumerate()
                .step_by(step)
                .map(|(i, d)| (d.as_secs_f64() * 1e6, (i + 1) as f64 / n))
                .collect();
            if let Some(last) = sorted.last() {
                points.push((last.as_secs_f64() * 1e6, 1.0));
            }
            Series {
                label: label.clone(),
                points,
            }
        })
        .collect();
    let (x_min, x_max) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let root = SVGBackend::new(path, (760, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d((x_min * 0.8..x_max * 1.25).log_scale(), 0.0..1.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("round trip (us, log scale)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("share of calls answered")
        .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
        .draw()
        .map_err(plot_error)?;
    draw_lines(&mut chart, &series, SeriesLabelPosition::LowerRight)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// Throughput (y, calls per second, log scale) against requests in flight
/// or clients (x, log scale), one line per program and transport.
pub fn throughput(path: &Path, title: &str, x_desc: &str, series: &[Series]) -> anyhow::Result<()> {
    let (x_min, x_max) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y_min, y_max) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let root = SVGBackend::new(path, (760, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_min * 0.8..x_max * 1.25).log_scale(),
            (y_min * 0.5..y_max * 2.0).log_scale(),
        )
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("calls per second (log scale)")
        .y_label_formatter(&|v| {
            if *v >= 1000.0 {
                format!("{:.0}k", v / 1000.0)
            } else {
                format!("{v:.0}")
            }
        })
        .draw()
        .map_err(plot_error)?;
    draw_lines(&mut chart, series, SeriesLabelPosition::UpperLeft)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

fn draw_lines<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    series: &[Series],
    legend: SeriesLabelPosition,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        if s.points.len() <= 12 {
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(plot_error)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(legend)
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        (1.0, 10.0)
    } else {
        (lo, hi.max(lo * 1.01))
    }
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}
