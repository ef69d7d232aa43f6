//! The app: owns the state, lays out the panels, applies their commands and drains the network.

mod conversation_commands;
mod share_commands;
mod transfer_commands;

use std::sync::mpsc::Receiver;

use ashley_proxy::api::PersonaInfo;
use egui::{Key, KeyboardShortcut, Modifiers};

use crate::clock::Clock;
use crate::conversation::{Conversation, RetryAction};
use crate::conversations::ConversationList;
use crate::markdown::MarkdownCache;
use crate::net::{Credential, NetEvent, ProxyClient};
use crate::search::Search;
use crate::session::ChatSession;
use crate::state::{PersistedState, ThemeChoice};
use crate::theme::{self, Palette};
use crate::ui::account::AccountView;
use crate::ui::admin::AdminView;
use crate::ui::chat::ChatView;
use crate::ui::conversations::ConversationsView;
use crate::ui::status::StatusView;
use crate::ui::{self, Command};

/// Below this width (points) the sidebar folds away behind a button.
pub const NARROW_WIDTH: f32 = 700.0;
/// Below this width (points) the conversation list folds away behind "☰ Conversations".
pub const LIST_WIDTH: f32 = 720.0;
/// How long a row opened from a search hit stays highlighted (seconds).
const HIGHLIGHT_SECS: f64 = 2.0;
/// How often the status panel refreshes by itself.
const STATUS_REFRESH_SECS: f64 = 30.0;
/// While a sign-in runs in another tab (the app inside a Space's iframe), how often the app
/// asks whether it has finished.
#[cfg(target_arch = "wasm32")]
const SIGN_IN_POLL_SECS: f64 = 3.0;

pub struct AshleyApp {
    /// Persona and theme; the conversation id is copied in from `chat` after each change.
    persisted: PersistedState,
    /// What was last written to storage; a difference asks eframe to save right away, so a
    /// reload straight after a new session still finds it.
    last_saved: Option<PersistedState>,
    client: ProxyClient,
    events: Receiver<NetEvent>,
    personas: Vec<PersonaInfo>,
    personas_error: Option<String>,
    personas_loaded: bool,
    chat: ChatSession,
    chat_view: ChatView,
    clock: Clock,
    conversations: ConversationList,
    conversations_view: ConversationsView,
    search: Search,
    /// Narrow screens: the list is shown instead of the chat.
    conversations_open: bool,
    toast: Option<conversation_commands::Toast>,
    /// The Share window, for one conversation.
    share: Option<crate::ui::share::ShareView>,
    /// When to fetch the list again for the title the proxy gives a conversation shortly
    /// after its first reply.
    title_refresh: conversation_commands::TitleRefresh,
    /// The chat row a search hit opened: highlighted until the time given (egui seconds).
    highlight: Option<(u64, f64)>,
    status: StatusView,
    status_refreshing: bool,
    last_status_request: Option<f64>,
    /// The web app fetches Hack when code is first shown (natively it is compiled in).
    #[cfg(target_arch = "wasm32")]
    monospace: crate::fonts::DeferredMonospace,
    /// The page's text copy of the conversation, for screen readers.
    #[cfg(target_arch = "wasm32")]
    transcript: crate::transcript::Transcript,
    sidebar_open: bool,
    applied_theme: Option<ThemeChoice>,
    account: AccountView,
    admin: AdminView,
    /// The desktop sign-in waiting for the browser (dropping it stops the wait).
    #[cfg(not(target_arch = "wasm32"))]
    desktop_sign_in: Option<crate::net::DesktopSignIn>,
    /// A sign-in in another tab: when the app last asked whether it is done.
    #[cfg(target_arch = "wasm32")]
    sign_in_poll: Option<f64>,
    /// Where the desktop app saves exports: the user's Downloads folder.
    #[cfg(not(target_arch = "wasm32"))]
    download_dir: std::path::PathBuf,
}

impl AshleyApp {
    /// Called by eframe: restores what was persisted and starts talking to the proxy.
    pub fn new(cc: &eframe::CreationContext<'_>, server: String) -> Self {
        let persisted = PersistedState::load(cc.storage);
        #[cfg(target_arch = "wasm32")]
        let credential = Credential::cookie();
        #[cfg(not(target_arch = "wasm32"))]
        let credential = Credential::in_dir(eframe::storage_dir(crate::APP_ID));
        Self::with_credential(&cc.egui_ctx, server, persisted, credential)
    }

    /// The app with explicit persisted state (tests use this to simulate a reload); natively its
    /// bearer token lives in memory only.
    pub fn with_state(ctx: &egui::Context, server: String, persisted: PersistedState) -> Self {
        #[cfg(target_arch = "wasm32")]
        let credential = Credential::cookie();
        #[cfg(not(target_arch = "wasm32"))]
        let credential = Credential::in_memory();
        Self::with_credential(ctx, server, persisted, credential)
    }

    pub fn with_credential(
        ctx: &egui::Context,
        server: String,
        persisted: PersistedState,
        credential: Credential,
    ) -> Self {
        #[cfg(not(target_arch = "wasm32"))]
        crate::fonts::install_native(ctx);
        let (client, events) = ProxyClient::new(server, ctx.clone(), credential);
        let mut app = Self {
            last_saved: Some(persisted.clone()),
            chat: ChatSession::new(persisted.conversation_id.clone()),
            persisted,
            client,
            events,
            personas: ui::personas::fallback_personas(),
            personas_error: None,
            personas_loaded: false,
            chat_view: ChatView::default(),
            clock: Clock::system(),
            conversations: ConversationList::default(),
            conversations_view: ConversationsView::default(),
            search: Search::default(),
            conversations_open: false,
            toast: None,
            share: None,
            title_refresh: conversation_commands::TitleRefresh::default(),
            highlight: None,
            status: StatusView::Loading,
            status_refreshing: false,
            last_status_request: None,
            #[cfg(target_arch = "wasm32")]
            monospace: crate::fonts::DeferredMonospace::default(),
            #[cfg(target_arch = "wasm32")]
            transcript: crate::transcript::Transcript::default(),
            sidebar_open: false,
            applied_theme: None,
            account: AccountView::default(),
            admin: AdminView::default(),
            #[cfg(not(target_arch = "wasm32"))]
            desktop_sign_in: None,
            #[cfg(target_arch = "wasm32")]
            sign_in_poll: None,
            #[cfg(not(target_arch = "wasm32"))]
            download_dir: transfer_commands::default_download_dir(),
        };
        app.connect();
        app
    }

    /// What would be saved now.
    pub fn persisted(&self) -> &PersistedState {
        &self.persisted
    }

    pub fn conversation_id(&self) -> Option<&str> {
        self.chat.conversation_id()
    }

    /// The parsed-markdown cache (tests check replies are not re-parsed every frame).
    pub fn markdown(&self) -> &MarkdownCache {
        &self.chat_view.markdown
    }

    pub fn conversation(&self) -> &Conversation {
        self.chat.conversation()
    }

    pub fn composer_text(&self) -> &str {
        &self.chat.composer
    }

    /// The personas came from the proxy (not the built-in fallback).
    pub fn personas_loaded(&self) -> bool {
        self.personas_loaded
    }

    /// A status request is in flight (the panel shows a spinner).
    pub fn status_refreshing(&self) -> bool {
        self.status_refreshing
    }

    /// The personas on offer (from the proxy once it answered).
    pub fn personas(&self) -> &[PersonaInfo] {
        &self.personas
    }

    /// The status panel has an answer (or an error) to show.
    pub fn status_loaded(&self) -> bool {
        !matches!(self.status, StatusView::Loading)
    }

    /// A reply is requested or streaming.
    pub fn is_sending(&self) -> bool {
        self.chat.is_sending()
    }

    /// Who the app is signed in as (the proxy's last answer).
    pub fn account(&self) -> &AccountView {
        &self.account
    }

    /// The Admin panel's state.
    pub fn admin(&self) -> &AdminView {
        &self.admin
    }

    /// (Re)starts everything that needs the proxy: personas, status, identity, the
    /// conversation and the list.
    fn connect(&mut self) {
        self.client.fetch_personas();
        self.request_status(None);
        self.client.fetch_me();
        self.connect_chat();
    }

    /// The open conversation and the list (one request when the list also says which
    /// conversation was the most recent).
    fn connect_chat(&mut self) {
        self.chat.connect(&self.client);
        if !self.chat.wants_latest() {
            self.client.fetch_conversations();
        }
    }

    fn request_status(&mut self, now: Option<f64>) {
        self.status_refreshing = true;
        self.last_status_request = now.or(self.last_status_request);
        self.client.fetch_status();
    }

    /// Background work: network results, the periodic status refresh. Called before each frame.
    pub fn logic_tick(&mut self, ctx: &egui::Context) {
        while let Ok(event) = self.events.try_recv() {
            self.on_net_event(event, ctx);
        }
        self.after_chat_change();
        let now = ctx.input(|input| input.time);
        self.conversation_timers(ctx, now);
        if let Some(wait) = self.chat.tick(now, &self.client) {
            ctx.request_repaint_after(std::time::Duration::from_secs_f64(wait));
        }
        match self.last_status_request {
            None => self.last_status_request = Some(now),
            Some(last) if now - last >= STATUS_REFRESH_SECS && !self.status_refreshing => {
                self.request_status(Some(now));
            }
            Some(_) => {}
        }
        #[cfg(target_arch = "wasm32")]
        if let Some(last) = self.sign_in_poll
            && now - last >= SIGN_IN_POLL_SECS
        {
            self.sign_in_poll = Some(now);
            self.client.fetch_me();
        }
        #[cfg(target_arch = "wasm32")]
        if self.chat_view.markdown.saw_code {
            self.monospace.request(ctx, self.client.base_url());
        }
        ctx.request_repaint_after(std::time::Duration::from_secs_f64(STATUS_REFRESH_SECS));
    }

    fn on_net_event(&mut self, event: NetEvent, ctx: &egui::Context) {
        match event {
            NetEvent::Personas(Ok(list)) => {
                if !list.personas.iter().any(|p| p.id == self.persisted.persona) {
                    self.persisted.persona = list.default.clone();
                }
                self.personas = list.personas;
                self.personas_error = None;
                self.personas_loaded = true;
            }
            NetEvent::Personas(Err(error)) => self.personas_error = Some(error.to_string()),
            NetEvent::Status(result) => {
                self.status_refreshing = false;
                self.status = match result {
                    Ok(status) => StatusView::Ready(Box::new(status)),
                    Err(error) => StatusView::Unreachable(error.to_string()),
                };
            }
            NetEvent::Conversations(_)
            | NetEvent::ConversationCreated(_)
            | NetEvent::ConversationChanged { .. }
            | NetEvent::ConversationDeleted { .. }
            | NetEvent::ConversationRestored { .. }
            | NetEvent::Search { .. } => self.on_conversation_event(event),
            NetEvent::Share { .. } | NetEvent::PageSaved(_) => self.on_share_event(event, ctx),
            NetEvent::Exported(_) | NetEvent::Imported(_) => self.on_transfer_event(event),
            NetEvent::Me(result) => self.on_me(result),
            NetEvent::SignedOut(result) | NetEvent::DataDeleted(result) => {
                self.account.busy = None;
                match result {
                    Ok(()) => {
                        self.account.confirm_delete = false;
                        self.account.error = None;
                        self.account.keys = None;
                        self.account.created_key = None;
                        // Unknown until the new guest exists: its session's creation asks again
                        // (asking now could answer "anonymous" after the guest is made).
                        self.account.me = None;
                        self.admin = AdminView::default();
                        // What was shown is no longer this app's to show: start over as a guest.
                        self.conversations.clear();
                        self.search.clear();
                        self.toast = None;
                        self.chat.leave(&self.client);
                    }
                    Err(error) => self.account.error = Some(error.to_string()),
                }
            }
            NetEvent::SignedIn(result) => {
                self.end_sign_in();
                match result {
                    Ok(()) => {
                        self.account.error = None;
                        self.client.fetch_me();
                        // The guest's conversations are now the account's, with its others.
                        self.client.fetch_conversations();
                    }
                    Err(reason) => self.account.error = Some(format!("Sign-in failed: {reason}.")),
                }
            }
            NetEvent::Keys(result) => match result {
                Ok(list) => self.account.keys = Some(list.keys),
                Err(error) => {
                    self.account.error = Some(format!("Could not list the API keys: {error}"));
                }
            },
            NetEvent::KeyCreated(result) => {
                self.account.busy = None;
                match result {
                    Ok(created) => {
                        self.account.new_key_name.clear();
                        if let Some(keys) = &mut self.account.keys {
                            keys.insert(0, created.info.clone());
                        }
                        self.account.created_key = Some(created);
                    }
                    Err(error) => {
                        self.account.error = Some(format!("Could not create the key: {error}"));
                    }
                }
            }
            NetEvent::KeyRevoked(result) => match result {
                Ok(id) => {
                    if let Some(keys) = &mut self.account.keys {
                        keys.retain(|key| key.id != id);
                    }
                }
                Err(error) => {
                    self.account.error = Some(format!("Could not revoke the key: {error}"));
                }
            },
            NetEvent::AdminReport(result) => {
                self.admin.loading = false;
                match result {
                    Ok(report) => {
                        self.admin.error = None;
                        self.admin.report = Some(report);
                    }
                    Err(error) => self.admin.error = Some(error.to_string()),
                }
            }
            NetEvent::AdminActed(result) => match result {
                Ok(()) => self.refresh_admin(),
                Err(error) => {
                    self.admin.loading = false;
                    self.admin.error = Some(error.to_string());
                }
            },
            NetEvent::History {
                conversation_id,
                result,
            } => {
                self.chat.on_history(
                    &conversation_id,
                    result,
                    &self.client,
                    &self.persisted.persona,
                );
            }
            NetEvent::Stream { stream_id, event } => {
                self.chat
                    .on_stream_event(stream_id, event, &self.client, &self.persisted.persona);
            }
            NetEvent::ReplyStopped(result) => self.chat.on_reply_stopped(result, &self.client),
        }
    }

    fn on_me(&mut self, result: Result<ashley_proxy::api::Me, crate::net::NetError>) {
        match result {
            Ok(me) => {
                #[cfg(target_arch = "wasm32")]
                if self.sign_in_poll.is_some() && me.identity == ashley_proxy::api::Identity::User {
                    // Signed in in the other tab: the conversation is now the account's.
                    self.end_sign_in();
                    self.connect_chat();
                }
                if me.identity == ashley_proxy::api::Identity::User {
                    if self.account.keys.is_none() {
                        self.client.fetch_keys();
                    }
                } else {
                    self.account.keys = None;
                    self.account.created_key = None;
                }
                if !me.admin {
                    self.admin = AdminView::default();
                }
                self.account.me = Some(me);
            }
            Err(error) => {
                self.account.error = Some(format!("Could not check the sign-in: {error}"));
            }
        }
    }

    fn refresh_admin(&mut self) {
        self.admin.loading = true;
        self.admin.confirm_block = None;
        self.client.fetch_admin(self.admin.days);
    }

    fn end_sign_in(&mut self) {
        self.account.busy = None;
        self.account.signing_in = false;
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.desktop_sign_in = None;
        }
        #[cfg(target_arch = "wasm32")]
        {
            self.sign_in_poll = None;
        }
    }

    /// Sends the person to the provider: this tab on the web (a new one inside a frame, where
    /// the provider's page cannot show), the system browser natively.
    fn sign_in(&mut self, ctx: &egui::Context) {
        let Some(login_path) = self
            .account
            .me
            .as_ref()
            .and_then(|me| me.sign_in.as_ref())
            .map(|sign_in| sign_in.login_path.clone())
        else {
            return;
        };
        self.account.error = None;
        #[cfg(target_arch = "wasm32")]
        {
            if crate::web_page::in_frame() {
                ctx.open_url(egui::OpenUrl::new_tab(login_path));
                self.account.busy = Some("Finish signing in in the new tab…".to_owned());
                self.account.signing_in = true;
                self.sign_in_poll = Some(ctx.input(|input| input.time));
            } else {
                ctx.open_url(egui::OpenUrl::same_tab(login_path));
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        match self.client.begin_desktop_sign_in(&login_path) {
            Ok(sign_in) => {
                ctx.open_url(egui::OpenUrl::new_tab(&sign_in.url));
                self.account.busy = Some("Finish signing in in your browser…".to_owned());
                self.account.signing_in = true;
                self.desktop_sign_in = Some(sign_in);
            }
            Err(reason) => self.account.error = Some(format!("Sign-in failed: {reason}.")),
        }
    }

    /// What a change to the chat implies elsewhere: the saved conversation id, fresh status
    /// figures, the list's order and titles.
    fn after_chat_change(&mut self) {
        if self.persisted.conversation_id.as_deref() != self.chat.conversation_id() {
            self.persisted.conversation_id = self.chat.conversation_id().map(str::to_owned);
        }
        if self.chat.take_reply_finished() {
            self.client.fetch_conversations();
            self.title_refresh.reply_finished();
            // The status panel's counters and latency chart now include this reply, and the
            // quota meter its messages and tokens.
            self.request_status(None);
            self.client.fetch_me();
        }
    }

    /// Draws one frame and then applies what the person asked for.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let theme = self.persisted.theme;
        if self.applied_theme != Some(theme) {
            theme::apply(ui.ctx(), theme);
            self.applied_theme = Some(theme);
        }
        #[cfg(feature = "testing")]
        crate::web_test_handle::begin_frame();
        let palette = Palette::of(theme);
        let narrow = ui.max_rect().width() < NARROW_WIDTH;
        let list_folded = ui.max_rect().width() < LIST_WIDTH;
        let mut commands = Vec::new();
        self.shortcuts(ui.ctx(), list_folded, &mut commands);
        self.import_dropped_files(ui.ctx());
        let sending = self.is_sending();
        let panel_frame = egui::Frame::new()
            .fill(palette.background)
            .inner_margin(egui::Margin::symmetric(12, 8));

        egui::Panel::top("header")
            .frame(panel_frame)
            .show(ui, |ui| {
                ui::header::header_ui(ui, &palette, theme, narrow, list_folded, &mut commands);
                ui::personas::personas_ui(
                    ui,
                    &palette,
                    &self.personas,
                    &self.persisted.persona,
                    self.personas_error.as_deref(),
                    &mut commands,
                );
            });
        egui::Panel::bottom("footer")
            .frame(panel_frame)
            .show(ui, |ui| ui::footer::footer_ui(ui, &palette));
        if !list_folded {
            egui::Panel::left("conversations")
                .frame(panel_frame.fill(palette.surface))
                .default_size(260.0)
                .resizable(true)
                .show(ui, |ui| self.conversations_ui(ui, &palette, &mut commands));
        }
        let list_over_chat = list_folded && self.conversations_open;
        let show_sidebar = (!narrow || self.sidebar_open) && !list_over_chat;
        if show_sidebar {
            let sidebar = egui::Panel::right("sidebar").frame(panel_frame.fill(palette.surface));
            let sidebar = if narrow {
                sidebar.exact_size(ui.max_rect().width())
            } else {
                sidebar.default_size(300.0).resizable(true)
            };
            sidebar.show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("sidebar")
                    .show(ui, |ui| {
                        if narrow && ui.button("⬅ Back to the chat").clicked() {
                            commands.push(Command::ToggleSidebar);
                        }
                        ui::account::account_ui(ui, &palette, &self.account, &mut commands);
                        ui.separator();
                        ui::status::status_ui(
                            ui,
                            &palette,
                            &self.status,
                            self.status_refreshing,
                            &mut commands,
                        );
                        ui.separator();
                        ui::about::about_ui(ui, &palette, &self.personas);
                    });
            });
        }
        if list_over_chat {
            egui::CentralPanel::default()
                .frame(panel_frame.fill(palette.surface))
                .show(ui, |ui| {
                    if ui.button("⬅ Back to the chat").clicked() {
                        commands.push(Command::ToggleConversations);
                    }
                    self.conversations_ui(ui, &palette, &mut commands);
                });
        } else if !(narrow && self.sidebar_open) {
            egui::Panel::bottom("composer")
                .frame(panel_frame)
                .show(ui, |ui| {
                    let can_start_new = !self.chat.is_blank();
                    let reply = match (sending, self.chat.is_stopping()) {
                        (false, _) => ui::composer::ReplyState::Idle,
                        (true, false) => ui::composer::ReplyState::Replying,
                        (true, true) => ui::composer::ReplyState::Stopping,
                    };
                    ui::composer::composer_ui(
                        ui,
                        &palette,
                        &mut self.chat.composer,
                        reply,
                        can_start_new,
                        &mut commands,
                    );
                });
            egui::CentralPanel::default()
                .frame(panel_frame)
                .show(ui, |ui| {
                    let streaming_index = self.chat.streaming_index();
                    let now = ui.input(|input| input.time);
                    let scroll_to_row = self.chat.take_focus_row();
                    if let Some(message) =
                        scroll_to_row.and_then(|row| self.chat.conversation().messages().get(row))
                    {
                        self.highlight = Some((message.local_id, now + HIGHLIGHT_SECS));
                    }
                    let highlight =
                        self.highlight
                            .filter(|(_, until)| *until > now)
                            .map(|(id, until)| {
                                ui.ctx()
                                    .request_repaint_after(std::time::Duration::from_secs_f64(
                                        until - now,
                                    ));
                                id
                            });
                    let context = ui::chat::ChatContext {
                        palette: &palette,
                        personas: &self.personas,
                        sending,
                        streaming_index,
                        awaiting_reply: sending && streaming_index.is_none(),
                        scroll_to_bottom: self.chat.take_scroll_to_bottom(),
                        scroll_to_row,
                        highlight,
                    };
                    ui::chat::chat_ui(
                        ui,
                        &mut self.chat_view,
                        self.chat.conversation(),
                        &context,
                        &mut commands,
                    );
                });
        }

        #[cfg(target_arch = "wasm32")]
        self.transcript.update(
            ui.ctx(),
            self.chat.conversation_id(),
            self.chat.conversation().messages(),
            self.chat.streaming_index(),
            &self.personas,
        );
        ui::admin::admin_window(ui.ctx(), &palette, &self.admin, &mut commands);
        ui::share::share_window(ui.ctx(), &palette, self.share.as_ref(), &mut commands);
        self.toast_ui(ui.ctx(), &palette, &mut commands);

        #[cfg(feature = "testing")]
        crate::web_test_handle::publish(&crate::web_test_handle::AppView {
            persona: &self.persisted.persona,
            sending: self.is_sending(),
            composer_text: &self.chat.composer,
            messages: self.chat.conversation().messages(),
            zoom_factor: ui.ctx().zoom_factor(),
            identity: match self.account.identity() {
                ashley_proxy::api::Identity::Guest => "guest",
                ashley_proxy::api::Identity::User => "user",
                ashley_proxy::api::Identity::Anonymous | ashley_proxy::api::Identity::Unknown => {
                    "anonymous"
                }
            },
            account_name: self.account.me.as_ref().and_then(|me| me.name.as_deref()),
            conversation_id: self.chat.conversation_id(),
            conversations: &self.conversations,
            search: &self.search,
            toast: self.toast.as_ref().map(conversation_commands::Toast::text),
            share_link: self
                .share
                .as_ref()
                .and_then(crate::ui::share::ShareView::link),
        });

        for command in commands {
            self.apply(command, ui.ctx());
        }
        self.after_chat_change();
    }

    /// Ctrl+K (Cmd+K) searches, Ctrl+Shift+O starts a new chat.
    fn shortcuts(&mut self, ctx: &egui::Context, list_folded: bool, commands: &mut Vec<Command>) {
        let new_chat = KeyboardShortcut::new(Modifiers::COMMAND | Modifiers::SHIFT, Key::O);
        let search = KeyboardShortcut::new(Modifiers::COMMAND, Key::K);
        let (new_chat, search) = ctx.input_mut(|input| {
            (
                input.consume_shortcut(&new_chat),
                input.consume_shortcut(&search),
            )
        });
        if new_chat {
            commands.push(Command::NewChat);
        }
        if search {
            if list_folded {
                self.conversations_open = true;
                self.sidebar_open = false;
            }
            ctx.memory_mut(|memory| memory.request_focus(ui::conversations::search_id()));
        }
    }

    fn apply(&mut self, command: Command, ctx: &egui::Context) {
        let persona = &self.persisted.persona;
        match command {
            Command::SelectPersona(id) => self.persisted.persona = id,
            Command::Send => self.chat.send_composer(&self.client, persona),
            Command::Stop => self.chat.stop(&self.client),
            Command::Regenerate => self.chat.regenerate(&self.client, persona),
            Command::NewChat
            | Command::OpenConversation { .. }
            | Command::ToggleConversations
            | Command::Rename { .. }
            | Command::SetPinned(..)
            | Command::DeleteConversation(_)
            | Command::UndoDelete
            | Command::RefreshConversations
            | Command::SearchEdited
            | Command::CloseSearch => self.apply_conversation_command(command, ctx),
            Command::OpenShare(_)
            | Command::CloseShare
            | Command::ShareConversation(_)
            | Command::StopSharing(_)
            | Command::CopyShareLink
            | Command::OpenAsPage(_) => self.apply_share_command(command, ctx),
            Command::Export { .. } | Command::PickImportFile => {
                self.apply_transfer_command(command, ctx);
            }
            Command::Retry(RetryAction::Reconnect) if !self.chat.is_sending() => {
                // Everything that needs the proxy, not only the session.
                self.chat
                    .retry(RetryAction::Reconnect, &self.client, persona);
                self.client.fetch_personas();
                self.request_status(None);
            }
            Command::Retry(action) => self.chat.retry(action, &self.client, persona),
            Command::ToggleTheme => self.persisted.theme = self.persisted.theme.toggled(),
            Command::ToggleSidebar => {
                self.sidebar_open = !self.sidebar_open;
                self.conversations_open = false;
            }
            Command::RefreshStatus => self.request_status(Some(ctx.input(|i| i.time))),
            Command::SignIn => self.sign_in(ctx),
            Command::CancelSignIn => self.end_sign_in(),
            Command::SignOut => {
                self.account.busy = Some("Signing out…".to_owned());
                self.client.sign_out();
            }
            Command::DeleteData => self.account.confirm_delete = true,
            Command::CancelDelete => self.account.confirm_delete = false,
            Command::KeyName(name) => self.account.new_key_name = name,
            Command::CreateKey => {
                self.account.busy = Some("Creating the key…".to_owned());
                self.client.create_key(self.account.new_key_name.trim());
            }
            Command::RevokeKey(id) => self.client.revoke_key(&id),
            Command::CopyKey => {
                if let Some(created) = &self.account.created_key {
                    ctx.copy_text(created.key.clone());
                }
            }
            Command::DismissKey => self.account.created_key = None,
            Command::OpenAdmin => {
                self.admin.open = true;
                self.refresh_admin();
            }
            Command::CloseAdmin => self.admin.open = false,
            Command::AdminDays(days) => {
                self.admin.days = days;
                self.refresh_admin();
            }
            Command::RefreshAdmin => self.refresh_admin(),
            Command::AskBlock(user) => self.admin.confirm_block = Some(user),
            Command::CancelBlock => self.admin.confirm_block = None,
            Command::BlockUser(user, blocked) => {
                self.admin.loading = true;
                self.admin.confirm_block = None;
                self.client.set_blocked(user, blocked);
            }
            Command::AdminRevokeKey(id) => {
                self.admin.loading = true;
                self.client.admin_revoke_key(&id);
            }
            Command::ConfirmDelete => {
                self.account.busy = Some("Deleting your data…".to_owned());
                self.client.delete_my_data();
            }
        }
    }
}

impl eframe::App for AshleyApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.logic_tick(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.persisted.save(storage);
        self.last_saved = Some(self.persisted.clone());
    }

    fn auto_save_interval(&self) -> std::time::Duration {
        if self.last_saved.as_ref() == Some(&self.persisted) {
            std::time::Duration::from_secs(30)
        } else {
            std::time::Duration::ZERO
        }
    }

    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        Palette::of(self.persisted.theme)
            .background
            .to_normalized_gamma_f32()
    }
}
