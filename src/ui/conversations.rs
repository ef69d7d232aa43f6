//! The conversation list: New chat, the search box, the conversations grouped by day (only the
//! visible rows are laid out) with Rename / Pin / Delete, and search hits in its place.

mod snippet;

use ashley_proxy::api::Role;
use egui::{Align, Key, Layout, RichText, Sense, WidgetInfo};

use super::{Command, record_widget};
use crate::conversations::{ConversationList, ListRow};
use crate::search::{Search, SearchOutcome};
use crate::theme::Palette;
pub use snippet::{SnippetStyle, snippet_job};

/// Every line of the list (headings too) is this tall, so it can be virtualised.
const ROW_HEIGHT: f32 = 28.0;
/// What an untitled conversation is called.
pub const UNTITLED: &str = "New chat";
pub const SEARCH_HINT: &str = "Search conversations (Ctrl+K)";

pub fn search_id() -> egui::Id {
    egui::Id::unique("ashley_conversation_search")
}

fn rename_id() -> egui::Id {
    egui::Id::unique("ashley_conversation_rename")
}

/// An inline rename in progress.
pub struct Rename {
    pub id: String,
    pub text: String,
    /// The proxy's reason the last try was refused.
    pub error: Option<String>,
    focus: bool,
}

/// What the panel keeps between frames.
#[derive(Default)]
pub struct ConversationsView {
    pub rename: Option<Rename>,
    /// Scroll the open conversation's row into view (after a switch from elsewhere).
    pub reveal_open: bool,
}

impl ConversationsView {
    pub fn start_rename(&mut self, id: &str, title: &str) {
        self.rename = Some(Rename {
            id: id.to_owned(),
            text: title.to_owned(),
            error: None,
            focus: true,
        });
    }
}

/// What the panel reads.
pub struct ListContext<'a> {
    pub palette: &'a Palette,
    pub list: &'a ConversationList,
    pub open_id: Option<&'a str>,
    /// The open conversation's reply is being written (the list may not know yet).
    pub open_writing: bool,
}

pub fn conversations_ui(
    ui: &mut egui::Ui,
    view: &mut ConversationsView,
    search: &mut Search,
    context: &ListContext<'_>,
    commands: &mut Vec<Command>,
) {
    let new_chat = ui
        .add_sized(
            egui::vec2(ui.available_width(), 30.0),
            egui::Button::new("📝 New chat"),
        )
        .on_hover_text("Start a new conversation (Ctrl+Shift+O)");
    record_widget(|| "new_chat".to_owned(), new_chat.rect);
    if new_chat.clicked() {
        commands.push(Command::NewChat);
    }
    ui.add_space(4.0);
    let search_box = ui.add(
        egui::TextEdit::singleline(&mut search.text)
            .id(search_id())
            .hint_text(SEARCH_HINT)
            .desired_width(f32::INFINITY),
    );
    search_box.widget_info(|| labelled_text_edit(&search.text, "Search conversations"));
    record_widget(|| "search".to_owned(), search_box.rect);
    if search_box.changed() {
        commands.push(Command::SearchEdited);
    }
    let escaped = ui.input(|input| input.key_pressed(Key::Escape));
    if escaped && (search_box.has_focus() || search_box.lost_focus()) {
        commands.push(Command::CloseSearch);
    }
    ui.add_space(4.0);
    if search.is_active() {
        search_hits_ui(ui, search, context.palette, commands);
    } else {
        list_ui(ui, view, context, commands);
    }
}

/// A text field's accessible name (egui gives a bare `TextEdit` none).
fn labelled_text_edit(text: &str, label: &str) -> WidgetInfo {
    WidgetInfo {
        label: Some(label.to_owned()),
        ..WidgetInfo::text_edit(true, text, text, label)
    }
}

fn list_ui(
    ui: &mut egui::Ui,
    view: &mut ConversationsView,
    context: &ListContext<'_>,
    commands: &mut Vec<Command>,
) {
    let palette = context.palette;
    let list = context.list;
    if let Some(error) = &list.error {
        ui.label(
            RichText::new(format!("Could not load the conversations: {error}"))
                .color(palette.error_text),
        );
        if ui.button("🔁 Try again").clicked() {
            commands.push(Command::RefreshConversations);
        }
        return;
    }
    if !list.is_loaded() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(RichText::new("Loading the conversations…").color(palette.muted));
        });
        return;
    }
    if list.rows().is_empty() {
        ui.label(RichText::new("No conversations yet.").color(palette.muted));
        return;
    }
    if let Some(error) = view
        .rename
        .as_ref()
        .and_then(|rename| rename.error.as_ref())
    {
        ui.label(RichText::new(format!("⚠ {error}")).color(palette.error_text));
    }
    let mut scroll = egui::ScrollArea::vertical()
        .id_salt("conversation_list")
        .auto_shrink([false, false]);
    if std::mem::take(&mut view.reveal_open)
        && let Some(row) = context.open_id.and_then(|id| list.row_of(id))
    {
        let spacing = ui.spacing().item_spacing.y;
        let top = row as f32 * (ROW_HEIGHT + spacing);
        scroll = scroll.vertical_scroll_offset((top - 3.0 * ROW_HEIGHT).max(0.0));
    }
    let rows = list.rows();
    scroll.show_rows(ui, ROW_HEIGHT, rows.len(), |ui, range| {
        for row in rows.get(range).unwrap_or_default() {
            match *row {
                ListRow::Heading(group) => {
                    ui.allocate_ui_with_layout(
                        egui::vec2(ui.available_width(), ROW_HEIGHT),
                        Layout::left_to_right(Align::Max),
                        |ui| {
                            // Every row exactly ROW_HEIGHT, or the virtual rows drift.
                            ui.set_min_height(ROW_HEIGHT);
                            ui.label(
                                RichText::new(group.heading())
                                    .small()
                                    .strong()
                                    .color(palette.muted),
                            );
                        },
                    );
                }
                ListRow::Conversation(index) => {
                    if let Some((summary, _)) = list.entry(index) {
                        ui.push_id(&summary.id, |ui| {
                            conversation_row_ui(ui, view, summary, context, commands);
                        });
                    }
                }
            }
        }
    });
}

fn conversation_row_ui(
    ui: &mut egui::Ui,
    view: &mut ConversationsView,
    summary: &ashley_proxy::api::ConversationSummary,
    context: &ListContext<'_>,
    commands: &mut Vec<Command>,
) {
    let size = egui::vec2(ui.available_width(), ROW_HEIGHT);
    if let Some(rename) = view
        .rename
        .as_mut()
        .filter(|rename| rename.id == summary.id)
    {
        let field = ui.add_sized(
            size,
            egui::TextEdit::singleline(&mut rename.text)
                .id(rename_id())
                .hint_text("Title"),
        );
        field.widget_info(|| labelled_text_edit(&rename.text, "Conversation title"));
        record_widget(|| "rename_field".to_owned(), field.rect);
        if std::mem::take(&mut rename.focus) {
            field.request_focus();
        }
        let (enter, escape) = ui.input(|i| (i.key_pressed(Key::Enter), i.key_pressed(Key::Escape)));
        if escape {
            view.rename = None;
        } else if enter && (field.lost_focus() || field.has_focus()) {
            commands.push(Command::Rename {
                id: summary.id.clone(),
                title: rename.text.clone(),
            });
            // Kept focused: a refused title stays editable.
            field.request_focus();
        }
        return;
    }
    let palette = context.palette;
    let title = if summary.title.trim().is_empty() {
        UNTITLED
    } else {
        summary.title.as_str()
    };
    let selected = context.open_id == Some(summary.id.as_str());
    let writing = summary.writing || (selected && context.open_writing);
    let spoken = if writing {
        format!("{title}, writing a reply")
    } else {
        title.to_owned()
    };
    ui.allocate_ui_with_layout(size, Layout::right_to_left(Align::Center), |ui| {
        ui.set_min_height(ROW_HEIGHT);
        let menu = ui.menu_button("…", |ui| {
            row_menu_ui(ui, view, summary, commands);
        });
        menu.response.widget_info(|| {
            WidgetInfo::labeled(egui::Role::Button, true, format!("Actions for {title}"))
        });
        menu.response
            .clone()
            .on_hover_text("Rename, pin, share or delete");
        record_widget(
            || format!("conversation_menu:{}", summary.id),
            menu.response.rect,
        );

        let (rect, row) = ui.allocate_exact_size(ui.available_size(), Sense::click());
        // A button that opens the conversation; the open one reads as "selected" (not as a
        // pressed toggle: clicking it again does not close it).
        row.widget_info(|| WidgetInfo::labeled(egui::Role::Button, true, &spoken));
        if selected {
            ui.ctx()
                .accesskit_node_builder(row.id, |node| node.set_selected(true));
        }
        record_widget(|| format!("conversation:{}", summary.id), rect);
        if ui.is_rect_visible(rect) {
            let visuals = ui.style().interact_selectable(&row, selected);
            if selected || row.hovered() {
                let fill = if selected {
                    palette.user_bubble
                } else {
                    visuals.weak_bg_fill
                };
                ui.painter().rect_filled(rect, 6.0, fill);
            }
            let text_color = if selected {
                ui.visuals().strong_text_color()
            } else {
                ui.visuals().text_color()
            };
            let mut left = rect.min.x + 6.0;
            if writing {
                // A reply is being written here: a dot in the accent colour before the title.
                let radius = 4.0;
                let centre = egui::pos2(left + radius, rect.center().y);
                ui.painter().circle_filled(centre, radius, palette.accent);
                left += 2.0 * radius + 6.0;
            }
            let galley = egui::WidgetText::from(title).into_galley(
                ui,
                Some(egui::TextWrapMode::Truncate),
                rect.max.x - 6.0 - left,
                egui::TextStyle::Button,
            );
            let at = egui::pos2(left, rect.center().y - galley.size().y / 2.0);
            ui.painter().galley(at, galley, text_color);
        }
        if row.clicked() {
            commands.push(Command::OpenConversation {
                id: summary.id.clone(),
                message_id: None,
            });
        }
        row.context_menu(|ui| row_menu_ui(ui, view, summary, commands));
    });
}

/// Rename, Pin/Unpin, Share, Open as page, Export (Markdown, JSON), Delete: the "…" button's menu and the row's context
/// menu.
fn row_menu_ui(
    ui: &mut egui::Ui,
    view: &mut ConversationsView,
    summary: &ashley_proxy::api::ConversationSummary,
    commands: &mut Vec<Command>,
) {
    let rename = ui.button("📝 Rename");
    record_widget(|| "menu:rename".to_owned(), rename.rect);
    if rename.clicked() {
        view.start_rename(&summary.id, &summary.title);
        ui.close();
    }
    let pin_label = if summary.pinned { "Unpin" } else { "Pin" };
    let pin = ui.button(pin_label);
    record_widget(|| "menu:pin".to_owned(), pin.rect);
    if pin.clicked() {
        commands.push(Command::SetPinned(summary.id.clone(), !summary.pinned));
        ui.close();
    }
    let share = ui.button("Share…");
    record_widget(|| "menu:share".to_owned(), share.rect);
    if share.clicked() {
        commands.push(Command::OpenShare(summary.id.clone()));
        ui.close();
    }
    let page = ui.button("Open as page").on_hover_text(
        "The conversation as a plain web page: for reading, printing, a screen reader",
    );
    record_widget(|| "menu:page".to_owned(), page.rect);
    if page.clicked() {
        commands.push(Command::OpenAsPage(summary.id.clone()));
        ui.close();
    }
    let exports = [
        ("Export as Markdown", "menu:export-md", true),
        ("Export as JSON", "menu:export-json", false),
    ];
    for (label, widget, markdown) in exports {
        let export = ui.button(label);
        record_widget(|| widget.to_owned(), export.rect);
        if export.clicked() {
            commands.push(Command::Export {
                conversation_id: Some(summary.id.clone()),
                markdown,
            });
            ui.close();
        }
    }
    let delete = ui.button("🗑 Delete");
    record_widget(|| "menu:delete".to_owned(), delete.rect);
    if delete.clicked() {
        commands.push(Command::DeleteConversation(summary.id.clone()));
        ui.close();
    }
}

fn search_hits_ui(
    ui: &mut egui::Ui,
    search: &Search,
    palette: &Palette,
    commands: &mut Vec<Command>,
) {
    let query = search.query().unwrap_or_default();
    let hits = match search.outcome() {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(RichText::new("Searching…").color(palette.muted));
            });
            return;
        }
        Some(SearchOutcome::Failed(error)) => {
            ui.label(RichText::new(format!("Could not search: {error}")).color(palette.error_text));
            return;
        }
        Some(SearchOutcome::Hits(results)) => &results.hits,
    };
    if hits.is_empty() {
        ui.label(RichText::new(format!("No conversation mentions “{query}”")).color(palette.muted));
        return;
    }
    let style = SnippetStyle {
        font: egui::TextStyle::Small.resolve(ui.style()),
        text: palette.muted,
        marked_text: ui.visuals().strong_text_color(),
        marked_background: palette.accent.gamma_multiply(0.35),
    };
    egui::ScrollArea::vertical()
        .id_salt("search_hits")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (index, hit) in hits.iter().enumerate() {
                let icon = match hit.role {
                    Some(Role::User) => "👤",
                    Some(Role::Assistant) => "✨",
                    None => "💬",
                };
                let title = if hit.title.trim().is_empty() {
                    UNTITLED
                } else {
                    hit.title.as_str()
                };
                let frame = egui::Frame::new()
                    .inner_margin(egui::Margin::symmetric(6, 4))
                    .corner_radius(6.0);
                let shown = frame.show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.add(
                        egui::Label::new(RichText::new(format!("{icon} {title}")).strong())
                            .truncate()
                            .selectable(false),
                    );
                    let mut job = snippet_job(&hit.snippet, &hit.marks, &style);
                    job.wrap.max_width = ui.available_width();
                    ui.add(egui::Label::new(job).selectable(false));
                });
                let response = ui.interact(
                    shown.response.rect,
                    egui::Id::unique("ashley_search_hit").with(index),
                    Sense::click(),
                );
                response.widget_info(|| {
                    WidgetInfo::labeled(
                        egui::Role::Button,
                        true,
                        format!("{title}: {}", hit.snippet),
                    )
                });
                if response.hovered() {
                    ui.painter().rect_stroke(
                        shown.response.rect,
                        6.0,
                        egui::Stroke::new(1.0, palette.accent),
                        egui::StrokeKind::Inside,
                    );
                }
                record_widget(|| format!("search_hit:{index}"), shown.response.rect);
                if response.clicked() {
                    commands.push(Command::OpenConversation {
                        id: hit.conversation_id.clone(),
                        message_id: hit.message_id,
                    });
                }
            }
        });
}
