//! Replies are parsed once, not every frame: the parse counter stays flat while nothing changes.

use ashley::state::PersistedState;
use ashley_proxy::api::{HistoryMessage, Role};
use egui_kittest::kittest::Queryable as _;

use super::fake_proxy::FakeProxy;
use super::{WIDE, app, app_harness, step_until};

const REPLY: &str = "## Plan\n\n- **bold** item with `code`\n- a [link](https://example.com)\n\n\
                     | a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```\n";

fn history(replies: usize) -> Vec<HistoryMessage> {
    (0..replies * 2)
        .map(|index| HistoryMessage {
            id: index as i64,
            role: if index % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            },
            content: if index % 2 == 0 {
                format!("question {index}")
            } else {
                REPLY.to_owned()
            },
            persona: "ashley".into(),
            created_at_ms: 0,
            stats: None,
            partial: false,
        })
        .collect()
}

#[test]
fn replies_are_parsed_once_not_every_frame() {
    let proxy = FakeProxy::start();
    let session_id = proxy.preload_session(history(3));
    let persisted = PersistedState {
        conversation_id: Some(session_id),
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, persisted, WIDE);
    step_until(&mut harness, "the history", |app| {
        app.conversation().len() == 6
    });
    harness.run_steps(3);
    // The markdown is rendered: heading, table cell, code block copy button, the link.
    assert!(harness.query_all_by_label("Plan").count() >= 1);
    assert!(harness.query_all_by_label("🗐").count() >= 1);
    assert!(harness.query_all_by_label("link").count() >= 1);
    let parsed = app(&harness).markdown().parse_count();
    assert!(
        (1..=3).contains(&parsed),
        "each visible reply parsed once, got {parsed} parses"
    );
    harness.run_steps(30);
    assert_eq!(
        app(&harness).markdown().parse_count(),
        parsed,
        "30 more frames must not parse again"
    );
    // A theme switch rebuilds the styled text, not the parse.
    harness.get_by_label("☀ Light").click();
    harness.run_steps(5);
    assert_eq!(app(&harness).markdown().parse_count(), parsed);
}
