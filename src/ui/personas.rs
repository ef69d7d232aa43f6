//! The persona picker: one button per persona (a radio group to assistive technology), with the
//! selected one's description.

use ashley_proxy::api::PersonaInfo;
use egui::RichText;

use super::{Command, record_widget};
use crate::theme::Palette;

pub fn personas_ui(
    ui: &mut egui::Ui,
    palette: &Palette,
    personas: &[PersonaInfo],
    selected: &str,
    load_error: Option<&str>,
    commands: &mut Vec<Command>,
) {
    // One of several: a radio group named "Persona", each persona a radio button, so screen
    // readers say "Persona, Technical Expert, radio button, 2 of 3, checked".
    ui.horizontal_wrapped(|ui| {
        let group = egui::UiBuilder::new()
            .layout(*ui.layout())
            .accessibility_role(egui::accesskit::Role::RadioGroup)
            .accessibility_label("Persona");
        ui.scope_builder(group, |ui| {
            ui.label(RichText::new("Persona:").color(palette.muted));
            for persona in personas {
                let is_selected = persona.id == selected;
                let response = ui
                    .selectable_label(is_selected, &persona.name)
                    .on_hover_text(&persona.description);
                response.widget_info(|| {
                    egui::WidgetInfo::selected(
                        egui::Role::RadioButton,
                        true,
                        is_selected,
                        &persona.name,
                    )
                });
                record_widget(|| format!("persona:{}", persona.id), response.rect);
                if response.clicked() && !is_selected {
                    commands.push(Command::SelectPersona(persona.id.clone()));
                }
            }
        });
    });
    if let Some(persona) = personas.iter().find(|p| p.id == selected) {
        ui.label(
            RichText::new(&persona.description)
                .small()
                .color(palette.muted),
        );
    }
    if let Some(error) = load_error {
        ui.label(
            RichText::new(format!("Could not load the persona descriptions: {error}"))
                .small()
                .color(palette.warning_text),
        );
    }
}

/// The personas to offer before the proxy has answered (or when it cannot).
pub fn fallback_personas() -> Vec<PersonaInfo> {
    [
        ("ashley", "Ashley"),
        ("technical", "Technical Expert"),
        ("creative", "Creative Writer"),
    ]
    .into_iter()
    .map(|(id, name)| PersonaInfo {
        id: id.to_owned(),
        name: name.to_owned(),
        description: "The description appears once the proxy answers.".to_owned(),
        temperature: 0.7,
        max_tokens: 1000,
    })
    .collect()
}
