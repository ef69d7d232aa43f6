//! The composer: multiline input (Enter sends, Shift+Enter breaks the line), Send/Stop, New chat.

use ashley_proxy::api::MAX_MESSAGE_CHARS;
use egui::{Key, KeyboardShortcut, Modifiers, RichText};

use super::{Command, record_widget};
use crate::theme::Palette;

pub const COMPOSER_HINT: &str = "Type your message… (Enter sends, Shift+Enter for a new line)";

pub fn composer_id() -> egui::Id {
    egui::Id::unique("ashley_composer")
}

/// Whether `text` can be sent at all (the button and Enter both check it).
pub fn can_send(text: &str) -> bool {
    !text.trim().is_empty() && text.chars().count() <= MAX_MESSAGE_CHARS
}

/// Where the reply stands, as the composer shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyState {
    Idle,
    Replying,
    /// Stop was pressed; the proxy has not yet said the reply ended.
    Stopping,
}

pub fn composer_ui(
    ui: &mut egui::Ui,
    palette: &Palette,
    text: &mut String,
    reply: ReplyState,
    can_start_new: bool,
    commands: &mut Vec<Command>,
) {
    let sending = reply != ReplyState::Idle;
    let sendable = can_send(text) && !sending;
    let output = egui::TextEdit::multiline(text)
        .id(composer_id())
        .hint_text(COMPOSER_HINT)
        .desired_rows(2)
        .desired_width(f32::INFINITY)
        .return_key(KeyboardShortcut::new(Modifiers::SHIFT, Key::Enter))
        .show(ui);
    record_widget(|| "composer".to_owned(), output.response.rect);
    let enter_pressed = output.response.has_focus()
        && ui.input(|input| input.key_pressed(Key::Enter) && !input.modifiers.shift);
    if enter_pressed && sendable {
        commands.push(Command::Send);
    }

    ui.horizontal(|ui| {
        if sending {
            let (hover, status) = if reply == ReplyState::Stopping {
                (
                    "Stop waiting for the server and keep what arrived",
                    "Stopping…",
                )
            } else {
                (
                    "Stop the reply and keep what arrived",
                    "Ashley is replying…",
                )
            };
            let stop = ui.button("⏹ Stop").on_hover_text(hover);
            record_widget(|| "stop".to_owned(), stop.rect);
            if stop.clicked() {
                commands.push(Command::Stop);
            }
            ui.spinner();
            ui.label(RichText::new(status).color(palette.muted));
        }
        let send = ui.add_enabled(
            sendable,
            egui::Button::new(RichText::new("▶ Send").color(egui::Color32::WHITE))
                .fill(palette.accent),
        );
        record_widget(|| "send".to_owned(), send.rect);
        if send.clicked() {
            commands.push(Command::Send);
        }
        // Was "Clear conversation": the conversation now stays in the list.
        let new_chat = ui
            .add_enabled(can_start_new, egui::Button::new("📝 New chat"))
            .on_hover_text("Start a new conversation; this one stays in the list");
        record_widget(|| "clear".to_owned(), new_chat.rect);
        if new_chat.clicked() {
            commands.push(Command::NewChat);
        }
        let count = text.chars().count();
        if count > MAX_MESSAGE_CHARS * 9 / 10 {
            let color = if count > MAX_MESSAGE_CHARS {
                palette.error_text
            } else {
                palette.muted
            };
            ui.label(RichText::new(format!("{count}/{MAX_MESSAGE_CHARS}")).color(color));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_blank_text_within_the_limit_can_be_sent() {
        assert!(!can_send("  \n "));
        assert!(can_send("hi"));
        assert!(!can_send(&"x".repeat(MAX_MESSAGE_CHARS + 1)));
    }
}
