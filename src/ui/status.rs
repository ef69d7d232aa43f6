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
        RichText::new("Recent reply latency (ms)")
            .small()
            .color(palette.muted),
    );
    if latencies_ms.is_empty() {
        ui.label(
            RichText::new("No replies yet.")
                .small()
                .color(palette.muted),
        );
        return;
    }
    let points: Vec<[f64; 2]> = latencies_ms
        .iter()
        .enumerate()
        .map(|(index, &ms)| [index as f64, ms as f64])
        .collect();
    egui_plot::Plot::new("latency_plot")
        .height(90.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_x(false)
        .include_y(0.0)
        .show(ui, |plot_ui| {
            plot_ui.line(egui_plot::Line::new("latency", points).color(palette.accent));
        });
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
    fn uptime_reads_in_the_largest_units() {
        assert_eq!(format_uptime(42), "42 s");
        assert_eq!(format_uptime(125), "2 min 5 s");
        assert_eq!(format_uptime(7500), "2 h 5 min");
        assert_eq!(format_uptime(90_000), "1 d 1 h");
    }
}
