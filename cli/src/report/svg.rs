//! The report's two chart shapes as inline SVG: lines over days and horizontal bars.
//!
//! Written here rather than with a charting crate: the report needs only these two shapes,
//! must carry no fonts or scripts (it is one file that works offline and prints), and tests
//! find every drawn data mark by its `mark` class, which we control here. plotters' SVG
//! backend would do the drawing but not the classes, titles or print styling.

use std::fmt::Write;

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
    /// A CSS colour.
    pub color: &'static str,
}

/// One bar of a bar chart; `part` is drawn over the start of the bar in the second colour
/// (e.g. the failed share of the sign-ins).
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub part: Option<f64>,
}

pub const BLUE: &str = "#2f6db5";
pub const RED: &str = "#c8414b";

const WIDTH: f64 = 760.0;

/// Escapes text for HTML and SVG content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The smallest "round" number (1, 2 or 5 times a power of ten) at or above `max`, at least 1.
fn nice_ceiling(max: f64) -> f64 {
    if max <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|v| *v >= max).unwrap_or(10.0 * magnitude)
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// A line per series over `days` (labels `YYYY-MM-DD`), with a y axis from zero, a few day
/// labels and a legend. Each line is one `path.mark` with a `<title>` naming the series.
pub fn line_chart(days: &[String], series: &[Series], aria_label: &str) -> String {
    let (left, right, top, bottom, height) = (48.0, 12.0, 28.0, 28.0, 240.0);
    let (plot_w, plot_h) = (WIDTH - left - right, height - top - bottom);
    let max = nice_ceiling(series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max));
    let x = |i: usize| left + if days.len() > 1 { plot_w * i as f64 / (days.len() - 1) as f64 } else { plot_w / 2.0 };
    let y = |v: f64| top + plot_h - plot_h * v / max;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(aria_label)
    );
    for tick in [0.0, max / 2.0, max] {
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{}" y="{:.1}" text-anchor="end" class="axis">{}</text>"##,
            WIDTH - right,
            left - 6.0,
            y(tick) + 4.0,
            number(tick),
            y = y(tick),
        );
    }
    // About six day labels, always the first and the last.
    let step = days.len().div_ceil(6).max(1);
    for (i, day) in days.iter().enumerate() {
        if i % step == 0 || i + 1 == days.len() {
            let label = day.get(5..).unwrap_or(day);
            // The first and last labels align with the plot's edges so neither is cut off.
            let anchor = match i {
                0 if days.len() > 1 => "start",
                _ if i + 1 == days.len() && days.len() > 1 => "end",
                _ => "middle",
            };
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="{anchor}" class="axis">{}</text>"#,
                x(i),
                height - 8.0,
                escape(label)
            );
        }
    }
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, x(i), y(*v)))
            .collect();
        let total: f64 = s.values.iter().sum();
        let _ = write!(
            svg,
            r#"<path class="mark" d="{}" fill="none" stroke="{}" stroke-width="2"><title>{}: {} in all</title></path>"#,
            points.join(" "),
            s.color,
            escape(&s.name),
            number(total)
        );
        let lx = left + 150.0 * k as f64;
        let _ = write!(
            svg,
            r#"<rect x="{lx}" y="6" width="12" height="12" fill="{}"/><text x="{}" y="16" class="legend">{}</text>"#,
            s.color,
            lx + 16.0,
            escape(&s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One horizontal bar per entry, largest first as given, with its value at the end; `part`s
/// are drawn over the bar's start in red and named in the legend as `part_name`.
pub fn bar_chart(bars: &[Bar], value_name: &str, part_name: Option<&str>, aria_label: &str) -> String {
    let (label_w, row_h, top, value_w) = (170.0, 24.0, if part_name.is_some() { 28.0 } else { 8.0 }, 60.0);
    let plot_w = WIDTH - label_w - value_w;
    let height = top + row_h * bars.len() as f64 + 8.0;
    let max = nice_ceiling(bars.iter().map(|b| b.value).fold(0.0, f64::max));
    let w = |v: f64| (plot_w * v / max).max(if v > 0.0 { 1.0 } else { 0.0 });
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(aria_label)
    );
    if let Some(part) = part_name {
        let _ = write!(
            svg,
            r#"<rect x="{label_w}" y="6" width="12" height="12" fill="{BLUE}"/><text x="{}" y="16" class="legend">{}</text><rect x="{}" y="6" width="12" height="12" fill="{RED}"/><text x="{}" y="16" class="legend">{}</text>"#,
            label_w + 16.0,
            escape(value_name),
            label_w + 150.0,
            label_w + 166.0,
            escape(part)
        );
    }
    for (i, bar) in bars.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end" class="label">{}</text><rect class="mark" x="{label_w}" y="{:.1}" width="{:.1}" height="{}" fill="{BLUE}"><title>{}: {} {}</title></rect>"#,
            label_w - 8.0,
            y + 16.0,
            escape(&bar.label),
            y + 4.0,
            w(bar.value),
            row_h - 8.0,
            escape(&bar.label),
            number(bar.value),
            escape(value_name),
        );
        let mut end = number(bar.value);
        if let (Some(part), Some(name)) = (bar.part.filter(|p| *p > 0.0), part_name) {
            let _ = write!(
                svg,
                r#"<rect class="mark part" x="{label_w}" y="{:.1}" width="{:.1}" height="{}" fill="{RED}"><title>{}: {} {}</title></rect>"#,
                y + 4.0,
                w(part),
                row_h - 8.0,
                escape(&bar.label),
                number(part),
                escape(name),
            );
            end = format!("{} ({} {})", number(bar.value), number(part), escape(name));
        }
        let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}" class="value">{end}</text>"#, label_w + w(bar.value) + 6.0, y + 16.0);
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(26.0), 50.0);
        assert_eq!(nice_ceiling(150.0), 200.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
    }

    #[test]
    fn every_series_and_bar_is_a_mark_and_text_is_escaped() {
        let days: Vec<String> = (1..=3).map(|d| format!("2026-11-0{d}")).collect();
        let line = line_chart(
            &days,
            &[
                Series { name: "ok".into(), values: vec![1.0, 2.0, 3.0], color: BLUE },
                Series { name: "<failed>".into(), values: vec![0.0; 3], color: RED },
            ],
            "test",
        );
        assert_eq!(line.matches("class=\"mark\"").count(), 2);
        assert!(line.contains("&lt;failed&gt;") && !line.contains("<failed>"));
        let bars = bar_chart(
            &[Bar { label: "US".into(), value: 26.0, part: Some(3.0) }, Bar { label: "DE".into(), value: 2.0, part: None }],
            "sign-ins",
            Some("failed"),
            "test",
        );
        assert_eq!(bars.matches("class=\"mark").count(), 3);
        assert!(bars.contains("26 (3 failed)"));
    }
}
