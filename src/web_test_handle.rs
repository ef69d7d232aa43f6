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
//!              | "rejected"}
//!   ],
//!   "widgets": {                    // [x, y, width, height] in CSS pixels, relative to the canvas
//!     "composer": [..], "send": [..], "clear": [..], "stop": [..] (only while sending),
//!     "persona:ashley": [..], "persona:technical": [..], "persona:creative": [..],
//!     "sign_in": [..], "sign_out": [..] (when offered)
//!   }
//! }
//! ```
//!
//! Widgets that were not drawn in the last frame are absent. The state is rebuilt only when
//! something it contains changed, so the handle costs nothing while the app is idle. Natively
//! (with the feature) the same recorder runs but nothing is exported.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::conversation::{ChatMessage, MessageKind};

/// How many of the newest rows the handle reports.
const REPORTED_MESSAGES: usize = 50;

thread_local! {
    static WIDGETS: RefCell<BTreeMap<String, egui::Rect>> = const { RefCell::new(BTreeMap::new()) };
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
}

#[derive(Clone, Serialize)]
struct MessageSnapshot {
    role: &'static str,
    content: String,
    partial: bool,
    kind: &'static str,
}

#[derive(Serialize)]
struct TestState<'a> {
    #[serde(flatten)]
    app: Option<&'a AppSnapshot>,
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

/// Forgets last frame's widgets (a widget not drawn any more must disappear).
pub fn begin_frame() {
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
    view.messages.len().hash(&mut hasher);
    if let Some(last) = view.messages.last() {
        last.local_id.hash(&mut hasher);
        last.content.len().hash(&mut hasher);
        last.partial.hash(&mut hasher);
        last.unsent.hash(&mut hasher);
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
        })
        .collect();
    AppSnapshot {
        persona: view.persona.to_owned(),
        identity: view.identity,
        account_name: view.account_name.map(str::to_owned),
        sending: view.sending,
        composer_text: view.composer_text.to_owned(),
        message_count: view.messages.len(),
        messages,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::conversation::Conversation;

    #[test]
    fn the_state_reports_messages_and_widget_rects_in_css_pixels() {
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
    }
}
