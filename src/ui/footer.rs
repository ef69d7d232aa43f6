//! The footer line.

use egui::RichText;

use crate::theme::Palette;

pub fn footer_ui(ui: &mut egui::Ui, palette: &Palette) {
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new("Ashley AI · made with egui · replies can be wrong, check what matters")
                .small()
                .color(palette.muted),
        );
    });
}
