//! The app's conversation list side: its commands, its network answers, the undo toast.

use ashley_proxy::api::{ConversationPatch, ConversationSummary};
use egui::RichText;

use super::AshleyApp;
use crate::net::NetEvent;
use crate::search::SearchOutcome;
use crate::theme::Palette;
use crate::ui::Command;
use crate::ui::conversations::{ListContext, conversations_ui};
use crate::ui::record_widget;

/// How long "Conversation deleted · Undo" shows (seconds).
const TOAST_SECS: f64 = 8.0;
/// The proxy names a conversation shortly after its first reply: the list is fetched again
/// this long after a reply finished (seconds).
const TITLE_REFRESH_SECS: f64 = 2.5;
/// How often the list is fetched while a reply is written in a conversation not open here.
const WRITING_POLL_SECS: f64 = 3.0;

/// A short note at the bottom of the window.
pub struct Toast {
    kind: ToastKind,
    /// egui time; `None` until first shown.
    until: Option<f64>,
}

enum ToastKind {
    /// Undo restores it.
    Deleted(ConversationSummary),
    Message(String),
}

impl Toast {
    fn new(kind: ToastKind) -> Self {
        Self { kind, until: None }
    }

    /// What the toast says (also the test handle's `toast`).
    pub fn text(&self) -> &str {
        match &self.kind {
            ToastKind::Deleted(_) => "Conversation deleted",
            ToastKind::Message(text) => text,
        }
    }
}

/// The second list fetch after a reply, for the title the proxy names a moment later.
#[derive(Default)]
pub struct TitleRefresh {
    pending: bool,
    at: Option<f64>,
    /// When the list was last fetched to follow replies written elsewhere.
    writing_polled_at: Option<f64>,
}

impl TitleRefresh {
    pub fn reply_finished(&mut self) {
        self.pending = true;
    }
}

impl AshleyApp {
    /// Replaces the clock (tests fix the day); the list regroups.
    pub fn set_clock(&mut self, clock: crate::clock::Clock) {
        self.clock = clock;
        self.conversations.regroup_if_day_changed(&self.clock);
    }

    /// A note in the toast (a failure a person should know about).
    pub(super) fn show_message(&mut self, text: String) {
        self.toast = Some(Toast::new(ToastKind::Message(text)));
    }

    /// Opens a conversation as a click on its row does (the benchmark's way in).
    pub fn open_conversation(&mut self, id: &str) {
        self.chat.open(id, None, &self.client);
    }

    /// The conversation list as shown.
    pub fn conversation_list(&self) -> &crate::conversations::ConversationList {
        &self.conversations
    }

    pub fn search(&self) -> &crate::search::Search {
        &self.search
    }

    /// What the toast says, while one shows.
    pub fn toast_text(&self) -> Option<&str> {
        self.toast.as_ref().map(Toast::text)
    }

    /// A rename's refusal, while the field is open.
    pub fn rename_error(&self) -> Option<&str> {
        self.conversations_view.rename.as_ref()?.error.as_deref()
    }

    /// The chat row highlighted after a search hit opened it (its local id).
    pub fn highlighted_row(&self) -> Option<u64> {
        self.highlight.map(|(id, _)| id)
    }

    /// Debounced search, the delayed title refresh, the day changing: once per frame.
    pub(super) fn conversation_timers(&mut self, ctx: &egui::Context, now: f64) {
        self.conversations.regroup_if_day_changed(&self.clock);
        if let Some(query) = self.search.due(now) {
            self.client.search(&query);
        }
        if let Some(wait) = self.search.wait_secs(now) {
            ctx.request_repaint_after(std::time::Duration::from_secs_f64(wait));
        }
        let refresh = &mut self.title_refresh;
        if std::mem::take(&mut refresh.pending) {
            refresh.at = Some(now + TITLE_REFRESH_SECS);
        }
        if let Some(at) = refresh.at {
            if now >= at {
                refresh.at = None;
                self.client.fetch_conversations();
            } else {
                ctx.request_repaint_after(std::time::Duration::from_secs_f64(at - now));
            }
        }
        // A reply written in another conversation (left behind, or asked by another tab): the
        // list follows it until it ends.
        if self
            .conversations
            .writing_elsewhere(self.chat.conversation_id())
        {
            let due = refresh
                .writing_polled_at
                .map_or(now, |at| at + WRITING_POLL_SECS);
            if now >= due {
                refresh.writing_polled_at = Some(now);
                self.client.fetch_conversations();
            } else {
                ctx.request_repaint_after(std::time::Duration::from_secs_f64(due - now));
            }
        }
    }

    pub(super) fn conversations_ui(
        &mut self,
        ui: &mut egui::Ui,
        palette: &Palette,
        commands: &mut Vec<Command>,
    ) {
        let context = ListContext {
            palette,
            list: &self.conversations,
            open_id: self.chat.conversation_id(),
            open_writing: self.chat.is_sending(),
        };
        conversations_ui(
            ui,
            &mut self.conversations_view,
            &mut self.search,
            &context,
            commands,
        );
    }

    pub(super) fn on_conversation_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Conversations(result) => {
                let latest = match result {
                    Ok(list) => {
                        self.conversations.replace(list, &self.clock);
                        Ok(self.conversations.most_recent().map(str::to_owned))
                    }
                    Err(error) => {
                        self.conversations.error = Some(error.to_string());
                        Err(error)
                    }
                };
                if self.chat.wants_latest() {
                    if latest.as_ref().is_ok_and(Option::is_some) {
                        self.conversations_view.reveal_open = true;
                    }
                    self.chat.on_latest_conversation(latest, &self.client);
                }
            }
            NetEvent::ConversationCreated(result) => {
                // A first conversation makes the app a guest (the proxy set its cookie or token).
                if result.is_ok()
                    && self.account.identity() == ashley_proxy::api::Identity::Anonymous
                {
                    self.client.fetch_me();
                }
                let id = result.map(|summary| {
                    let id = summary.id.clone();
                    self.conversations.upsert(summary, &self.clock);
                    self.conversations_view.reveal_open = true;
                    id
                });
                self.chat
                    .on_conversation_created(id, &self.client, &self.persisted.persona);
            }
            NetEvent::ConversationChanged { id, result } => match result {
                Ok(summary) => {
                    if self
                        .conversations_view
                        .rename
                        .as_ref()
                        .is_some_and(|rename| rename.id == id)
                    {
                        self.conversations_view.rename = None;
                    }
                    self.conversations.upsert(summary, &self.clock);
                }
                Err(error) => match self
                    .conversations_view
                    .rename
                    .as_mut()
                    .filter(|rename| rename.id == id)
                {
                    // The proxy's reason (too long, empty); the text stays to fix it.
                    Some(rename) => rename.error = Some(error.to_string()),
                    None => {
                        let text = format!("Could not change the conversation: {error}");
                        self.toast = Some(Toast::new(ToastKind::Message(text)));
                    }
                },
            },
            NetEvent::ConversationDeleted {
                id,
                result: Err(error),
            } => {
                // Still there on the proxy: show it again.
                if let Some(Toast {
                    kind: ToastKind::Deleted(summary),
                    ..
                }) = self.toast.take_if(
                    |toast| matches!(&toast.kind, ToastKind::Deleted(summary) if summary.id == id),
                ) {
                    self.conversations.upsert(summary, &self.clock);
                } else {
                    self.client.fetch_conversations();
                }
                let text = format!("Could not delete the conversation: {error}");
                self.toast = Some(Toast::new(ToastKind::Message(text)));
            }
            NetEvent::ConversationDeleted { result: Ok(()), .. } => {}
            NetEvent::ConversationRestored { id: _, result } => match result {
                Ok(summary) => self.conversations.upsert(summary, &self.clock),
                Err(error) => {
                    let text = format!("Could not restore the conversation: {error}");
                    self.toast = Some(Toast::new(ToastKind::Message(text)));
                }
            },
            NetEvent::Search { query, result } => {
                let outcome = match result {
                    Ok(results) => SearchOutcome::Hits(results),
                    Err(error) => SearchOutcome::Failed(format!("{error}.")),
                };
                self.search.on_results(&query, outcome);
            }
            _ => {}
        }
    }

    pub(super) fn apply_conversation_command(&mut self, command: Command, ctx: &egui::Context) {
        match command {
            Command::NewChat => {
                self.conversations_open = false;
                if !self.chat.is_blank() {
                    let was_writing = self.chat.is_sending();
                    self.chat.new_chat(&self.client);
                    if was_writing {
                        self.client.fetch_conversations();
                    }
                }
                ctx.memory_mut(|memory| {
                    memory.request_focus(crate::ui::composer::composer_id());
                });
            }
            Command::OpenConversation { id, message_id } => {
                self.conversations_open = false;
                let was_writing = self.chat.is_sending();
                self.chat.open(&id, message_id, &self.client);
                if was_writing {
                    // The reply left behind goes on: the list shows it being written.
                    self.client.fetch_conversations();
                }
            }
            Command::ToggleConversations => {
                self.conversations_open = !self.conversations_open;
                self.sidebar_open = false;
                self.conversations_view.reveal_open = self.conversations_open;
            }
            Command::Rename { id, title } => {
                let patch = ConversationPatch {
                    title: Some(title.trim().to_owned()),
                    pinned: None,
                };
                self.client.patch_conversation(&id, &patch);
            }
            Command::SetPinned(id, pinned) => {
                // Shown at once; the proxy's answer confirms it (or the toast says why not).
                if let Some(mut summary) = self.conversations.get(&id).cloned() {
                    summary.pinned = pinned;
                    self.conversations.upsert(summary, &self.clock);
                }
                let patch = ConversationPatch {
                    title: None,
                    pinned: Some(pinned),
                };
                self.client.patch_conversation(&id, &patch);
            }
            Command::DeleteConversation(id) => self.delete_conversation(&id),
            Command::UndoDelete => {
                if let Some(Toast {
                    kind: ToastKind::Deleted(summary),
                    ..
                }) = self.toast.take()
                {
                    self.client.restore_conversation(&summary.id);
                    // Back in the list at once; the proxy's answer confirms it.
                    self.conversations.upsert(summary, &self.clock);
                }
            }
            Command::RefreshConversations => {
                self.conversations.error = None;
                self.client.fetch_conversations();
            }
            Command::SearchEdited => self.search.edited(ctx.input(|input| input.time)),
            Command::CloseSearch => self.search.clear(),
            _ => {}
        }
    }

    /// Hides the conversation at once (the proxy keeps it restorable) and offers Undo; the open
    /// one gives way to its neighbour in the list, or a new chat.
    fn delete_conversation(&mut self, id: &str) {
        let neighbour = self.conversations.neighbour_of(id).map(str::to_owned);
        let Some(summary) = self.conversations.remove(id, &self.clock) else {
            return;
        };
        self.client.delete_conversation(id);
        if self
            .conversations_view
            .rename
            .as_ref()
            .is_some_and(|r| r.id == id)
        {
            self.conversations_view.rename = None;
        }
        if self.chat.conversation_id() == Some(id) {
            match neighbour {
                Some(next) => self.chat.open(&next, None, &self.client),
                None => self.chat.new_chat(&self.client),
            }
        }
        self.toast = Some(Toast::new(ToastKind::Deleted(summary)));
    }

    /// The toast over the bottom of the window, with Undo for a delete.
    pub(super) fn toast_ui(
        &mut self,
        ctx: &egui::Context,
        palette: &Palette,
        commands: &mut Vec<Command>,
    ) {
        let Some(toast) = &mut self.toast else {
            return;
        };
        let now = ctx.input(|input| input.time);
        let until = *toast.until.get_or_insert(now + TOAST_SECS);
        if now >= until {
            self.toast = None;
            return;
        }
        ctx.request_repaint_after(std::time::Duration::from_secs_f64(until - now));
        egui::Area::new(egui::Id::unique("ashley_toast"))
            .anchor(egui::Align2::CENTER_BOTTOM, egui::vec2(0.0, -110.0))
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style())
                    .fill(palette.surface)
                    .inner_margin(egui::Margin::symmetric(14, 8))
                    .show(ui, |ui| {
                        ui.horizontal(|ui| {
                            ui.label(RichText::new(toast.text()).strong());
                            if matches!(toast.kind, ToastKind::Deleted(_)) {
                                ui.label("·");
                                let undo = ui
                                    .button("Undo")
                                    .on_hover_text("Bring the conversation back");
                                record_widget(|| "undo".to_owned(), undo.rect);
                                if undo.clicked() {
                                    commands.push(Command::UndoDelete);
                                }
                            }
                            if ui.small_button("❌").on_hover_text("Dismiss").clicked() {
                                toast.until = Some(now);
                            }
                        });
                    });
            });
    }
}
