//! A small read-only window into the app for the browser end-to-end test (`ashley_test_state`).
//!
//! Compiled only with the `testing` feature (and in unit tests): the release bundle has none of it.
//!
//! On wasm32 the page gets one exported function, `ashley_test_state()` (on the wasm-bindgen
//! module object, e.g. `wasm_bindgen.ashley_test_state()` with Trunk's `no-modules` glue, or the
//! module's export), which returns a JSON string:
//!
//! ```json
//! {
//!   "persona": "ashley",            // the selected persona id
//!   "identity": "guest",            // "anonymous" | "guest" | "user" (from /api/me)
//!   "account_name": null,           // a signed-in user's name
//!   "sending": false,               // a reply is being requested or streamed
//!   "composer_text": "",            // what is in the composer
//!   "message_count": 4,             // all rows in the conversation
//!   "messages": [                   // the last 50 rows, oldest first
//!     {"role": "user" | "assistant" | "notice", "content": "...", "partial": false,
//!      "kind": "user" | "reply" | "refusal" | "rate_limited" | "provider_failed"
//!              | "server_failed" | "storage_full" | "context_too_long" | "unreachable"
//!              | "rejected",
//!      "message_id": 17 | null}       // the proxy's id of the stored message, once known
//!   ],
//!   "conversation_id": "abc" | null, // the open conversation
//!   "conversations": [              // the list in the order shown (the first 200)
//!     {"id": "abc", "title": "", "pinned": false,  // title "" shows as "New chat"
//!      "group": "pinned" | "today" | "yesterday" | "previous_7_days" | "older"}
//!   ],
//!   "search": null | {              // while the search box holds a query
//!     "query": "rust",              // trimmed, as sent
//!     "hits": [{"conversation_id": "abc", "message_id": 17 | null, "snippet": "..."}]
//!   },                              // hits is [] until the answer arrives, or when none match
//!   "toast": null | "Conversation deleted",
//!   "share_link": null | "http://127.0.0.1:7860/s/…", // the Share window's link, once made
//!   "frame": 812,                   // frames drawn so far: `widgets` are from the last of them
//!   "widgets": {                    // [x, y, width, height] in CSS pixels, relative to the canvas
//!     "composer": [..], "send": [..], "stop": [..] (only while sending),
//!     "clear": [..] (the composer's "New chat", which was "Clear conversation"),
//!     "persona:ashley": [..], "persona:technical": [..], "persona:creative": [..],
//!     "sign_in": [..], "sign_out": [..] (when offered),
//!     "new_chat": [..], "search": [..] (the list's; on narrow screens while it is open),
//!     "conversations_button": [..] (narrow screens: opens the list),
//!     "conversation:ID": [..], "conversation_menu:ID": [..] (the "…" button), per drawn row,
//!     "rename_field": [..] (while renaming),
//!     "menu:rename": [..], "menu:pin": [..], "menu:share": [..], "menu:page": [..],
//!     "menu:delete": [..] (while a row's menu is open),
//!     "share:create": [..] (the Share window of a conversation without a link),
//!     "share:link": [..], "share:copy": [..] (a link just made), "share:stop": [..] (shared),
//!     "undo": [..] (while "Conversation deleted · Undo" shows),
//!     "search_hit:0", "search_hit:1", ... (the hits drawn)
//!   }
//! }
//! ```
//!
//! Only the rows scrolled into view are drawn, so a `conversation:ID` far down the list is
//! absent until the list is scrolled to it.
//!
//! Widgets that were not drawn in the last frame are absent. The state is rebuilt only when
//! something it contains changed, so the handle costs nothing while the app is idle. Natively
//! (with the feature) the same recorder runs but nothing is exported.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::conversation::{ChatMessage, MessageKind};
use crate::conversations::ConversationList;
use crate::search::{Search, SearchOutcome};

/// How many of the newest rows the handle reports.
const REPORTED_MESSAGES: usize = 50;
/// How many conversations of the list the handle reports.
const REPORTED_CONVERSATIONS: usize = 200;

thread_local! {
    static WIDGETS: RefCell<BTreeMap<String, egui::Rect>> = const { RefCell::new(BTreeMap::new()) };
    /// Frames begun so far: the `frame` of the state.
    static FRAME: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static STATE: RefCell<PublishedState> = RefCell::new(PublishedState::default());
}

#[derive(Default)]
struct PublishedState {
    fingerprint: u64,
    app: Option<AppSnapshot>,
    zoom: f32,
}

#[derive(Clone, Serialize)]
struct AppSnapshot {
    persona: String,
    identity: &'static str,
    account_name: Option<String>,
    sending: bool,
    composer_text: String,
    message_count: usize,
    messages: Vec<MessageSnapshot>,
    conversation_id: Option<String>,
    conversations: Vec<ConversationSnapshot>,
    search: Option<SearchSnapshot>,
    toast: Option<String>,
    share_link: Option<String>,
}

#[derive(Clone, Serialize)]
struct MessageSnapshot {
    role: &'static str,
    content: String,
    partial: bool,
    kind: &'static str,
    message_id: Option<i64>,
}

#[derive(Clone, Serialize)]
struct ConversationSnapshot {
    id: String,
    title: String,
    pinned: bool,
    group: &'static str,
}

#[derive(Clone, Serialize)]
struct SearchSnapshot {
    query: String,
    hits: Vec<HitSnapshot>,
}

#[derive(Clone, Serialize)]
struct HitSnapshot {
    conversation_id: String,
    message_id: Option<i64>,
    snippet: String,
}

#[derive(Serialize)]
struct TestState<'a> {
    #[serde(flatten)]
    app: Option<&'a AppSnapshot>,
    frame: u64,
    widgets: BTreeMap<String, [f32; 4]>,
}

/// Notes where a widget the end-to-end test clicks was drawn this frame (egui points).
pub fn record_widget(name: impl FnOnce() -> String, rect: egui::Rect) {
    WIDGETS.with(|widgets| {
        if let Ok(mut widgets) = widgets.try_borrow_mut() {
            widgets.insert(name(), rect);
        }
    });
}

/// Forgets last frame's widgets (a widget not drawn any more must disappear) and counts the
/// frame.
pub fn begin_frame() {
    FRAME.with(|frame| frame.set(frame.get().wrapping_add(1)));
    WIDGETS.with(|widgets| {
        if let Ok(mut widgets) = widgets.try_borrow_mut() {
            widgets.clear();
        }
    });
}

/// What the app passes in each frame; cheap to build (borrows only).
pub struct AppView<'a> {
    pub persona: &'a str,
    pub sending: bool,
    pub composer_text: &'a str,
    pub messages: &'a [ChatMessage],
    pub zoom_factor: f32,
    /// `anonymous`, `guest` or `user`.
    pub identity: &'static str,
    pub account_name: Option<&'a str>,
    pub conversation_id: Option<&'a str>,
    pub conversations: &'a ConversationList,
    pub search: &'a Search,
    pub toast: Option<&'a str>,
    pub share_link: Option<&'a str>,
}

/// Refreshes the published state when it changed.
pub fn publish(view: &AppView<'_>) {
    let fingerprint = fingerprint(view);
    STATE.with(|state| {
        let Ok(mut state) = state.try_borrow_mut() else {
            return;
        };
        state.zoom = view.zoom_factor;
        if state.app.is_some() && state.fingerprint == fingerprint {
            return;
        }
        state.fingerprint = fingerprint;
        state.app = Some(snapshot(view));
    });
}

/// The JSON described in the module docs.
pub fn test_state_json() -> String {
    STATE.with(|state| {
        let Ok(state) = state.try_borrow() else {
            return "{}".to_owned();
        };
        let zoom = if state.zoom > 0.0 { state.zoom } else { 1.0 };
        let widgets = WIDGETS.with(|widgets| {
            widgets
                .try_borrow()
                .map(|widgets| {
                    widgets
                        .iter()
                        .map(|(name, rect)| {
                            let css = [rect.min.x, rect.min.y, rect.width(), rect.height()]
                                .map(|value| value * zoom);
                            (name.clone(), css)
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
        let json = TestState {
            app: state.app.as_ref(),
            frame: FRAME.with(std::cell::Cell::get),
            widgets,
        };
        serde_json::to_string(&json).unwrap_or_else(|_| "{}".to_owned())
    })
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn ashley_test_state() -> String {
    test_state_json()
}

fn fingerprint(view: &AppView<'_>) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    view.persona.hash(&mut hasher);
    view.sending.hash(&mut hasher);
    view.composer_text.hash(&mut hasher);
    view.identity.hash(&mut hasher);
    view.account_name.hash(&mut hasher);
    view.conversation_id.hash(&mut hasher);
    view.conversations.revision().hash(&mut hasher);
    view.search.revision().hash(&mut hasher);
    view.toast.hash(&mut hasher);
    view.share_link.hash(&mut hasher);
    view.messages.len().hash(&mut hasher);
    if let Some(last) = view.messages.last() {
        last.local_id.hash(&mut hasher);
        last.content.len().hash(&mut hasher);
        last.partial.hash(&mut hasher);
        last.unsent.hash(&mut hasher);
        last.stored_id.hash(&mut hasher);
    }
    hasher.finish()
}

fn snapshot(view: &AppView<'_>) -> AppSnapshot {
    let start = view.messages.len().saturating_sub(REPORTED_MESSAGES);
    let messages = view
        .messages
        .iter()
        .skip(start)
        .map(|message| MessageSnapshot {
            role: match message.kind {
                MessageKind::User => "user",
                MessageKind::Reply => "assistant",
                _ => "notice",
            },
            content: message.content.clone(),
            partial: message.partial,
            kind: message.kind.label(),
            message_id: message.stored_id,
        })
        .collect();
    let conversations = (0..view.conversations.conversations().len())
        .take(REPORTED_CONVERSATIONS)
        .filter_map(|index| view.conversations.entry(index))
        .map(|(summary, group)| ConversationSnapshot {
            id: summary.id.clone(),
            title: summary.title.clone(),
            pinned: summary.pinned,
            group: group.label(),
        })
        .collect();
    let search = view.search.query().map(|query| SearchSnapshot {
        query: query.to_owned(),
        hits: match view.search.outcome() {
            Some(SearchOutcome::Hits(results)) => results
                .hits
                .iter()
                .map(|hit| HitSnapshot {
                    conversation_id: hit.conversation_id.clone(),
                    message_id: hit.message_id,
                    snippet: hit.snippet.clone(),
                })
                .collect(),
            _ => Vec::new(),
        },
    });
    AppSnapshot {
        persona: view.persona.to_owned(),
        identity: view.identity,
        account_name: view.account_name.map(str::to_owned),
        sending: view.sending,
        composer_text: view.composer_text.to_owned(),
        message_count: view.messages.len(),
        messages,
        conversation_id: view.conversation_id.map(str::to_owned),
        conversations,
        search,
        toast: view.toast.map(str::to_owned),
        share_link: view.share_link.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::clock::Clock;
    use crate::conversation::Conversation;

    #[test]
    fn the_state_reports_messages_and_widget_rects_in_css_pixels() {
        let clock = Clock::Fixed {
            now_ms: 1_000,
            utc_offset_ms: 0,
        };
        let mut list = ConversationList::default();
        list.upsert(
            ashley_proxy::api::ConversationSummary {
                id: "c1".into(),
                title: "Week plan".into(),
                pinned: true,
                created_at_ms: 0,
                updated_at_ms: 1_000,
                messages: 2,
                writing: false,
            },
            &clock,
        );
        let mut search = Search::with_text(" plan ");
        search.edited(0.0);
        let mut conversation = Conversation::default();
        conversation.push(MessageKind::User, "hello".into());
        conversation
            .push(MessageKind::Reply, "**hi**".into())
            .partial = true;
        begin_frame();
        record_widget(
            || "send".into(),
            egui::Rect::from_min_size(egui::pos2(10.0, 20.0), egui::vec2(30.0, 40.0)),
        );
        publish(&AppView {
            persona: "creative",
            sending: true,
            composer_text: "draft",
            messages: conversation.messages(),
            zoom_factor: 1.5,
            identity: "user",
            account_name: Some("Ada"),
            conversation_id: Some("c1"),
            conversations: &list,
            search: &search,
            toast: Some("Conversation deleted"),
            share_link: Some("http://127.0.0.1:7860/s/00"),
        });
        let json: serde_json::Value = serde_json::from_str(&test_state_json()).unwrap();
        assert_eq!(json["persona"], "creative");
        assert_eq!(
            (json["identity"].as_str(), json["account_name"].as_str()),
            (Some("user"), Some("Ada"))
        );
        assert_eq!(json["composer_text"], "draft");
        assert_eq!(json["messages"][1]["role"], "assistant");
        assert_eq!(json["messages"][1]["partial"], true);
        assert_eq!(
            json["widgets"]["send"],
            serde_json::json!([15.0, 30.0, 45.0, 60.0])
        );
        assert_eq!(json["conversation_id"], "c1");
        assert_eq!(
            json["conversations"],
            serde_json::json!([{"id": "c1", "title": "Week plan", "pinned": true, "group": "pinned"}])
        );
        assert_eq!(
            json["search"],
            serde_json::json!({"query": "plan", "hits": []})
        );
        assert_eq!(json["toast"], "Conversation deleted");
        assert_eq!(json["share_link"], "http://127.0.0.1:7860/s/00");
        // Each frame counts: a test waits on it for a frame drawn after its pointer moved.
        let frame = json["frame"].as_u64().unwrap();
        begin_frame();
        let next: serde_json::Value = serde_json::from_str(&test_state_json()).unwrap();
        assert_eq!(next["frame"].as_u64(), Some(frame + 1));
        assert_eq!(
            next["widgets"],
            serde_json::json!({}),
            "last frame's widgets are gone"
        );
    }
}
