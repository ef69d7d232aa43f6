//! The Admin panel, for the users the operator lists in `ASHLEY_ADMINS`: messages, tokens and
//! active users per day, latency and errors, use by persona and by user as plots and tables;
//! block a user, revoke anyone's API key.

use ashley_proxy::{
    api::{AdminDay, AdminKey, AdminReport, AdminUser, MAX_ADMIN_DAYS},
    calendar::civil_date,
};
use egui::RichText;

use super::{Command, record_widget};
use crate::theme::Palette;

/// The periods on offer, in days.
pub const PERIODS: [u32; 4] = [7, 14, 30, MAX_ADMIN_DAYS];

/// What the panel shows and what is under way.
#[derive(Debug)]
pub struct AdminView {
    pub open: bool,
    /// The period asked for.
    pub days: u32,
    pub report: Option<AdminReport>,
    /// A request is under way.
    pub loading: bool,
    /// The last failure, in words.
    pub error: Option<String>,
    /// Block was pressed once for this user; the second press blocks.
    pub confirm_block: Option<i64>,
}

impl Default for AdminView {
    fn default() -> Self {
        Self {
            open: false,
            days: 14,
            report: None,
            loading: false,
            error: None,
            confirm_block: None,
        }
    }
}

/// The window, when it is open.
pub fn admin_window(
    ctx: &egui::Context,
    palette: &Palette,
    view: &AdminView,
    commands: &mut Vec<Command>,
) {
    if !view.open {
        return;
    }
    let mut open = true;
    let screen = ctx.content_rect();
    egui::Window::new("Admin")
        .open(&mut open)
        // As tall as the window allows: the plots and tables read best without scrolling.
        .default_size([
            (screen.width() - 16.0).min(720.0),
            (screen.height() - 32.0).max(200.0),
        ])
        .max_size(screen.size() - egui::vec2(16.0, 16.0))
        .constrain(true)
        .scroll([false, true])
        .show(ctx, |ui| admin_ui(ui, palette, view, commands));
    if !open {
        commands.push(Command::CloseAdmin);
    }
}

fn admin_ui(ui: &mut egui::Ui, palette: &Palette, view: &AdminView, commands: &mut Vec<Command>) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Last");
        for days in PERIODS {
            if ui
                .selectable_label(view.days == days, format!("{days} days"))
                .clicked()
                && view.days != days
            {
                commands.push(Command::AdminDays(days));
            }
        }
        if view.loading {
            ui.spinner();
        } else if ui.button("🔄 Refresh").clicked() {
            commands.push(Command::RefreshAdmin);
        }
    });
    if let Some(error) = &view.error {
        ui.label(RichText::new(error).color(palette.error_text));
    }
    let Some(report) = &view.report else {
        if view.error.is_none() {
            ui.label(RichText::new("Loading…").color(palette.muted));
        }
        return;
    };
    totals_ui(ui, palette, report);
    ui.add_space(6.0);
    day_plots(ui, palette, &report.days);
    ui.add_space(6.0);
    personas_ui(ui, palette, report);
    ui.add_space(6.0);
    users_ui(ui, palette, view, &report.users, commands);
    ui.add_space(6.0);
    keys_ui(ui, palette, &report.keys, commands);
}

fn totals_ui(ui: &mut egui::Ui, palette: &Palette, report: &AdminReport) {
    let totals = &report.totals;
    let milliseconds = |value: Option<u64>| value.map_or("–".to_owned(), |ms| format!("{ms} ms"));
    egui::Grid::new("admin_totals")
        .num_columns(4)
        .spacing([16.0, 2.0])
        .show(ui, |ui| {
            ui.label(RichText::new("Messages").color(palette.muted));
            ui.label(grouped(totals.messages));
            ui.label(RichText::new("Tokens").color(palette.muted));
            ui.label(grouped(totals.tokens));
            ui.end_row();
            ui.label(RichText::new("Errors").color(palette.muted));
            ui.label(format!(
                "{} ({:.1} %)",
                grouped(totals.errors),
                totals.error_rate() * 100.0
            ));
            ui.label(RichText::new("Refused by moderation").color(palette.muted));
            ui.label(grouped(totals.refused));
            ui.end_row();
            ui.label(RichText::new("Reply time p50 / p95").color(palette.muted));
            ui.label(format!(
                "{} / {}",
                milliseconds(totals.p50_ms),
                milliseconds(totals.p95_ms)
            ));
            ui.label(RichText::new("First token p50").color(palette.muted));
            ui.label(milliseconds(totals.ttft_p50_ms));
            ui.end_row();
        });
}

/// A plot that only shows (no dragging or zooming: it sits in a scrolling panel) with one
/// column per label, the labels under them and whole numbers up the side, from 0.
fn still_plot<'a>(id: &str, height: f32, labels: Vec<String>) -> egui_plot::Plot<'a> {
    let columns = labels.len() as f64;
    egui_plot::Plot::new(id)
        .height(height)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .include_y(0.0)
        .include_x(-0.5)
        .include_x(columns - 0.5)
        .x_axis_formatter(move |mark, _| {
            let index = mark.value.round();
            if (mark.value - index).abs() > 1e-6 || index < 0.0 {
                return String::new();
            }
            labels.get(index as usize).cloned().unwrap_or_default()
        })
        .y_axis_formatter(|mark, _| whole(mark.value))
}

/// Per day: messages (bars) with active users and errors (lines); tokens; reply time p50 and
/// p95.
fn day_plots(ui: &mut egui::Ui, palette: &Palette, days: &[AdminDay]) {
    let labels: Vec<String> = days.iter().map(|day| day_label(day.start_ms)).collect();
    let series = |value: fn(&AdminDay) -> Option<u64>| -> Vec<[f64; 2]> {
        days.iter()
            .enumerate()
            .filter_map(|(index, day)| value(day).map(|value| [index as f64, value as f64]))
            .collect()
    };
    let bars = |value: fn(&AdminDay) -> u64, shade: f32| -> Vec<egui_plot::Bar> {
        days.iter()
            .enumerate()
            .map(|(index, day)| bar(palette, index, value(day), shade))
            .collect()
    };

    ui.label(RichText::new("Messages, active users and errors per day").strong());
    still_plot("admin_messages", 150.0, labels.clone())
        .legend(egui_plot::Legend::default())
        .show(ui, |plot_ui| {
            plot_ui.bar_chart(
                egui_plot::BarChart::new("messages", bars(|day| day.messages, 0.5))
                    .color(palette.accent_at(0.5)),
            );
            plot_ui.line(
                egui_plot::Line::new("active users", series(|day| Some(day.active_users)))
                    .color(palette.warning_text)
                    .width(2.0),
            );
            plot_ui.line(
                egui_plot::Line::new("errors", series(|day| Some(day.errors)))
                    .color(palette.error_text)
                    .width(2.0),
            );
        });

    ui.label(RichText::new("Tokens per day").strong());
    still_plot("admin_tokens", 120.0, labels.clone()).show(ui, |plot_ui| {
        plot_ui.bar_chart(
            egui_plot::BarChart::new("tokens", bars(|day| day.tokens, 0.3))
                .color(palette.accent_at(0.3)),
        );
    });

    ui.label(RichText::new("Reply time per day (ms)").strong());
    still_plot("admin_latency", 120.0, labels)
        .legend(egui_plot::Legend::default())
        .show(ui, |plot_ui| {
            plot_ui
                .line(egui_plot::Line::new("p50", series(|day| day.p50_ms)).color(palette.accent));
            plot_ui.line(
                egui_plot::Line::new("p95", series(|day| day.p95_ms)).color(palette.warning_text),
            );
        });
}

fn personas_ui(ui: &mut egui::Ui, palette: &Palette, report: &AdminReport) {
    ui.label(RichText::new("By persona").strong());
    if report.personas.is_empty() {
        ui.label(RichText::new("Nothing sent in this period.").color(palette.muted));
        return;
    }
    let bars = report
        .personas
        .iter()
        .enumerate()
        .map(|(index, persona)| {
            bar(palette, index, persona.messages, 0.5)
                .width(0.5)
                .name(&persona.persona)
        })
        .collect();
    let names = report
        .personas
        .iter()
        .map(|persona| persona.persona.clone())
        .collect();
    still_plot("admin_personas", 110.0, names).show(ui, |plot_ui| {
        plot_ui.bar_chart(egui_plot::BarChart::new("messages", bars).color(palette.accent_at(0.5)));
    });
    egui::Grid::new("admin_personas_table")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            for heading in ["Persona", "Messages", "Tokens", "Errors"] {
                ui.label(RichText::new(heading).color(palette.muted));
            }
            ui.end_row();
            for persona in &report.personas {
                ui.label(&persona.persona);
                ui.label(grouped(persona.messages));
                ui.label(grouped(persona.tokens));
                ui.label(grouped(persona.errors));
                ui.end_row();
            }
        });
}

fn user_name(user: &AdminUser) -> String {
    match (&user.name, &user.email) {
        (Some(name), _) => name.clone(),
        (None, Some(email)) => email.clone(),
        (None, None) if user.guest => format!("Guest #{}", user.id),
        (None, None) => format!("User #{}", user.id),
    }
}

fn users_ui(
    ui: &mut egui::Ui,
    palette: &Palette,
    view: &AdminView,
    users: &[AdminUser],
    commands: &mut Vec<Command>,
) {
    ui.label(RichText::new("By user").strong());
    if users.is_empty() {
        ui.label(RichText::new("Nobody yet.").color(palette.muted));
        return;
    }
    egui::Grid::new("admin_users")
        .num_columns(5)
        .striped(true)
        .show(ui, |ui| {
            for heading in ["User", "Messages", "Tokens", "Errors", ""] {
                ui.label(RichText::new(heading).color(palette.muted));
            }
            ui.end_row();
            for user in users {
                let name = user_name(user);
                let mut label = RichText::new(&name);
                if user.blocked {
                    label = label.strikethrough().color(palette.muted);
                }
                let hover = user.email.clone().unwrap_or_else(|| {
                    if user.guest {
                        "A guest (not signed in)".to_owned()
                    } else {
                        "A signed-in user".to_owned()
                    }
                });
                ui.label(label).on_hover_text(hover);
                ui.label(grouped(user.messages));
                ui.label(grouped(user.tokens));
                ui.label(grouped(user.errors));
                ui.horizontal(|ui| {
                    if user.admin {
                        ui.label(RichText::new("admin").small().color(palette.muted));
                    } else if user.blocked {
                        let button = ui.small_button("Unblock");
                        record_widget(|| format!("admin_unblock_{}", user.id), button.rect);
                        if button.clicked() {
                            commands.push(Command::BlockUser(user.id, false));
                        }
                    } else if view.confirm_block == Some(user.id) {
                        let button = ui.small_button(format!("Block {name}"));
                        record_widget(|| format!("admin_confirm_block_{}", user.id), button.rect);
                        if button.clicked() {
                            commands.push(Command::BlockUser(user.id, true));
                        }
                        if ui.small_button("Cancel").clicked() {
                            commands.push(Command::CancelBlock);
                        }
                    } else {
                        let button = ui
                            .small_button("Block…")
                            .on_hover_text("Every sign-in and key of this user stops working");
                        record_widget(|| format!("admin_block_{}", user.id), button.rect);
                        if button.clicked() {
                            commands.push(Command::AskBlock(user.id));
                        }
                    }
                });
                ui.end_row();
            }
        });
}

fn keys_ui(ui: &mut egui::Ui, palette: &Palette, keys: &[AdminKey], commands: &mut Vec<Command>) {
    ui.label(RichText::new("Every user's API keys").strong());
    if keys.is_empty() {
        ui.label(RichText::new("No user has made a key.").color(palette.muted));
        return;
    }
    egui::Grid::new("admin_keys")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            for heading in ["Key", "Owner", "Last used", ""] {
                ui.label(RichText::new(heading).color(palette.muted));
            }
            ui.end_row();
            for key in keys {
                ui.label(&key.name);
                ui.label(
                    key.owner_name
                        .clone()
                        .unwrap_or_else(|| format!("User #{}", key.owner_id)),
                );
                ui.label(key.last_used_ms.map_or("never".to_owned(), day_label));
                let button = ui
                    .small_button("Revoke")
                    .on_hover_text("The key stops working at once");
                record_widget(|| format!("admin_revoke_{}", key.id), button.rect);
                if button.clicked() {
                    commands.push(Command::AdminRevokeKey(key.id.clone()));
                }
                ui.end_row();
            }
        });
}

/// One solid bar at `index`, in the accent's gradient at `shade`.
fn bar(palette: &Palette, index: usize, value: u64, shade: f32) -> egui_plot::Bar {
    let color = palette.accent_at(shade);
    egui_plot::Bar::new(index as f64, value as f64)
        .width(0.7)
        .fill(color.gamma_multiply(0.75))
        .stroke(egui::Stroke::new(1.0, color))
}

/// 12345 as "12,345".
fn grouped(value: u64) -> String {
    super::account::grouped(value)
}

/// Axis labels: whole numbers only.
fn whole(value: f64) -> String {
    if value < 0.0 || (value - value.round()).abs() > 1e-6 {
        String::new()
    } else {
        format!("{value:.0}")
    }
}

/// A day as "Dec 1" (UTC) from ms since the epoch.
pub fn day_label(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, month, day) = civil_date(ms.div_euclid(86_400_000));
    let month = MONTHS.get(month as usize - 1).copied().unwrap_or_default();
    format!("{month} {day}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_labelled_by_month_and_day() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(59), (1970, 3, 1));
        // 2024 is a leap year.
        assert_eq!(civil_date(19_782), (2024, 2, 29));
        assert_eq!(day_label(1_796_083_200_000), "Dec 1");
        assert_eq!(day_label(-1), "Dec 31");
    }

    #[test]
    fn only_whole_numbers_label_an_axis() {
        assert_eq!(whole(3.0), "3");
        assert_eq!(whole(2.5), "");
        assert_eq!(whole(-1.0), "");
    }
}
