//! The two themes in the spec's palette: deep slate dark, and a light one, same accents.

use egui::{Color32, CornerRadius, Stroke, Visuals};

use crate::state::ThemeChoice;

/// The colours the panels use directly, beyond egui's own visuals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Palette {
    pub background: Color32,
    pub surface: Color32,
    pub user_bubble: Color32,
    pub text: Color32,
    pub muted: Color32,
    pub accent: Color32,
    pub accent_end: Color32,
    pub error_bg: Color32,
    pub error_text: Color32,
    pub warning_text: Color32,
    pub good: Color32,
}

const BLUE: Color32 = Color32::from_rgb(0x3b, 0x82, 0xf6);
const VIOLET: Color32 = Color32::from_rgb(0x8b, 0x5c, 0xf6);

impl Palette {
    pub fn of(theme: ThemeChoice) -> Self {
        match theme {
            ThemeChoice::Dark => Self {
                background: Color32::from_rgb(0x0f, 0x17, 0x2a),
                surface: Color32::from_rgb(0x1e, 0x29, 0x3b),
                user_bubble: Color32::from_rgb(0x1e, 0x3a, 0x8a),
                text: Color32::from_rgb(0xe2, 0xe8, 0xf0),
                muted: Color32::from_rgb(0x64, 0x74, 0x8b),
                accent: BLUE,
                accent_end: VIOLET,
                error_bg: Color32::from_rgb(0x45, 0x1a, 0x1f),
                error_text: Color32::from_rgb(0xfc, 0xa5, 0xa5),
                warning_text: Color32::from_rgb(0xfc, 0xd3, 0x4d),
                good: Color32::from_rgb(0x4a, 0xde, 0x80),
            },
            ThemeChoice::Light => Self {
                background: Color32::from_rgb(0xf8, 0xfa, 0xfc),
                surface: Color32::from_rgb(0xff, 0xff, 0xff),
                user_bubble: Color32::from_rgb(0xdb, 0xea, 0xfe),
                text: Color32::from_rgb(0x0f, 0x17, 0x2a),
                muted: Color32::from_rgb(0x64, 0x74, 0x8b),
                accent: BLUE,
                accent_end: VIOLET,
                error_bg: Color32::from_rgb(0xfe, 0xe2, 0xe2),
                error_text: Color32::from_rgb(0x99, 0x1b, 0x1b),
                warning_text: Color32::from_rgb(0x92, 0x40, 0x0e),
                good: Color32::from_rgb(0x15, 0x80, 0x3d),
            },
        }
    }

    /// egui's visuals recoloured with this palette.
    pub fn visuals(&self, theme: ThemeChoice) -> Visuals {
        let mut visuals = match theme {
            ThemeChoice::Dark => Visuals::dark(),
            ThemeChoice::Light => Visuals::light(),
        };
        visuals.panel_fill = self.background;
        visuals.window_fill = self.surface;
        visuals.faint_bg_color = self.surface;
        visuals.extreme_bg_color = match theme {
            ThemeChoice::Dark => Color32::from_rgb(0x0b, 0x12, 0x20),
            ThemeChoice::Light => Color32::from_rgb(0xf1, 0xf5, 0xf9),
        };
        visuals.code_bg_color = visuals.extreme_bg_color;
        // Not `override_text_color`: it would also repaint links and highlighted code.
        visuals.widgets.noninteractive.fg_stroke.color = self.text;
        visuals.widgets.inactive.fg_stroke.color = self.text;
        visuals.hyperlink_color = match theme {
            ThemeChoice::Dark => Color32::from_rgb(0x93, 0xc5, 0xfd),
            ThemeChoice::Light => Color32::from_rgb(0x1d, 0x4e, 0xd8),
        };
        visuals.selection.bg_fill = self.accent.gamma_multiply(0.45);
        visuals.selection.stroke = Stroke::new(1.0, self.text);
        visuals.widgets.noninteractive.bg_stroke = Stroke::new(1.0, self.muted.gamma_multiply(0.4));
        visuals.widgets.inactive.weak_bg_fill = self.surface;
        visuals.widgets.inactive.bg_fill = self.surface;
        visuals.widgets.hovered.weak_bg_fill = self.accent.gamma_multiply(0.35);
        visuals.widgets.active.weak_bg_fill = self.accent.gamma_multiply(0.6);
        for widget in [
            &mut visuals.widgets.inactive,
            &mut visuals.widgets.hovered,
            &mut visuals.widgets.active,
        ] {
            widget.corner_radius = CornerRadius::same(6);
        }
        visuals.error_fg_color = self.error_text;
        visuals.warn_fg_color = self.warning_text;
        visuals
    }

    /// The colour at `t` (0..=1) along the blue-to-violet accent gradient.
    pub fn accent_at(&self, t: f32) -> Color32 {
        self.accent
            .lerp_to_gamma(self.accent_end, t.clamp(0.0, 1.0))
    }
}

/// Applies the theme to the context (cheap; the app calls it only when the choice changes).
pub fn apply(ctx: &egui::Context, theme: ThemeChoice) {
    let palette = Palette::of(theme);
    let egui_theme = match theme {
        ThemeChoice::Dark => egui::Theme::Dark,
        ThemeChoice::Light => egui::Theme::Light,
    };
    ctx.set_theme(egui_theme);
    ctx.set_visuals_of(egui_theme, palette.visuals(theme));
}
