//! The web app's fonts: the text font compiled in, the rest fetched after start-up.
//!
//! Natively egui bundles all of its fonts (`default_fonts` + `monochrome_emoji_fonts`). On the
//! web, Hack and the two emoji fonts would add about 540 KB (brotli) to the first load, so the
//! bundle ships them under `fonts/` (assets/fonts, copied by index.html) and the app adds them as
//! soon as they arrive: until then code shows in the text font and emoji as boxes, for a moment.

use std::sync::{Arc, Mutex};

use egui::{FontData, FontFamily, FontInsert, FontPriority, FontTweak, InsertFontFamily};

/// A font the web bundle ships under `fonts/`, in the place egui's defaults give it.
struct DeferredFont {
    /// The name egui's own `FontDefinitions` give the font.
    name: &'static str,
    path: &'static str,
    /// The size egui's defaults give it, so web and native look the same.
    scale: f32,
    families: &'static [(FontFamily, FontPriority)],
}

const BOTH_LAST: &[(FontFamily, FontPriority)] = &[
    (FontFamily::Proportional, FontPriority::Lowest),
    (FontFamily::Monospace, FontPriority::Lowest),
];

/// Added in this order, which gives egui's native fallback chains: Hack heads Monospace;
/// NotoEmoji, then emoji-icon-font for what it lacks, end both families.
const DEFERRED_FONTS: [DeferredFont; 3] = [
    DeferredFont {
        name: "Hack",
        path: "fonts/Hack-Regular.ttf",
        scale: 1.0,
        families: &[(FontFamily::Monospace, FontPriority::Highest)],
    },
    DeferredFont {
        name: "NotoEmoji-Regular",
        path: "fonts/NotoEmoji-Regular.ttf",
        scale: 0.81,
        families: BOTH_LAST,
    },
    DeferredFont {
        name: "emoji-icon-font",
        path: "fonts/emoji-icon-font.ttf",
        scale: 0.90,
        families: BOTH_LAST,
    },
];

/// Installs the compiled-in fonts (Ubuntu-Light for all text, egui-icons for
/// `egui::special_emojis`) so the first frame has text, then fetches the others.
#[cfg(target_arch = "wasm32")]
pub fn install(ctx: &egui::Context, base_url: &str) {
    let mut definitions = egui::FontDefinitions::empty();
    let embedded = [
        (
            "Ubuntu-Light",
            FontData::from_static(include_bytes!("../assets/embedded-fonts/Ubuntu-Light.ttf")),
        ),
        (
            "egui-icons",
            FontData::from_static(include_bytes!("../assets/embedded-fonts/egui-icons.ttf")).tweak(
                FontTweak {
                    scale: 0.90,
                    ..Default::default()
                },
            ),
        ),
    ];
    for (name, data) in embedded {
        definitions
            .font_data
            .insert(name.to_owned(), Arc::new(data));
    }
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        definitions.families.insert(
            family,
            vec!["Ubuntu-Light".to_owned(), "egui-icons".to_owned()],
        );
    }
    ctx.set_fonts(definitions);
    load_deferred(ctx, base_url);
}

/// One slot per font: `None` while it is loading, then its bytes (or nothing if it failed).
type Arrivals = Arc<Mutex<Vec<Option<Option<Vec<u8>>>>>>;

/// Fetches the deferred fonts from `base_url` (empty: the page's own origin), all at once, and
/// adds them together, in [`DEFERRED_FONTS`] order, once every request is done.
pub fn load_deferred(ctx: &egui::Context, base_url: &str) {
    let arrivals: Arrivals = Arc::new(Mutex::new(vec![None; DEFERRED_FONTS.len()]));
    for (slot, font) in DEFERRED_FONTS.iter().enumerate() {
        let url = if base_url.is_empty() {
            font.path.to_owned()
        } else {
            format!("{base_url}/{}", font.path)
        };
        let ctx = ctx.clone();
        let arrivals = Arc::clone(&arrivals);
        ehttp::fetch(ehttp::Request::get(&url), move |result| {
            let bytes = match result {
                Ok(response) if response.ok => Some(response.bytes),
                Ok(response) => {
                    log::warn!("font {url}: HTTP {}", response.status);
                    None
                }
                Err(err) => {
                    log::warn!("font {url}: {err}");
                    None
                }
            };
            let Ok(mut arrived) = arrivals.lock() else {
                return;
            };
            if let Some(entry) = arrived.get_mut(slot) {
                *entry = Some(bytes);
            }
            if arrived.iter().all(Option::is_some) {
                add_fonts(&ctx, arrived.drain(..).map(Option::flatten));
            }
        });
    }
}

/// Adds the fonts that arrived, in [`DEFERRED_FONTS`] order.
fn add_fonts(ctx: &egui::Context, fetched: impl Iterator<Item = Option<Vec<u8>>>) {
    for (font, bytes) in DEFERRED_FONTS.iter().zip(fetched) {
        let Some(bytes) = bytes else { continue };
        let data = FontData::from_owned(bytes).tweak(FontTweak {
            scale: font.scale,
            ..Default::default()
        });
        let families = font
            .families
            .iter()
            .map(|(family, priority)| InsertFontFamily {
                family: family.clone(),
                priority: *priority,
            })
            .collect();
        ctx.add_font(FontInsert::new(font.name, data, families));
    }
    ctx.request_repaint();
}
