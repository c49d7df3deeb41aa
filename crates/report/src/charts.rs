//! Bar charts as inline SVG. Every drawn bar is a `rect` of class `mark`.

use crate::html::escape;
use std::fmt::Write as _;

/// One part of a bar.
#[derive(Clone, Debug)]
pub(crate) struct Segment {
    pub value: u64,
    pub colour: &'static str,
    /// The name of what the segment counts, for its tooltip.
    pub name: &'static str,
}

/// One bar: its label and its segments, stacked from the axis outward.
#[derive(Clone, Debug)]
pub(crate) struct Bar {
    pub label: String,
    pub segments: Vec<Segment>,
}

impl Bar {
    fn total(&self) -> u64 {
        self.segments.iter().map(|segment| segment.value).sum()
    }
}

/// Draws vertical stacked bars with their labels below, turned 40 degrees, and a legend of
/// `(name, colour)` pairs above.
pub(crate) fn stacked_bars(id: &str, bars: &[Bar], legend: &[(&str, &str)]) -> String {
    const PLOT_HEIGHT: f64 = 180.0;
    const TOP: f64 = 30.0;
    // Room for the tick labels and for the first bar label, which is turned to the left.
    const LEFT: f64 = 80.0;
    const LABELS: f64 = 90.0;
    let slot = if bars.len() > 12 { 22.0 } else { 44.0 };
    let width = LEFT + slot * bars.len().max(1) as f64 + 20.0;
    let height = TOP + PLOT_HEIGHT + LABELS;
    let max = bars.iter().map(Bar::total).max().unwrap_or(0).max(1);
    let scale = PLOT_HEIGHT / max as f64;

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" id=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\">",
        escape(id)
    );
    axis(&mut svg, LEFT, TOP, PLOT_HEIGHT, width - 10.0, max);
    let mut x = LEFT + 20.0;
    for (name, colour) in legend {
        let _ = write!(
            svg,
            "<rect x=\"{x:.0}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{:.0}\" y=\"15\">{}</text>",
            x + 14.0,
            escape(name)
        );
        x += 14.0 + 8.0 * name.len() as f64 + 12.0;
    }
    for (index, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * index as f64 + slot * 0.15;
        let bar_width = slot * 0.7;
        let mut y = TOP + PLOT_HEIGHT;
        for segment in bar.segments.iter().filter(|segment| segment.value > 0) {
            let height = segment.value as f64 * scale;
            y -= height;
            let _ = write!(
                svg,
                "<rect class=\"mark\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_width:.1}\" height=\"{height:.1}\" fill=\"{}\"><title>{}: {} {}</title></rect>",
                segment.colour,
                escape(&bar.label),
                segment.value,
                segment.name
            );
        }
        let label_x = x + bar_width / 2.0;
        let label_y = TOP + PLOT_HEIGHT + 12.0;
        let _ = write!(
            svg,
            "<text x=\"{label_x:.1}\" y=\"{label_y:.1}\" text-anchor=\"end\" transform=\"rotate(-40 {label_x:.1} {label_y:.1})\">{}</text>",
            escape(&bar.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Draws horizontal bars with their labels on the left and their values at their ends.
pub(crate) fn horizontal_bars(id: &str, bars: &[Bar]) -> String {
    const LABELS: f64 = 250.0;
    const PLOT_WIDTH: f64 = 220.0;
    const ROW: f64 = 34.0;
    let width = LABELS + PLOT_WIDTH + 50.0;
    let height = ROW * bars.len().max(1) as f64 + 20.0;
    let max = bars.iter().map(Bar::total).max().unwrap_or(0).max(1);
    let scale = PLOT_WIDTH / max as f64;

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" id=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\">",
        escape(id)
    );
    let _ = write!(
        svg,
        "<line x1=\"{LABELS}\" y1=\"5\" x2=\"{LABELS}\" y2=\"{:.0}\" stroke=\"#90a4ae\"/>",
        height - 10.0
    );
    for (index, bar) in bars.iter().enumerate() {
        let y = 10.0 + ROW * index as f64;
        let _ = write!(
            svg,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LABELS - 6.0,
            y + ROW / 2.0,
            escape(&bar.label)
        );
        let mut x = LABELS;
        for segment in &bar.segments {
            // A zero bar stays visible as a hairline, so the chart shows every level.
            let length = (segment.value as f64 * scale).max(1.0);
            let _ = write!(
                svg,
                "<rect class=\"mark\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{length:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
                y + 4.0,
                ROW - 12.0,
                segment.colour,
                escape(segment.name),
                segment.value
            );
            x += length;
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 6.0,
            y + ROW / 2.0,
            bar.total()
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Draws the y axis with a few round ticks up to `max`.
fn axis(svg: &mut String, left: f64, top: f64, height: f64, right: f64, max: u64) {
    let bottom = top + height;
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{bottom}\" stroke=\"#90a4ae\"/><line x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"#90a4ae\"/>"
    );
    let step = nice_step(max);
    let mut tick = 0;
    while tick <= max {
        let y = bottom - tick as f64 * height / max as f64;
        let _ = write!(
            svg,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text><line x1=\"{:.0}\" y1=\"{y:.1}\" x2=\"{left}\" y2=\"{y:.1}\" stroke=\"#90a4ae\"/>",
            left - 5.0,
            y + 4.0,
            left - 3.0
        );
        tick += step;
    }
}

/// Returns a tick step of 1, 2 or 5 times a power of ten giving about five ticks.
fn nice_step(max: u64) -> u64 {
    let rough = (max / 5).max(1);
    let mut power = 1u64;
    while power.saturating_mul(10) <= rough {
        power *= 10;
    }
    [1, 2, 5, 10]
        .iter()
        .map(|factor| factor * power)
        .find(|step| *step >= rough)
        .unwrap_or(power * 10)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn tick_steps_are_round() {
        assert_eq!(nice_step(1), 1);
        assert_eq!(nice_step(12), 2);
        assert_eq!(nice_step(40), 10);
        assert_eq!(nice_step(1234), 500);
    }

    #[test]
    fn each_nonzero_segment_is_a_mark() {
        let bars = [Bar {
            label: "run <1>".to_string(),
            segments: vec![
                Segment {
                    value: 3,
                    colour: "#000",
                    name: "verified",
                },
                Segment {
                    value: 0,
                    colour: "#111",
                    name: "failed",
                },
            ],
        }];
        let svg = stacked_bars("c", &bars, &[("verified", "#000")]);
        assert_eq!(svg.matches("class=\"mark\"").count(), 1);
        assert!(svg.contains("run &lt;1&gt;"));
    }
}
