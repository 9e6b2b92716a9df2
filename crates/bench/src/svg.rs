//! The plot of a run, written by hand as SVG: the user-service's CPU per request, bars per
//! step and condition, one colour per workload, one panel per load.

use std::fmt::Write as _;

use crate::plan::{Load, Workload};
use crate::report::Report;

const BAR: f64 = 16.0;
const GROUP_GAP: f64 = 22.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const PANEL_TOP: f64 = 28.0;
const PLOT_HEIGHT: f64 = 170.0;
const PANEL_BOTTOM: f64 = 42.0;
const HEADER: f64 = 74.0;
const MIN_WIDTH: f64 = 760.0;

fn colour(workload: Workload) -> &'static str {
    match workload {
        Workload::Get => "#4e79a7",
        Workload::Post => "#f28e2b",
        Workload::Mix => "#59a14f",
    }
}

/// The SVG document.
pub fn plot(report: &Report) -> String {
    let cells = report.cell_kinds();
    let workloads: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|w| cells.iter().any(|c| c.workload == *w))
        .collect();
    let loads: Vec<Load> = Load::ALL
        .into_iter()
        .filter(|l| cells.iter().any(|c| c.load == *l))
        .collect();
    let groups = report.variants.len().max(1) as f64;
    let bars_width = workloads.len().max(1) as f64 * BAR;
    let width = (LEFT + groups * (bars_width + GROUP_GAP) + RIGHT).max(MIN_WIDTH);
    // The groups share the plot's width, their bars centred.
    let group_width = (width - LEFT - RIGHT) / groups;
    let panel_height = PANEL_TOP + PLOT_HEIGHT + PANEL_BOTTOM;
    let height = HEADER + loads.len().max(1) as f64 * panel_height;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="18" font-size="14" font-weight="bold">User-service CPU per request (µs), by step and condition</text>"#
    );
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="34" fill="#555">{}</text>"##,
        escape(&format!(
            "commit {} · {} · {} cores · {}",
            report.meta.commit,
            report.meta.date,
            report.meta.machine.cores,
            report.meta.machine.model
        ))
    );
    // Legend.
    let mut x = LEFT;
    for &workload in &workloads {
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="46" width="12" height="12" fill="{}"/><text x="{}" y="56">{}</text>"#,
            colour(workload),
            x + 16.0,
            escape(workload.label())
        );
        x += 32.0 + 6.5 * workload.label().chars().count() as f64;
    }

    for (panel, &load) in loads.iter().enumerate() {
        let top = HEADER + panel as f64 * panel_height;
        let values: Vec<f64> = report
            .cells
            .iter()
            .filter(|row| row.cell.load == load)
            .filter_map(|row| row.cpu_us())
            .collect();
        // Five gridlines or so, at round values, with room above the highest bar's label.
        let top_value = values.iter().copied().fold(0.0, f64::max) * 1.08;
        let tick = nice_ceiling(top_value / 5.0);
        let ticks = (top_value / tick).ceil().max(1.0);
        let scale_max = tick * ticks;
        let y_of = |value: f64| top + PANEL_TOP + PLOT_HEIGHT * (1.0 - value / scale_max);
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="{}" font-size="12" font-weight="bold">{}</text>"#,
            top + 16.0,
            escape(&panel_title(report, load))
        );
        // Grid and y axis.
        for i in 0..=ticks as u32 {
            let value = tick * f64::from(i);
            let y = y_of(value);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                width - RIGHT,
                if i == 0 { "#333" } else { "#ddd" },
                LEFT - 6.0,
                y + 4.0,
                axis_label(value)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">µs / request</text>"#,
            top + PANEL_TOP + PLOT_HEIGHT / 2.0
        );
        // Bars.
        for (index, variant) in report.variants.iter().enumerate() {
            let group_x = LEFT + index as f64 * group_width + (group_width - bars_width) / 2.0;
            for (k, &workload) in workloads.iter().enumerate() {
                let cell = crate::plan::Cell { workload, load };
                let Some(value) = report.row(index, cell).and_then(|row| row.cpu_us()) else {
                    continue;
                };
                let x = group_x + k as f64 * BAR;
                let y = y_of(value);
                let bar_height = (top + PANEL_TOP + PLOT_HEIGHT - y).max(0.0);
                let _ = writeln!(
                    svg,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bar_height:.1}" fill="{}"><title>{}</title></rect>"#,
                    BAR - 2.0,
                    colour(workload),
                    escape(&format!(
                        "{} · {} @ {}: {value:.1} µs/request",
                        variant.variant,
                        workload.name(),
                        load.name()
                    ))
                );
                let _ = writeln!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"#,
                    x + (BAR - 2.0) / 2.0,
                    y - 3.0,
                    value_label(value)
                );
            }
            let centre = group_x + bars_width / 2.0;
            let label_y = top + PANEL_TOP + PLOT_HEIGHT + 15.0;
            let _ = writeln!(
                svg,
                r#"<text x="{centre:.1}" y="{label_y:.1}" text-anchor="middle">step {}</text>"#,
                variant.variant.step
            );
            let short = variant.variant.condition.short();
            if !short.is_empty() {
                let _ = writeln!(
                    svg,
                    r##"<text x="{centre:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                    label_y + 13.0,
                    escape(short)
                );
            }
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn panel_title(report: &Report, load: Load) -> String {
    match load {
        Load::Saturation => format!(
            "At saturation ({} connections, closed loop)",
            report.meta.connections
        ),
        Load::FixedRate => format!(
            "At a fixed rate (open loop, {:.0} % of the slowest variant's saturation throughput)",
            report.meta.rate_fraction * 100.0
        ),
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `value` (at least 0.1).
pub fn nice_ceiling(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.1 {
        return 0.1;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|&nice| nice >= value)
        .unwrap_or(10.0 * magnitude)
}

fn axis_label(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn value_label(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// XML text escaping.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 0.1);
        assert_eq!(nice_ceiling(f64::NAN), 0.1);
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(74.0), 100.0);
        assert_eq!(nice_ceiling(41.0), 50.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(220.0), 250.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
    }

    #[test]
    fn axis_labels_drop_trailing_zeros() {
        assert_eq!(axis_label(0.0), "0");
        assert_eq!(axis_label(0.25), "0.25");
        assert_eq!(axis_label(2.5), "2.5");
        assert_eq!(axis_label(100.0), "100");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("a < b & \"c\" > d"),
            "a &lt; b &amp; &quot;c&quot; &gt; d"
        );
    }
}
