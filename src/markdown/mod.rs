//! Replies as markdown, parsed once per message version and cached (not re-parsed each frame).
//!
//! `CommonMarkViewer::show` (egui_commonmark 0.26) takes the source text and runs pulldown_cmark
//! over it on every call, and the crate has no entry point for pre-parsed events. So the app
//! parses each message once into a [`parse::Document`], keeps it here keyed by the message's id,
//! and draws it with egui_commonmark's own building blocks (`egui_commonmark_backend`: code
//! blocks with highlighting and a copy button, block quotes). A streaming reply re-parses only
//! when a delta changed its text; every other visible message costs a string comparison.

pub mod parse;
mod render;

use std::collections::HashMap;
use std::sync::Arc;

use egui::text::LayoutJob;
use egui_commonmark::CommonMarkCache;
use egui_commonmark_backend::CommonMarkOptions;

pub use parse::{Block, Document, Inline};

/// Cached entries untouched for this many frames go once the cache holds more than
/// [`KEEP_ENTRIES`] (a 10,000-message scroll-through must not keep every reply parsed).
const STALE_AFTER_FRAMES: u64 = 600;
const KEEP_ENTRIES: usize = 512;

struct Entry {
    /// The text this entry was parsed from: a different text (a streamed delta, a regenerated
    /// reply) means parse again.
    source: String,
    document: Document,
    /// Text runs turned into layout jobs for [`Entry::jobs_style`]; egui's galley cache then
    /// keeps their layout between frames.
    jobs: Vec<Arc<LayoutJob>>,
    jobs_style: u64,
    last_used: u64,
}

/// Parsed replies by message id, plus egui_commonmark's cache for code blocks.
#[derive(Default)]
pub struct MarkdownCache {
    entries: HashMap<u64, Entry>,
    backend: CommonMarkCache,
    options: CommonMarkOptions<'static>,
    frame: u64,
    parses: u64,
    /// Something shown used the monospace font (code): the web build then fetches Hack.
    pub saw_code: bool,
}

impl MarkdownCache {
    /// How many times markdown has been parsed since start (tests check it stays flat while
    /// nothing changes).
    pub fn parse_count(&self) -> u64 {
        self.parses
    }

    /// Call once per frame before showing messages: ages and trims the cache.
    pub fn begin_frame(&mut self) {
        self.frame += 1;
        if self.entries.len() > KEEP_ENTRIES {
            let frame = self.frame;
            self.entries
                .retain(|_, entry| frame.saturating_sub(entry.last_used) < STALE_AFTER_FRAMES);
        }
    }

    /// Shows message `id` with text `source`, parsing it only if it is new or changed.
    pub fn show(&mut self, ui: &mut egui::Ui, id: u64, source: &str) {
        let frame = self.frame;
        let style_key = render::style_key(ui.style());
        let entry = match self.entries.entry(id) {
            std::collections::hash_map::Entry::Occupied(occupied) => {
                let entry = occupied.into_mut();
                if entry.source != source {
                    entry.source.clear();
                    entry.source.push_str(source);
                    entry.document = parse::parse(source);
                    entry.jobs.clear();
                    self.parses += 1;
                }
                entry
            }
            std::collections::hash_map::Entry::Vacant(vacant) => {
                self.parses += 1;
                vacant.insert(Entry {
                    source: source.to_owned(),
                    document: parse::parse(source),
                    jobs: Vec::new(),
                    jobs_style: style_key,
                    last_used: frame,
                })
            }
        };
        entry.last_used = frame;
        if entry.jobs_style != style_key {
            entry.jobs.clear();
            entry.jobs_style = style_key;
        }
        let mut renderer = render::Renderer {
            jobs: &mut entry.jobs,
            next_job: 0,
            backend: &mut self.backend,
            options: &self.options,
            saw_code: false,
        };
        renderer.blocks(ui, &entry.document.blocks, 0);
        self.saw_code |= renderer.saw_code;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs one frame of a bare context, showing the messages `ids` (each with its own text).
    fn frame(ctx: &egui::Context, cache: &mut MarkdownCache, ids: std::ops::Range<u64>) {
        let mut output = ctx.run_ui(egui::RawInput::default(), |ui| {
            cache.begin_frame();
            for id in ids.clone() {
                cache.show(ui, id, &format!("message **{id}**"));
            }
        });
        // No renderer here: the font atlas updates are dropped on purpose.
        output.textures_delta.clear();
    }

    #[test]
    fn messages_scrolled_past_are_dropped_once_the_cache_is_full() {
        let ctx = egui::Context::default();
        let mut cache = MarkdownCache::default();
        let scrolled_past = u64::try_from(KEEP_ENTRIES).unwrap_or(u64::MAX) + 100;
        frame(&ctx, &mut cache, 0..scrolled_past);
        assert_eq!(cache.entries.len() as u64, scrolled_past);
        for _ in 0..STALE_AFTER_FRAMES {
            frame(&ctx, &mut cache, 0..3);
        }
        assert_eq!(
            cache.entries.len(),
            3,
            "only the messages still shown stay parsed"
        );
        assert_eq!(
            cache.parse_count(),
            scrolled_past,
            "shown messages were not re-parsed"
        );
    }
}
