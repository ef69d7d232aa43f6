//! The System Status panel: reachability, mode, model, moderation, counters and a latency chart.

use ashley_proxy::api::{Health, Mode, Status};
use egui::RichText;

use super::Command;
use crate::theme::Palette;

/// What the panel shows: the last answer, or why there is none.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum StatusView {
    #[default]
    Loading,
    Ready(Box<Status>),
    Unreachable(String),
}

pub fn status_ui(
    ui: &mut egui::Ui,
    palette: &Palette,
    view: &StatusView,
    refreshing: bool,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.heading("System Status");
        let refresh = ui.add_enabled(!refreshing, egui::Button::new("🔄 Refresh"));
        if refresh.clicked() {
            commands.push(Command::RefreshStatus);
        }
        if refreshing {
            ui.spinner();
        }
    });
    match view {
        StatusView::Loading => {
            ui.label(RichText::new("Asking the proxy…").color(palette.muted));
        }
        StatusView::Unreachable(reason) => {
            ui.label(RichText::new("❌ Proxy unreachable").color(palette.error_text));
            ui.label(RichText::new(reason).small().color(palette.muted));
        }
        StatusView::Ready(status) => status_details_ui(ui, palette, status),
    }
}

fn status_details_ui(ui: &mut egui::Ui, palette: &Palette, status: &Status) {
    let (health, health_color) = match status.health {
        Health::Healthy => ("✅ Healthy", palette.good),
        Health::Degraded => ("⚠ Degraded", palette.warning_text),
    };
    ui.label(RichText::new(format!("{health} · proxy reachable")).color(health_color));
    let mode = match status.mode {
        Mode::Live => "Live (real model)",
        Mode::Demo => "Demo (offline answers, no API key)",
    };
    egui::Grid::new("status_grid")
        .num_columns(2)
        .spacing([12.0, 2.0])
        .show(ui, |ui| {
            let mut row = |name: &str, value: String| {
                ui.label(RichText::new(name).color(palette.muted));
                ui.label(value);
                ui.end_row();
            };
            row("Mode", mode.to_owned());
            row("Model", status.model.clone());
            row("Moderation", status.moderation.clone());
            row("Uptime", format_uptime(status.uptime_secs));
            row("Requests", status.requests.to_string());
            row(
                "Error rate",
                format!(
                    "{:.1} % ({} errors)",
                    status.error_rate * 100.0,
                    status.errors
                ),
            );
            let upstream = match status.upstream_reachable {
                Some(true) => "reachable",
                Some(false) => "unreachable",
                None => "not checked yet",
            };
            row("Upstream", upstream.to_owned());
            row("Version", status.version.clone());
        });
    latency_chart_ui(ui, palette, &status.recent_latencies_ms);
}

fn latency_chart_ui(ui: &mut egui::Ui, palette: &Palette, latencies_ms: &[u64]) {
    ui.label(
        RichText::new("Recent reply latency")
            .small()
            .color(palette.muted),
    );
    if latencies_ms.is_empty() {
        ui.label(
            RichText::new("No replies yet: the chart fills in as replies arrive.")
                .small()
                .color(palette.muted),
        );
        return;
    }
    // Replies are numbered from 1, oldest first, so the axis reads "reply 1, 2, 3".
    let points: Vec<[f64; 2]> = (1..)
        .zip(latencies_ms)
        .map(|(reply, &ms)| [f64::from(reply), ms as f64])
        .collect();
    let count = points.len() as f64;
    let highest = latencies_ms.iter().copied().max().unwrap_or(0) as f64;
    egui_plot::Plot::new("latency_plot")
        .height(110.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .x_axis_label("reply")
        .y_axis_label("ms")
        // Half a reply of room either side, so one or two points are not on the frame.
        .include_x(0.5)
        .include_x(count + 0.5)
        .include_y(0.0)
        .include_y((highest * 1.15).max(10.0))
        .x_grid_spacer(reply_marks)
        .y_grid_spacer(millisecond_marks)
        .x_axis_formatter(|mark, _| whole_number(mark.value))
        .y_axis_formatter(|mark, _| whole_number(mark.value))
        .label_formatter(|hover| match hover {
            egui_plot::HoverPosition::NearDataPoint { position, .. } => {
                Some(format!("reply {:.0}: {:.0} ms", position.x, position.y))
            }
            egui_plot::HoverPosition::Elsewhere { .. } => None,
        })
        .show(ui, |plot_ui| {
            plot_ui.line(egui_plot::Line::new("latency", points.clone()).color(palette.accent));
            plot_ui.points(
                egui_plot::Points::new("latency", points)
                    .radius(3.0)
                    .color(palette.accent),
            );
        });
}

/// Grid marks on whole reply numbers only, at most about six of them.
fn reply_marks(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let (min, max) = input.bounds;
    let step = ((max - min) / 6.0).ceil().max(1.0);
    let mut marks = Vec::new();
    let mut reply = min.ceil().max(1.0);
    while reply <= max && marks.len() < 12 {
        if (reply - 1.0) % step == 0.0 {
            marks.push(egui_plot::GridMark {
                value: reply,
                step_size: step,
            });
        }
        reply += 1.0;
    }
    marks
}

/// About three marks on round millisecond values (1, 2 or 5 times a power of ten).
fn millisecond_marks(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let (min, max) = input.bounds;
    let rough = ((max - min) / 3.0).max(1.0);
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power);
    let mut marks = Vec::new();
    let mut value = (min / step).ceil().max(0.0) * step;
    while value <= max && marks.len() < 8 {
        marks.push(egui_plot::GridMark {
            value,
            step_size: step,
        });
        value += step;
    }
    marks
}

/// `3` for 3.0; nothing for 2.5, so no axis shows a fractional reply or millisecond.
fn whole_number(value: f64) -> String {
    if value.abs() < 1e-6 {
        "0".to_owned() // not "-0"
    } else if value.fract().abs() < 1e-6 && value > 0.0 {
        format!("{value:.0}")
    } else {
        String::new()
    }
}

/// `3 d 4 h`, `2 h 5 min`, `42 s`.
pub fn format_uptime(secs: u64) -> String {
    let (days, hours, minutes) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes} min")
    } else if minutes > 0 {
        format!("{minutes} min {} s", secs % 60)
    } else {
        format!("{secs} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latency_axes_show_whole_numbers_only() {
        assert_eq!(whole_number(2.0), "2");
        assert_eq!(whole_number(2.5), "");
        assert_eq!(whole_number(-0.0), "0");
        let marks: Vec<f64> = reply_marks(egui_plot::GridInput {
            bounds: (0.45, 2.55),
            base_step_size: 0.01,
        })
        .iter()
        .map(|mark| mark.value)
        .collect();
        assert_eq!(marks, [1.0, 2.0]);
        let marks: Vec<f64> = millisecond_marks(egui_plot::GridInput {
            bounds: (-30.0, 700.0),
            base_step_size: 1.0,
        })
        .iter()
        .map(|mark| mark.value)
        .collect();
        assert_eq!(marks, [0.0, 500.0]);
    }

    #[test]
    fn uptime_reads_in_the_largest_units() {
        assert_eq!(format_uptime(42), "42 s");
        assert_eq!(format_uptime(125), "2 min 5 s");
        assert_eq!(format_uptime(7500), "2 h 5 min");
        assert_eq!(format_uptime(90_000), "1 d 1 h");
    }
}
