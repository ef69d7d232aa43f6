//! A conversation as a plain, semantic HTML page: one `<h1>` for the title, one `<article>` with
//! an `<h2>` per message (so a screen reader can jump from message to message), the messages'
//! Markdown as real headings, lists, tables and `<pre><code>` blocks. No script and nothing from
//! elsewhere: it reads the same in a screen reader, the browser's find, a printout and a slow
//! phone. Everything from a person or a model is escaped; raw HTML in a message shows as text.

use std::fmt::Write as _;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::api::{HistoryMessage, Role};

/// What the page says above the messages.
pub struct PageHeading<'a> {
    pub title: &'a str,
    /// One line under the title, e.g. "Shared on 2 December 2026 · 4 messages".
    pub note: &'a str,
}

/// The whole page. `persona_name` turns a persona id into the name shown for its replies.
pub fn conversation_page(
    heading: &PageHeading<'_>,
    messages: &[HistoryMessage],
    persona_name: impl Fn(&str) -> String,
) -> String {
    let title = if heading.title.trim().is_empty() {
        "Conversation"
    } else {
        heading.title
    };
    let mut page =
        String::with_capacity(4096 + messages.iter().map(|m| m.content.len() * 2).sum::<usize>());
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title} · Ashley AI</title><style>{STYLE}</style></head>\
         <body><header><h1>{title}</h1><p class=\"note\">{note}</p></header><main>",
        title = escape(title),
        note = escape(heading.note),
    );
    for message in messages {
        let speaker = speaker(message.role, &message.persona, &persona_name);
        let class = match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let _ = write!(
            page,
            "<article class=\"{class}\" id=\"m{id}\" aria-labelledby=\"h{id}\"><h2 id=\"h{id}\">{speaker}\
             <span class=\"when\"> · <time datetime=\"{iso}\">{when}</time></span></h2>",
            id = message.id,
            speaker = escape(&speaker),
            iso = utc_iso(message.created_at_ms),
            when = utc_display(message.created_at_ms),
        );
        markdown_to_html(&message.content, &mut page);
        if message.partial {
            let _ = write!(page, "<p class=\"partial\"><em>{CUT_OFF_NOTE}</em></p>");
        }
        page.push_str("</article>");
    }
    if messages.is_empty() {
        page.push_str("<p>This conversation has no messages.</p>");
    }
    page.push_str(
        "</main><footer><p>Written with <a href=\"/\">Ashley AI</a>. \
         Replies come from a language model and can be wrong.</p></footer></body></html>\n",
    );
    page
}

/// Who a message is from, as a page or an export names them: "You", or the reply's persona.
pub fn speaker(role: Role, persona: &str, persona_name: impl Fn(&str) -> String) -> String {
    match role {
        Role::User => "You".to_owned(),
        Role::Assistant => persona_name(persona),
    }
}

/// What a page or an export says under a reply that was cut off.
pub const CUT_OFF_NOTE: &str = "This reply was cut off before it finished.";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;\
padding:0 1rem;line-height:1.55;color:#1d1d1f;background:#fafafa}\
h1{font-size:1.6rem;margin-bottom:.2rem}.note,.when{color:#5c5c66;font-weight:normal}\
.note{margin-top:0}h2{font-size:1.05rem;margin:0 0 .4rem}\
article{border-top:1px solid #d8d8de;padding:1rem 0}article.user h2{color:#5b3cc4}\
pre{background:#eeeef2;padding:.7rem;overflow-x:auto;border-radius:6px}\
code{font-family:ui-monospace,monospace;font-size:.92em}\
table{border-collapse:collapse}td,th{border:1px solid #c8c8d0;padding:.25rem .5rem}\
blockquote{border-left:3px solid #c8c8d0;margin-left:0;padding-left:1rem;color:#444}\
a{color:#5b3cc4}footer{border-top:1px solid #d8d8de;color:#5c5c66;font-size:.9rem}\
@media (prefers-color-scheme:dark){body{color:#eee;background:#1b1b1f}\
.note,.when,footer{color:#a8a8b3}pre{background:#2a2a30}blockquote{color:#ccc}\
a,article.user h2{color:#b49cff}article,footer{border-color:#3a3a42}}\
@media print{body{max-width:none;background:#fff;color:#000}pre{white-space:pre-wrap}}";

/// One message's Markdown as HTML, appended to `out`. Headings inside a message start at `<h3>`
/// (the page has `<h1>` and each message's `<h2>`); raw HTML is shown as text; links keep only
/// `http`, `https` and `mailto` targets; images become links (the page loads nothing).
pub fn markdown_to_html(markdown: &str, out: &mut String) {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut writer = HtmlWriter {
        out,
        in_table_head: false,
        links: Vec::new(),
    };
    for event in Parser::new_ext(markdown, options) {
        writer.event(event);
    }
}

struct HtmlWriter<'a> {
    out: &'a mut String,
    /// Table cells are `<th>` while in the head row.
    in_table_head: bool,
    /// For each open link or image: whether it opened an `<a>` (else a `<span>`: unsafe target).
    links: Vec<bool>,
}

impl HtmlWriter<'_> {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.open(&tag),
            Event::End(tag) => self.close(tag),
            Event::Text(text) => self.out.push_str(&escape(&text)),
            Event::Code(code) | Event::InlineMath(code) | Event::DisplayMath(code) => {
                let _ = write!(self.out, "<code>{}</code>", escape(&code));
            }
            Event::Html(html) | Event::InlineHtml(html) => self.out.push_str(&escape(&html)),
            Event::FootnoteReference(name) => {
                let _ = write!(self.out, "<sup>[{}]</sup>", escape(&name));
            }
            Event::SoftBreak => self.out.push('\n'),
            Event::HardBreak => self.out.push_str("<br>"),
            Event::Rule => self.out.push_str("<hr>"),
            Event::TaskListMarker(done) => self.out.push_str(if done { "☑ " } else { "☐ " }),
        }
    }

    fn open(&mut self, tag: &Tag<'_>) {
        let out = &mut *self.out;
        match tag {
            Tag::Paragraph => out.push_str("<p>"),
            Tag::Heading { level, .. } => {
                let _ = write!(out, "<h{}>", demoted(*level));
            }
            Tag::BlockQuote(_) => out.push_str("<blockquote>"),
            Tag::CodeBlock(CodeBlockKind::Fenced(language)) if !language.trim().is_empty() => {
                let language = language.split_whitespace().next().unwrap_or_default();
                let _ = write!(out, "<pre><code class=\"language-{}\">", escape(language));
            }
            Tag::CodeBlock(_) => out.push_str("<pre><code>"),
            Tag::HtmlBlock | Tag::MetadataBlock(_) => {}
            Tag::List(Some(1)) => out.push_str("<ol>"),
            Tag::List(Some(start)) => {
                let _ = write!(out, "<ol start=\"{start}\">");
            }
            Tag::List(None) => out.push_str("<ul>"),
            Tag::Item => out.push_str("<li>"),
            Tag::FootnoteDefinition(name) => {
                let _ = write!(
                    out,
                    "<div class=\"footnote\"><sup>[{}]</sup> ",
                    escape(name)
                );
            }
            Tag::DefinitionList => out.push_str("<dl>"),
            Tag::DefinitionListTitle => out.push_str("<dt>"),
            Tag::DefinitionListDefinition => out.push_str("<dd>"),
            Tag::Table(_) => out.push_str("<table>"),
            Tag::TableHead => {
                self.in_table_head = true;
                out.push_str("<thead><tr>");
            }
            Tag::TableRow => out.push_str("<tr>"),
            Tag::TableCell => out.push_str(if self.in_table_head { "<th>" } else { "<td>" }),
            Tag::Emphasis => out.push_str("<em>"),
            Tag::Strong => out.push_str("<strong>"),
            Tag::Strikethrough => out.push_str("<del>"),
            Tag::Superscript => out.push_str("<sup>"),
            Tag::Subscript => out.push_str("<sub>"),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                let safe = safe_url(dest_url);
                if safe {
                    let _ = write!(
                        out,
                        "<a href=\"{}\" rel=\"nofollow noopener\">",
                        escape(dest_url)
                    );
                } else {
                    out.push_str("<span>");
                }
                self.links.push(safe);
            }
        }
    }

    fn close(&mut self, tag: TagEnd) {
        let out = &mut *self.out;
        match tag {
            TagEnd::Paragraph => out.push_str("</p>"),
            TagEnd::Heading(level) => {
                let _ = write!(out, "</h{}>", demoted(level));
            }
            TagEnd::BlockQuote(_) => out.push_str("</blockquote>"),
            TagEnd::CodeBlock => out.push_str("</code></pre>"),
            TagEnd::HtmlBlock | TagEnd::MetadataBlock(_) => {}
            TagEnd::List(true) => out.push_str("</ol>"),
            TagEnd::List(false) => out.push_str("</ul>"),
            TagEnd::Item => out.push_str("</li>"),
            TagEnd::FootnoteDefinition => out.push_str("</div>"),
            TagEnd::DefinitionList => out.push_str("</dl>"),
            TagEnd::DefinitionListTitle => out.push_str("</dt>"),
            TagEnd::DefinitionListDefinition => out.push_str("</dd>"),
            TagEnd::Table => out.push_str("</tbody></table>"),
            TagEnd::TableHead => {
                self.in_table_head = false;
                out.push_str("</tr></thead><tbody>");
            }
            TagEnd::TableRow => out.push_str("</tr>"),
            TagEnd::TableCell => out.push_str(if self.in_table_head { "</th>" } else { "</td>" }),
            TagEnd::Emphasis => out.push_str("</em>"),
            TagEnd::Strong => out.push_str("</strong>"),
            TagEnd::Strikethrough => out.push_str("</del>"),
            TagEnd::Superscript => out.push_str("</sup>"),
            TagEnd::Subscript => out.push_str("</sub>"),
            TagEnd::Link | TagEnd::Image => {
                out.push_str(if self.links.pop().unwrap_or(false) {
                    "</a>"
                } else {
                    "</span>"
                });
            }
        }
    }
}

/// A Markdown heading level inside a message, two below the page's own.
fn demoted(level: HeadingLevel) -> u8 {
    (level as u8 + 2).min(6)
}

fn safe_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    ["https://", "http://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// Text made safe inside HTML, in element content and in quoted attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(ch),
        }
    }
    escaped
}

/// `2026-12-02T14:05:09Z` for a Unix time in milliseconds.
fn utc_iso(ms: i64) -> String {
    let (date, seconds) = civil(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        date.0,
        date.1,
        date.2,
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// `2 Dec 2026, 14:05 UTC`.
pub fn utc_display(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let ((year, month, day), seconds) = civil(ms);
    format!(
        "{day} {} {year}, {:02}:{:02} UTC",
        MONTHS.get(month as usize - 1).unwrap_or(&"?"),
        seconds / 3600,
        seconds / 60 % 60
    )
}

/// The UTC calendar date and the seconds into that day.
fn civil(ms: i64) -> ((i64, u32, u32), i64) {
    let seconds = ms.div_euclid(1000);
    (
        crate::calendar::civil_date(seconds.div_euclid(86_400)),
        seconds.rem_euclid(86_400),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(markdown: &str) -> String {
        let mut out = String::new();
        markdown_to_html(markdown, &mut out);
        out
    }

    fn message(id: i64, role: Role, content: &str) -> HistoryMessage {
        HistoryMessage {
            id,
            role,
            content: content.to_owned(),
            persona: "technical".to_owned(),
            created_at_ms: 1_795_960_800_000,
            stats: None,
            partial: false,
        }
    }

    #[test]
    fn markdown_becomes_semantic_html_with_headings_below_the_pages_own() {
        assert_eq!(
            html("# Plan\n\n- one\n- *two*"),
            "<h3>Plan</h3><ul><li>one</li><li><em>two</em></li></ul>"
        );
        assert_eq!(html("###### deep"), "<h6>deep</h6>");
        assert_eq!(
            html("```rust\nlet x = 1 < 2;\n```"),
            "<pre><code class=\"language-rust\">let x = 1 &lt; 2;\n</code></pre>"
        );
        assert_eq!(
            html("3. c\n4. d"),
            "<ol start=\"3\"><li>c</li><li>d</li></ol>"
        );
        assert_eq!(
            html("| a | b |\n|---|---|\n| 1 | 2 |"),
            "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>"
        );
    }

    #[test]
    fn nothing_from_a_message_can_become_markup_or_a_script_link() {
        assert_eq!(
            html("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            html("a <b onclick=x>b</b>"),
            "<p>a &lt;b onclick=x&gt;b&lt;/b&gt;</p>"
        );
        assert_eq!(html("[x](javascript:alert(1))"), "<p><span>x</span></p>");
        assert_eq!(
            html("[docs](https://example.org/?a=\"1\")"),
            "<p><a href=\"https://example.org/?a=&quot;1&quot;\" rel=\"nofollow noopener\">docs</a></p>"
        );
        // An image is a link to it: the page loads nothing from elsewhere.
        assert_eq!(
            html("![cat](https://example.org/cat.png)"),
            "<p><a href=\"https://example.org/cat.png\" rel=\"nofollow noopener\">cat</a></p>"
        );
    }

    #[test]
    fn the_page_has_one_title_and_a_heading_per_message() {
        let messages = [
            message(7, Role::User, "How do I <b>sort</b>?"),
            HistoryMessage {
                partial: true,
                ..message(8, Role::Assistant, "Use `sort()`.")
            },
        ];
        let heading = PageHeading {
            title: "Sorting <fast>",
            note: "Shared · 2 messages",
        };
        let page = conversation_page(&heading, &messages, |id| format!("Persona {id}"));
        assert_eq!(page.matches("<h1>").count(), 1);
        assert!(page.contains("<title>Sorting &lt;fast&gt; · Ashley AI</title>"));
        assert!(page.contains("<h2 id=\"h7\">You<span class=\"when\"> · <time datetime=\"2026-11-29T14:00:00Z\">29 Nov 2026, 14:00 UTC</time></span></h2>"));
        assert!(page.contains("<h2 id=\"h8\">Persona technical"));
        assert!(page.contains("How do I &lt;b&gt;sort&lt;/b&gt;?"));
        assert!(page.contains("<code>sort()</code>"));
        assert!(page.contains("cut off before it finished"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn dates_are_the_utc_calendar_date() {
        assert_eq!(utc_iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_iso(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc_iso(-86_400_000), "1969-12-31T00:00:00Z");
        assert_eq!(utc_display(1_795_960_800_000), "29 Nov 2026, 14:00 UTC");
    }
}
