//! The About panel: the personas, what the app does, and how to use it.

use ashley_proxy::api::PersonaInfo;
use egui::RichText;

use crate::theme::Palette;

pub fn about_ui(ui: &mut egui::Ui, palette: &Palette, personas: &[PersonaInfo]) {
    ui.heading("About");
    ui.label("Ashley is a chat assistant with three personalities.");
    ui.add_space(4.0);
    ui.label(RichText::new("Personas").strong());
    for persona in personas {
        ui.label(format!("• {}: {}", persona.name, persona.description));
    }
    ui.add_space(4.0);
    ui.label(RichText::new("Features").strong());
    for feature in [
        "💬 Replies stream in as they are written",
        "📝 Markdown: lists, tables, code with highlighting",
        "💾 Your conversation is kept across reloads",
        "🛡 Messages are checked by moderation first",
    ] {
        ui.label(feature);
    }
    ui.add_space(4.0);
    ui.label(RichText::new("Tips").strong());
    for tip in [
        "Enter sends, Shift+Enter starts a new line.",
        "⏹ Stop keeps what was written so far.",
        "🔄 Regenerate asks again, with the persona now selected.",
        "📝 New chat (Ctrl+Shift+O) starts a fresh conversation; the others stay in the list.",
        "Ctrl+K searches every conversation.",
    ] {
        ui.label(RichText::new(tip).color(palette.muted));
    }
}
