//! The conversation: a virtualised list (only visible rows are laid out) of messages and notices.

use ashley_proxy::api::{PersonaInfo, ReplyStats};
use egui::{Align, CornerRadius, Frame, Margin, RichText};

use super::Command;
use crate::conversation::{ChatMessage, Conversation, MessageKind, RetryAction};
use crate::markdown::MarkdownCache;
use crate::theme::Palette;

mod row_heights;

use row_heights::RowHeights;

/// Vertical gap between rows.
const ROW_GAP: f32 = 8.0;

/// What the chat view needs besides the conversation.
pub struct ChatContext<'a> {
    pub palette: &'a Palette,
    pub personas: &'a [PersonaInfo],
    /// A request is in flight (no Regenerate meanwhile).
    pub sending: bool,
    /// The reply being streamed, by index.
    pub streaming_index: Option<usize>,
    /// Waiting for the first token of a reply.
    pub awaiting_reply: bool,
    /// Jump to the newest row this frame (after the person sent something).
    pub scroll_to_bottom: bool,
    /// Bring this row into view (a search hit was opened).
    pub scroll_to_row: Option<usize>,
    /// The row to outline (its local id), briefly after a search hit opened it.
    pub highlight: Option<u64>,
}

/// What the chat view keeps between frames: row heights and parsed markdown, per row.
#[derive(Default)]
pub struct ChatView {
    rows: RowHeights,
    pub markdown: MarkdownCache,
    /// A row to centre once it is laid out (its height is then known).
    reveal: Option<usize>,
}

pub fn chat_ui(
    ui: &mut egui::Ui,
    view: &mut ChatView,
    conversation: &Conversation,
    context: &ChatContext<'_>,
    commands: &mut Vec<Command>,
) {
    let ChatView {
        rows,
        markdown,
        reveal,
    } = view;
    markdown.begin_frame();
    let messages = conversation.messages();
    rows.resize(messages.len());
    let line_height = ui.text_style_height(&egui::TextStyle::Body);
    let mut scroll = egui::ScrollArea::vertical()
        .id_salt("conversation")
        .auto_shrink(false);
    if let Some(target) = context.scroll_to_row {
        // Jump near the row by the heights known or estimated; once it is laid out it is
        // centred exactly.
        let width = ui.available_width();
        let top: f32 = messages
            .iter()
            .take(target)
            .enumerate()
            .map(|(index, message)| rows.height(index, message, width, line_height) + ROW_GAP)
            .sum();
        scroll = scroll.vertical_scroll_offset(top);
        *reveal = Some(target);
    }
    // Sticking to the bottom would pull a revealed row away.
    let scroll = scroll.stick_to_bottom(reveal.is_none());
    scroll.show_viewport(ui, |ui, viewport| {
        ui.spacing_mut().item_spacing.y = 0.0;
        let width = ui.available_width();
        let count = messages.len();
        if count == 0 && !context.awaiting_reply {
            empty_conversation_ui(ui, context.palette);
            return;
        }

        // Skip the rows above the viewport with one space of their (measured or estimated) height.
        let mut top = 0.0;
        let mut first = count;
        for (index, message) in messages.iter().enumerate() {
            let height = rows.height(index, message, width, line_height);
            if top + height >= viewport.min.y {
                first = index;
                break;
            }
            top += height + ROW_GAP;
        }
        ui.add_space(top);

        let last_reply = conversation.last_reply_index();
        let mut bottom = top;
        let mut next = first;
        while next < count && bottom <= viewport.max.y {
            let Some(message) = messages.get(next) else {
                break;
            };
            let row = RowState {
                streaming: context.streaming_index == Some(next),
                can_regenerate: last_reply == Some(next) && !context.sending,
                highlighted: context.highlight == Some(message.local_id),
            };
            let top_of_row = ui.cursor().min.y;
            let drawn = ui.push_id(message.local_id, |ui| {
                message_ui(ui, message, markdown, context, row, commands);
            });
            if *reveal == Some(next) {
                ui.scroll_to_rect(drawn.response.rect, Some(Align::Center));
                *reveal = None;
            }
            let height = ui.cursor().min.y - top_of_row;
            rows.record(next, message, width, height);
            ui.add_space(ROW_GAP);
            bottom += height + ROW_GAP;
            next += 1;
        }

        let rest: f32 = messages
            .iter()
            .enumerate()
            .skip(next)
            .map(|(index, message)| rows.height(index, message, width, line_height) + ROW_GAP)
            .sum();
        ui.add_space(rest);
        if context.awaiting_reply {
            thinking_ui(ui, context.palette);
        }
        if context.scroll_to_bottom {
            let end = ui.allocate_response(egui::vec2(width, 1.0), egui::Sense::hover());
            end.scroll_to_me(Some(Align::BOTTOM));
        }
    });
}

#[derive(Clone, Copy)]
struct RowState {
    streaming: bool,
    can_regenerate: bool,
    highlighted: bool,
}

fn empty_conversation_ui(ui: &mut egui::Ui, palette: &Palette) {
    ui.add_space(40.0);
    ui.vertical_centered(|ui| {
        ui.label(RichText::new("👋 Hi, I'm Ashley.").size(20.0));
        ui.label(RichText::new("Pick a persona above and ask me anything.").color(palette.muted));
    });
}

fn thinking_ui(ui: &mut egui::Ui, palette: &Palette) {
    ui.horizontal(|ui| {
        ui.spinner();
        ui.label(RichText::new("Ashley is thinking…").color(palette.muted));
    });
}

fn message_ui(
    ui: &mut egui::Ui,
    message: &ChatMessage,
    markdown: &mut MarkdownCache,
    context: &ChatContext<'_>,
    row: RowState,
    commands: &mut Vec<Command>,
) {
    let palette = context.palette;
    let fill = match message.kind {
        MessageKind::User => palette.user_bubble,
        MessageKind::Reply => palette.surface,
        _ => palette.error_bg,
    };
    let stroke = if row.highlighted {
        egui::Stroke::new(2.0, palette.accent)
    } else {
        egui::Stroke::NONE
    };
    Frame::new()
        .fill(fill)
        .stroke(stroke)
        .corner_radius(CornerRadius::same(10))
        .inner_margin(Margin::symmetric(12, 8))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.spacing_mut().item_spacing.y = 4.0;
            match message.kind {
                MessageKind::User => user_message_ui(ui, message, palette),
                MessageKind::Reply => reply_ui(ui, message, markdown, context, row, commands),
                _ => notice_ui(ui, message, palette, commands),
            }
        });
}

fn user_message_ui(ui: &mut egui::Ui, message: &ChatMessage, palette: &Palette) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("👤 You").strong());
        if message.unsent {
            ui.label(
                RichText::new("not sent")
                    .small()
                    .color(palette.warning_text),
            );
        }
        copy_button_ui(ui, &message.content);
    });
    ui.add(egui::Label::new(&message.content).wrap());
}

fn reply_ui(
    ui: &mut egui::Ui,
    message: &ChatMessage,
    markdown: &mut MarkdownCache,
    context: &ChatContext<'_>,
    row: RowState,
    commands: &mut Vec<Command>,
) {
    let palette = context.palette;
    let persona_name = context
        .personas
        .iter()
        .find(|p| p.id == message.persona)
        .map_or("Ashley", |p| p.name.as_str());
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("✨ {persona_name}"))
                .strong()
                .color(palette.accent),
        );
        if row.streaming {
            ui.spinner();
            ui.label(RichText::new("writing…").small().color(palette.muted));
        } else if message.partial {
            ui.label(
                RichText::new("⏹ stopped, partial reply")
                    .small()
                    .color(palette.warning_text),
            );
        }
        if !row.streaming {
            copy_button_ui(ui, &message.content);
            if row.can_regenerate
                && ui
                    .small_button("🔄 Regenerate")
                    .on_hover_text("Ask again for a new reply")
                    .clicked()
            {
                commands.push(Command::Regenerate);
            }
        }
    });
    for note in &message.notes {
        ui.label(
            RichText::new(format!("ℹ {note}"))
                .small()
                .color(palette.warning_text),
        );
    }
    // Parsed once per version of the text (src/markdown); rows outside the viewport are never
    // shown at all.
    markdown.show(ui, message.local_id, &message.content);
    if let Some(stats) = message.stats.as_ref().filter(|_| !row.streaming) {
        ui.label(
            RichText::new(stats_line(stats))
                .small()
                .color(palette.muted),
        );
    }
}

fn notice_ui(
    ui: &mut egui::Ui,
    message: &ChatMessage,
    palette: &Palette,
    commands: &mut Vec<Command>,
) {
    let title = match message.kind {
        MessageKind::Refusal => "🛡 Message refused",
        MessageKind::RateLimited { .. } => "⏳ Rate limited",
        MessageKind::ProviderFailed => "⚠ The AI provider failed",
        MessageKind::ServerFailed => "⚠ The Ashley server had a problem",
        MessageKind::StorageFull => "⚠ Storage full",
        MessageKind::ContextTooLong => "⚠ Conversation too long",
        MessageKind::Unreachable => "🔌 Proxy unreachable",
        MessageKind::Rejected | MessageKind::User | MessageKind::Reply => "⚠ Request rejected",
    };
    ui.label(RichText::new(title).strong().color(palette.error_text));
    ui.add(egui::Label::new(&message.content).wrap());
    let waiting = match message.kind {
        MessageKind::RateLimited {
            retry_after_secs: Some(secs),
        } => retry_countdown_ui(ui, palette, secs),
        _ => false,
    };
    if let Some(action) = &message.retry {
        let hint = match action {
            RetryAction::Send(_) => "Send the message again",
            RetryAction::Regenerate => "Ask for the reply again",
            RetryAction::Reconnect => "Connect to the proxy again",
        };
        let retry = ui.add_enabled(!waiting, egui::Button::new("🔁 Retry"));
        if retry.on_hover_text(hint).clicked() {
            commands.push(Command::Retry(action.clone()));
        }
    }
}

/// "Rate limited — try again in 12 s", counting down from when the notice first showed; true
/// while the wait is not over. The deadline lives in egui's memory under the row's id.
fn retry_countdown_ui(ui: &mut egui::Ui, palette: &Palette, secs: u64) -> bool {
    let now = ui.input(|input| input.time);
    let id = ui.make_persistent_id("retry_deadline");
    let deadline = ui.data_mut(|data| *data.get_temp_mut_or_insert_with(id, || now + secs as f64));
    let remaining = deadline - now;
    if remaining > 0.0 {
        let whole = remaining.ceil();
        ui.label(
            RichText::new(format!("Rate limited — try again in {whole:.0} s"))
                .color(palette.warning_text),
        );
        // Wake up when the number changes.
        let until_next = remaining - (whole - 1.0);
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs_f64(until_next.max(0.05)));
        true
    } else {
        ui.label(RichText::new("You can try again now.").color(palette.muted));
        false
    }
}

fn copy_button_ui(ui: &mut egui::Ui, text: &str) {
    if ui
        .small_button("📋 Copy")
        .on_hover_text("Copy this message")
        .clicked()
    {
        ui.ctx().copy_text(text.to_owned());
    }
}

/// `gpt-4 · 123 tokens · first token 240 ms · 1.2 s`
pub fn stats_line(stats: &ReplyStats) -> String {
    let mut parts = vec![stats.model.clone()];
    if let Some(tokens) = stats.completion_tokens.or(stats.total_tokens) {
        parts.push(format!("{tokens} tokens"));
    }
    if let Some(ttft) = stats.ttft_ms {
        parts.push(format!("TTFT {ttft} ms"));
    }
    if stats.total_ms > 0 {
        parts.push(format!("{:.1} s", stats.total_ms as f64 / 1000.0));
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_line_names_model_tokens_and_first_token_time() {
        let stats = ReplyStats {
            model: "gpt-4".into(),
            completion_tokens: Some(12),
            ttft_ms: Some(240),
            total_ms: 1200,
            ..ReplyStats::default()
        };
        assert_eq!(
            stats_line(&stats),
            "gpt-4 · 12 tokens · TTFT 240 ms · 1.2 s"
        );
    }
}
