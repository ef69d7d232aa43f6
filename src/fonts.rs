//! The app's fonts: egui's, plus a Noto Emoji subset natively; a small set on the web.
//!
//! Natively egui bundles its fonts (`default_fonts` + `monochrome_emoji_fonts`), and
//! [`install_native`] adds assets/emoji/NotoEmoji-Supplement.ttf for the emoji those lack (🤖 🧠
//! 🙂 ...). On the web only Ubuntu-Light and the UI's own symbols (assets/embedded-fonts) are in
//! the wasm: emoji in messages are drawn by eframe's canvas glyph rasterizer with the browser's
//! fonts, and Hack is fetched the first time code is shown ([`DeferredMonospace`]); until then
//! code shows in the text font. scripts/emoji-font.sh builds the subset fonts.

use std::sync::{Arc, Mutex};

use egui::{FontData, FontDefinitions, FontFamily, FontInsert, FontTweak, InsertFontFamily};

/// egui's own size tweaks for its emoji fonts, so symbols look the same on web and native.
const NOTO_EMOJI_SCALE: f32 = 0.81;
const EMOJI_ICONS_SCALE: f32 = 0.90;

/// Adds the emoji egui's bundled fonts lack, after them in both families.
#[cfg(not(target_arch = "wasm32"))]
pub fn install_native(ctx: &egui::Context) {
    let data = FontData::from_static(include_bytes!("../assets/emoji/NotoEmoji-Supplement.ttf"))
        .tweak(FontTweak {
            scale: NOTO_EMOJI_SCALE,
            ..Default::default()
        });
    let families = [FontFamily::Proportional, FontFamily::Monospace]
        .into_iter()
        .map(|family| InsertFontFamily {
            family,
            priority: egui::FontPriority::Lowest,
        })
        .collect();
    ctx.add_font(FontInsert::new("NotoEmoji-Supplement", data, families));
}

/// The fonts the web app starts with: text, the UI's symbols and egui's special icons.
pub fn web_font_definitions() -> FontDefinitions {
    let mut definitions = FontDefinitions::empty();
    let tweak = |scale| FontTweak {
        scale,
        ..Default::default()
    };
    let embedded = [
        (
            "Ubuntu-Light",
            FontData::from_static(include_bytes!("../assets/embedded-fonts/Ubuntu-Light.ttf")),
        ),
        (
            "ui-noto-emoji",
            FontData::from_static(include_bytes!("../assets/embedded-fonts/ui-noto-emoji.ttf"))
                .tweak(tweak(NOTO_EMOJI_SCALE)),
        ),
        (
            "ui-emoji-icons",
            FontData::from_static(include_bytes!(
                "../assets/embedded-fonts/ui-emoji-icons.ttf"
            ))
            .tweak(tweak(EMOJI_ICONS_SCALE)),
        ),
        (
            "egui-icons",
            FontData::from_static(include_bytes!("../assets/embedded-fonts/egui-icons.ttf"))
                .tweak(tweak(EMOJI_ICONS_SCALE)),
        ),
    ];
    let mut order = Vec::new();
    for (name, data) in embedded {
        definitions
            .font_data
            .insert(name.to_owned(), Arc::new(data));
        order.push(name.to_owned());
    }
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        definitions.families.insert(family, order.clone());
    }
    definitions
}

/// Hack, for code on the web: fetched once, the first time the app shows code.
#[derive(Default)]
pub struct DeferredMonospace {
    state: Arc<Mutex<FetchState>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FetchState {
    #[default]
    NotNeeded,
    Loading,
    Added,
    Failed,
}

/// Where the web bundle serves Hack (index.html copies it there).
pub const HACK_PATH: &str = "fonts/Hack-Regular.ttf";

impl DeferredMonospace {
    pub fn state(&self) -> FetchState {
        self.state.lock().map_or(FetchState::Failed, |state| *state)
    }

    /// Starts the fetch from `base_url` (empty: the page's origin) unless it already started.
    pub fn request(&self, ctx: &egui::Context, base_url: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if *state != FetchState::NotNeeded {
            return;
        }
        *state = FetchState::Loading;
        let url = if base_url.is_empty() {
            HACK_PATH.to_owned()
        } else {
            format!("{base_url}/{HACK_PATH}")
        };
        let ctx = ctx.clone();
        let shared = Arc::clone(&self.state);
        ehttp::fetch(ehttp::Request::get(&url), move |result| {
            let outcome = match result {
                Ok(response) if response.ok => {
                    let family = InsertFontFamily {
                        family: FontFamily::Monospace,
                        priority: egui::FontPriority::Highest,
                    };
                    let data = FontData::from_owned(response.bytes);
                    ctx.add_font(FontInsert::new("Hack", data, vec![family]));
                    ctx.request_repaint();
                    FetchState::Added
                }
                Ok(response) => {
                    log::warn!("font {url}: HTTP {}", response.status);
                    FetchState::Failed
                }
                Err(err) => {
                    log::warn!("font {url}: {err}");
                    FetchState::Failed
                }
            };
            if let Ok(mut state) = shared.lock() {
                *state = outcome;
            }
        });
    }
}
