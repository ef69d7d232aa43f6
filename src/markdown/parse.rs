//! Markdown source to an owned block tree, once per message version (pulldown_cmark events).

use std::ops::Range;

use pulldown_cmark::{Alignment, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// A parsed message: what the renderer draws, with no markdown left to parse.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    pub blocks: Vec<Block>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Paragraph(Inline),
    Heading {
        level: u8,
        text: Inline,
    },
    Code {
        lang: Option<String>,
        code: String,
    },
    List {
        /// The first number of an ordered list; `None` for bullets.
        start: Option<u64>,
        items: Vec<Vec<Block>>,
    },
    Quote(Vec<Block>),
    Table {
        alignments: Vec<Alignment>,
        header: Vec<Inline>,
        rows: Vec<Vec<Inline>>,
    },
    Rule,
}

/// Styled text of one paragraph, heading or table cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inline {
    pub text: String,
    pub spans: Vec<Span>,
    pub links: Vec<Link>,
}

/// A run of `Inline::text` (byte range) with one style.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub range: Range<usize>,
    pub style: InlineStyle,
    /// Index into `Inline::links` when this run is a link's text.
    pub link: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InlineStyle {
    pub strong: bool,
    pub emphasis: bool,
    pub strikethrough: bool,
    pub code: bool,
    pub link: bool,
}

/// A link's target and where its text is, in chars (what egui's text cursors count).
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub url: String,
    pub chars: Range<usize>,
}

impl Inline {
    fn push(&mut self, text: &str, style: InlineStyle, link: Option<usize>) {
        let start = self.text.len();
        self.text.push_str(text);
        let end = self.text.len();
        match self.spans.last_mut() {
            Some(last) if last.style == style && last.link == link && last.range.end == start => {
                last.range.end = end;
            }
            _ => self.spans.push(Span {
                range: start..end,
                style,
                link,
            }),
        }
    }

    fn char_len(&self) -> usize {
        self.text.chars().count()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// Parses `source` into a [`Document`].
pub fn parse(source: &str) -> Document {
    let mut builder = Builder::default();
    for event in Parser::new_ext(source, options()) {
        builder.event(event);
    }
    Document {
        blocks: builder.finish(),
    }
}

/// Open containers, innermost last; each collects the blocks inside it.
enum Container {
    List {
        start: Option<u64>,
        items: Vec<Vec<Block>>,
    },
    Item(Vec<Block>),
    Quote(Vec<Block>),
}

#[derive(Default)]
struct Builder {
    blocks: Vec<Block>,
    containers: Vec<Container>,
    inline: Option<Inline>,
    style: InlineStyle,
    /// The link being read: its index in the current inline's links.
    open_link: Option<usize>,
    code: Option<(Option<String>, String)>,
    table: Option<TableBuilder>,
}

#[derive(Default)]
struct TableBuilder {
    alignments: Vec<Alignment>,
    header: Vec<Inline>,
    rows: Vec<Vec<Inline>>,
    in_header: bool,
}

impl Builder {
    fn emit(&mut self, block: Block) {
        match self.containers.last_mut() {
            Some(Container::Item(blocks) | Container::Quote(blocks)) => blocks.push(block),
            // Tight list items carry text straight in the list: give them an item.
            Some(Container::List { items, .. }) => match items.last_mut() {
                Some(item) => item.push(block),
                None => items.push(vec![block]),
            },
            None => self.blocks.push(block),
        }
    }

    fn inline(&mut self) -> &mut Inline {
        self.inline.get_or_insert_with(Inline::default)
    }

    /// Text outside a paragraph (a tight list item) becomes a paragraph of its own.
    fn flush_loose_text(&mut self) {
        if self.table.is_none()
            && let Some(inline) = self.inline.take()
            && !inline.is_empty()
        {
            self.emit(Block::Paragraph(inline));
        }
    }

    fn text(&mut self, text: &str, style: InlineStyle) {
        if let Some((_, code)) = &mut self.code {
            code.push_str(text);
        } else {
            let link = self.open_link.filter(|_| style.link);
            self.inline().push(text, style, link);
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.text(&text, self.style),
            Event::Code(text) => {
                let style = InlineStyle {
                    code: true,
                    ..self.style
                };
                self.text(&text, style);
            }
            Event::SoftBreak => self.text(" ", self.style),
            Event::HardBreak => self.text("\n", self.style),
            Event::Rule => {
                self.flush_loose_text();
                self.emit(Block::Rule);
            }
            Event::TaskListMarker(done) => {
                self.text(if done { "☑ " } else { "☐ " }, InlineStyle::default());
            }
            // Raw HTML, math and footnotes are shown as their source text.
            Event::Html(text) | Event::InlineHtml(text) => self.text(&text, self.style),
            Event::InlineMath(text) | Event::DisplayMath(text) => self.text(&text, self.style),
            Event::FootnoteReference(label) => self.text(&format!("[{label}]"), self.style),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph | Tag::Heading { .. } => self.flush_loose_text(),
            Tag::CodeBlock(kind) => {
                self.flush_loose_text();
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split_whitespace()
                        .next()
                        .filter(|lang| !lang.is_empty())
                        .map(str::to_owned),
                    CodeBlockKind::Indented => None,
                };
                self.code = Some((lang, String::new()));
            }
            Tag::List(start) => {
                self.flush_loose_text();
                self.containers.push(Container::List {
                    start,
                    items: Vec::new(),
                });
            }
            Tag::Item => {
                self.flush_loose_text();
                self.containers.push(Container::Item(Vec::new()));
            }
            Tag::BlockQuote(_) => {
                self.flush_loose_text();
                self.containers.push(Container::Quote(Vec::new()));
            }
            Tag::Table(alignments) => {
                self.flush_loose_text();
                self.table = Some(TableBuilder {
                    alignments,
                    ..TableBuilder::default()
                });
            }
            Tag::TableHead => {
                if let Some(table) = &mut self.table {
                    table.in_header = true;
                }
            }
            Tag::TableRow => {
                if let Some(table) = &mut self.table {
                    table.rows.push(Vec::new());
                }
            }
            Tag::TableCell => self.inline = Some(Inline::default()),
            Tag::Emphasis => self.style.emphasis = true,
            Tag::Strong => self.style.strong = true,
            Tag::Strikethrough => self.style.strikethrough = true,
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                let inline = self.inline();
                let at = inline.char_len();
                inline.links.push(Link {
                    url: dest_url.into_string(),
                    chars: at..at,
                });
                self.open_link = Some(inline.links.len() - 1);
                self.style.link = true;
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => {
                let inline = self.inline.take().unwrap_or_default();
                self.emit(Block::Paragraph(inline));
            }
            TagEnd::Heading(level) => {
                let text = self.inline.take().unwrap_or_default();
                self.emit(Block::Heading {
                    level: heading_number(level),
                    text,
                });
            }
            TagEnd::CodeBlock => {
                if let Some((lang, code)) = self.code.take() {
                    self.emit(Block::Code { lang, code });
                }
            }
            TagEnd::List(_) => {
                self.flush_loose_text();
                if let Some(Container::List { start, items }) = self.containers.pop() {
                    self.emit(Block::List { start, items });
                }
            }
            TagEnd::Item => {
                self.flush_loose_text();
                if let Some(Container::Item(blocks)) = self.containers.pop()
                    && let Some(Container::List { items, .. }) = self.containers.last_mut()
                {
                    items.push(blocks);
                }
            }
            TagEnd::BlockQuote(_) => {
                self.flush_loose_text();
                if let Some(Container::Quote(blocks)) = self.containers.pop() {
                    self.emit(Block::Quote(blocks));
                }
            }
            TagEnd::TableHead => {
                if let Some(table) = &mut self.table {
                    table.in_header = false;
                }
            }
            TagEnd::TableCell => {
                let cell = self.inline.take().unwrap_or_default();
                if let Some(table) = &mut self.table {
                    if table.in_header {
                        table.header.push(cell);
                    } else if let Some(row) = table.rows.last_mut() {
                        row.push(cell);
                    }
                }
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.emit(Block::Table {
                        alignments: table.alignments,
                        header: table.header,
                        rows: table.rows,
                    });
                }
            }
            TagEnd::Emphasis => self.style.emphasis = false,
            TagEnd::Strong => self.style.strong = false,
            TagEnd::Strikethrough => self.style.strikethrough = false,
            TagEnd::Link | TagEnd::Image => {
                self.style.link = false;
                if let Some(index) = self.open_link.take() {
                    let inline = self.inline();
                    let end = inline.char_len();
                    if let Some(link) = inline.links.get_mut(index) {
                        link.chars.end = end;
                    }
                }
            }
            _ => {}
        }
    }

    /// Closes whatever a cut-off stream left open, so a partial reply still shows.
    fn finish(mut self) -> Vec<Block> {
        if let Some((lang, code)) = self.code.take() {
            self.emit(Block::Code { lang, code });
        }
        self.flush_loose_text();
        while let Some(container) = self.containers.pop() {
            let block = match container {
                Container::List { start, items } => Block::List { start, items },
                Container::Item(blocks) => Block::List {
                    start: None,
                    items: vec![blocks],
                },
                Container::Quote(blocks) => Block::Quote(blocks),
            };
            self.emit(block);
        }
        self.blocks
    }
}

fn heading_number(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
