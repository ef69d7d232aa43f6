//! The header: the gradient "Ashley AI" title, the tagline, the theme, sidebar and (narrow)
//! conversation list switches.

use egui::{Align, Layout, RichText};

use super::{Command, record_widget};
use crate::state::ThemeChoice;
use crate::theme::Palette;

pub const TITLE: &str = "Ashley AI";
pub const TAGLINE: &str = "Your intelligent AI assistant powered by advanced language models";

pub fn header_ui(
    ui: &mut egui::Ui,
    palette: &Palette,
    theme: ThemeChoice,
    narrow: bool,
    list_folded: bool,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        gradient_title_ui(ui, palette);
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            if narrow
                && ui
                    .button("☰ Info")
                    .on_hover_text("About and status")
                    .clicked()
            {
                commands.push(Command::ToggleSidebar);
            }
            if list_folded {
                let button = ui
                    .button("☰ Conversations")
                    .on_hover_text("Your conversations and search");
                record_widget(|| "conversations_button".to_owned(), button.rect);
                if button.clicked() {
                    commands.push(Command::ToggleConversations);
                }
            }
            let (icon, hint) = match theme {
                ThemeChoice::Dark => ("☀ Light", "Switch to the light theme"),
                ThemeChoice::Light => ("🌙 Dark", "Switch to the dark theme"),
            };
            if ui.button(icon).on_hover_text(hint).clicked() {
                commands.push(Command::ToggleTheme);
            }
        });
    });
    ui.label(RichText::new(TAGLINE).color(palette.muted));
}

/// Paints the title one letter at a time along the blue-to-violet gradient.
fn gradient_title_ui(ui: &mut egui::Ui, palette: &Palette) {
    let font = egui::FontId::proportional(26.0);
    let mut job = egui::text::LayoutJob::default();
    let letters = TITLE.chars().count().max(2) - 1;
    for (index, letter) in TITLE.chars().enumerate() {
        let color = palette.accent_at(index as f32 / letters as f32);
        let format = egui::TextFormat::simple(font.clone(), color);
        job.append(letter.encode_utf8(&mut [0; 4]), 0.0, format);
    }
    ui.add(egui::Label::new(job).selectable(false))
        .on_hover_text("Ashley AI");
}
