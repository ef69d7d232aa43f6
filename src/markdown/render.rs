//! Draws a parsed [`Document`](super::Document): text runs as cached layout jobs, code blocks
//! and quotes through egui_commonmark's backend (highlighting, copy button).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use egui::text::{LayoutJob, TextFormat};
use egui::{Color32, FontFamily, FontId, Sense, Stroke, TextStyle};
use egui_commonmark::CommonMarkCache;
use egui_commonmark_backend::CommonMarkOptions;
use egui_commonmark_backend::misc::CodeBlock;
use pulldown_cmark::Alignment;

use super::parse::{Block, Inline, Span};

/// Heading sizes relative to body text, h1 to h6.
const HEADING_SCALE: [f32; 6] = [1.6, 1.4, 1.25, 1.1, 1.0, 1.0];
/// Extra space between blocks (paragraphs, lists, code) beyond the row's item spacing.
const BLOCK_GAP: f32 = 4.0;
/// Width of a list item's marker column, in body line heights.
const MARKER_WIDTH: f32 = 1.4;

/// What the layout jobs depend on: a new theme or text size rebuilds them.
pub fn style_key(style: &egui::Style) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let visuals = &style.visuals;
    visuals.dark_mode.hash(&mut hasher);
    for color in [
        visuals.text_color(),
        visuals.strong_text_color(),
        visuals.hyperlink_color,
        visuals.code_bg_color,
    ] {
        color.hash(&mut hasher);
    }
    TextStyle::Body.resolve(style).hash(&mut hasher);
    TextStyle::Monospace.resolve(style).hash(&mut hasher);
    hasher.finish()
}

#[derive(Clone, Copy)]
enum TextKind {
    Body,
    Heading(u8),
    TableHeader,
}

pub struct Renderer<'a> {
    /// Jobs in drawing order; empty after a parse or a style change, then filled as drawn.
    pub jobs: &'a mut Vec<Arc<LayoutJob>>,
    pub next_job: usize,
    pub backend: &'a mut CommonMarkCache,
    pub options: &'a CommonMarkOptions<'static>,
    pub saw_code: bool,
}

impl Renderer<'_> {
    pub fn blocks(&mut self, ui: &mut egui::Ui, blocks: &[Block], depth: usize) {
        for (index, block) in blocks.iter().enumerate() {
            if index > 0 {
                ui.add_space(BLOCK_GAP);
            }
            ui.push_id(index, |ui| self.block(ui, block, depth));
        }
    }

    fn block(&mut self, ui: &mut egui::Ui, block: &Block, depth: usize) {
        match block {
            Block::Paragraph(inline) => self.inline(ui, inline, TextKind::Body),
            Block::Heading { level, text } => {
                ui.add_space(2.0);
                self.inline(ui, text, TextKind::Heading(*level));
            }
            Block::Code { lang, code } => {
                self.saw_code = true;
                let block = CodeBlock {
                    lang: lang.clone(),
                    content: code.clone(),
                    chunks: Vec::new(),
                };
                let width = ui.available_width();
                block.end(ui, self.backend, self.options, width, false, 0.0);
            }
            Block::List { start, items } => self.list(ui, *start, items, depth),
            Block::Quote(blocks) => {
                let accent = ui.visuals().weak_text_color();
                egui_commonmark_backend::elements::blockquote(ui, accent, |ui| {
                    ui.vertical(|ui| self.blocks(ui, blocks, depth));
                });
            }
            Block::Table {
                alignments,
                header,
                rows,
            } => self.table(ui, alignments, header, rows),
            Block::Rule => {
                ui.separator();
            }
        }
    }

    fn list(&mut self, ui: &mut egui::Ui, start: Option<u64>, items: &[Vec<Block>], depth: usize) {
        let marker_width = ui.text_style_height(&TextStyle::Body) * MARKER_WIDTH;
        for (index, item) in items.iter().enumerate() {
            let marker = match start {
                Some(first) => format!("{}.", first + index as u64),
                None if depth.is_multiple_of(2) => "•".to_owned(),
                None => "–".to_owned(),
            };
            ui.push_id(index, |ui| {
                ui.horizontal_top(|ui| {
                    ui.spacing_mut().item_spacing.x = 2.0;
                    let (rect, _) = ui.allocate_exact_size(
                        egui::vec2(marker_width, ui.text_style_height(&TextStyle::Body)),
                        Sense::hover(),
                    );
                    ui.painter().text(
                        rect.right_top() - egui::vec2(4.0, 0.0),
                        egui::Align2::RIGHT_TOP,
                        marker,
                        TextStyle::Body.resolve(ui.style()),
                        ui.visuals().text_color(),
                    );
                    ui.vertical(|ui| self.blocks(ui, item, depth + 1));
                });
            });
        }
    }

    fn table(
        &mut self,
        ui: &mut egui::Ui,
        alignments: &[Alignment],
        header: &[Inline],
        rows: &[Vec<Inline>],
    ) {
        egui::Frame::new()
            .stroke(ui.visuals().widgets.noninteractive.bg_stroke)
            .corner_radius(4)
            .inner_margin(4)
            .show(ui, |ui| {
                egui::Grid::new("table").striped(true).show(ui, |ui| {
                    for cell in header {
                        self.inline(ui, cell, TextKind::TableHeader);
                    }
                    ui.end_row();
                    for row in rows {
                        for (column, cell) in row.iter().enumerate() {
                            let align = alignments.get(column).copied();
                            if align == Some(Alignment::Right) {
                                ui.with_layout(
                                    egui::Layout::right_to_left(egui::Align::Center),
                                    |ui| self.inline(ui, cell, TextKind::Body),
                                );
                            } else {
                                self.inline(ui, cell, TextKind::Body);
                            }
                        }
                        ui.end_row();
                    }
                });
            });
    }

    /// The layout job for the next text run: built once per parse and style, then reused.
    fn job(
        &mut self,
        ui: &egui::Ui,
        inline: &Inline,
        spans: &[Span],
        kind: TextKind,
    ) -> Arc<LayoutJob> {
        let index = self.next_job;
        self.next_job += 1;
        if let Some(job) = self.jobs.get(index) {
            return Arc::clone(job);
        }
        let job = Arc::new(build_job(ui.style(), inline, spans, kind));
        self.jobs.push(Arc::clone(&job));
        job
    }

    fn inline(&mut self, ui: &mut egui::Ui, inline: &Inline, kind: TextKind) {
        if inline.spans.iter().any(|span| span.style.code) {
            self.saw_code = true;
        }
        if inline.links.is_empty() {
            let job = self.job(ui, inline, &inline.spans, kind);
            ui.add(egui::Label::new(job).wrap());
            return;
        }
        // Links are real hyperlinks (clickable, announced as links); egui wraps the runs of a
        // horizontal_wrapped row as one flowing text.
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 0.0;
            for run in inline.spans.chunk_by(|a, b| a.link == b.link) {
                let job = self.job(ui, inline, run, kind);
                let url = run
                    .first()
                    .and_then(|span| span.link)
                    .and_then(|index| inline.links.get(index));
                match url {
                    Some(link) => {
                        ui.add(egui::Hyperlink::from_label_and_url(job, &link.url));
                    }
                    None => {
                        ui.add(egui::Label::new(job).wrap());
                    }
                }
            }
        });
    }
}

fn build_job(style: &egui::Style, inline: &Inline, spans: &[Span], kind: TextKind) -> LayoutJob {
    let visuals = &style.visuals;
    let body = TextStyle::Body.resolve(style);
    let size = match kind {
        TextKind::Heading(level) => {
            let scale = HEADING_SCALE
                .get(usize::from(level.saturating_sub(1)))
                .copied()
                .unwrap_or(1.0);
            body.size * scale
        }
        _ => body.size,
    };
    let bold = !matches!(kind, TextKind::Body);
    let mut job = LayoutJob::default();
    for span in spans {
        let Some(text) = inline.text.get(span.range.clone()) else {
            continue;
        };
        let mut format = TextFormat {
            font_id: FontId::new(size, body.family.clone()),
            color: visuals.text_color(),
            ..TextFormat::default()
        };
        if span.style.code {
            format.font_id = FontId::new(size * 0.9, FontFamily::Monospace);
            format.background = visuals.code_bg_color;
        }
        if span.style.strong || bold {
            format.color = visuals.strong_text_color();
        }
        if span.style.emphasis {
            format.italics = true;
        }
        if span.style.strikethrough {
            format.strikethrough = Stroke::new(1.0, format.color);
        }
        if span.style.link {
            format.color = visuals.hyperlink_color;
            format.underline = Stroke::new(1.0, visuals.hyperlink_color);
        }
        if format.color == Color32::PLACEHOLDER {
            format.color = visuals.text_color();
        }
        job.append(text, 0.0, format);
    }
    job
}
