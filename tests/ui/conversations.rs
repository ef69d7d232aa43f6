//! The conversation list and search, driven through the real UI against the fake proxy.

use std::time::Duration;

use ashley::AshleyApp;
use ashley::clock::{Clock, DAY_MS};
use ashley::conversation::MessageKind;
use ashley::conversations::{Group, ListRow};
use ashley::state::PersistedState;
use ashley_proxy::api::Role;
use egui::accesskit::Role as A11yRole;
use egui_kittest::kittest::Queryable as _;

use crate::fake_proxy::{FakeProxy, NOON, message};
use crate::{
    AppHarness, WIDE, app, app_harness, connected, last_message, step_until, type_and_press_enter,
};

const HOUR: i64 = 3_600_000;
/// The titles of the list's conversations, in the order shown.
fn titles(app: &AshleyApp) -> Vec<String> {
    app.conversation_list()
        .conversations()
        .iter()
        .map(|c| c.title.clone())
        .collect()
}

fn set_clock(harness: &mut AppHarness, clock: Clock) {
    harness.step();
    harness.state_mut().as_mut().unwrap().set_clock(clock);
    harness.step();
}

/// Opens the "…" menu of the conversation titled `title` and clicks `item`.
fn row_action(harness: &mut AppHarness, title: &str, item: &str) {
    harness
        .get_by_label(&format!("Actions for {title}"))
        .click();
    harness.run_steps(2);
    harness.get_by_label(item).click();
    harness.run_steps(2);
}

fn replace_rename_text(harness: &mut AppHarness, text: &str) {
    let field = harness.get_by_label("Conversation title");
    field.focus();
    harness.step();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.get_by_label("Conversation title").type_text(text);
    harness.step();
}

#[test]
fn the_first_exchange_names_the_conversation_and_new_chat_keeps_it_in_the_list() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a conversation in the list", |app| {
        connected(app) && app.conversation_list().conversations().len() == 1
    });
    harness.get_by_label("New chat"); // the untitled row
    let first = app(&harness).conversation_id().unwrap().to_owned();
    type_and_press_enter(&mut harness, "Plan my week please");
    step_until(&mut harness, "the model-made title in the list", |app| {
        titles(app) == ["About Plan my week"]
    });
    harness.get_by_label("About Plan my week");

    // The list's New chat (the composer has one too).
    harness
        .get_all_by_label("📝 New chat")
        .next()
        .unwrap()
        .click();
    step_until(&mut harness, "a second conversation", |app| {
        connected(app)
            && app.conversation_id() != Some(first.as_str())
            && app.conversation_list().conversations().len() == 2
    });
    assert!(app(&harness).conversation().is_empty());
    assert_eq!(titles(app(&harness)), ["", "About Plan my week"]);
    assert!(
        proxy.meta(&first).is_some_and(|meta| !meta.deleted),
        "the old one stays"
    );

    // An empty conversation is already a new chat: no third one.
    harness
        .get_all_by_label("📝 New chat")
        .next()
        .unwrap()
        .click();
    harness.run_steps(5);
    std::thread::sleep(Duration::from_millis(100));
    harness.run_steps(3);
    assert_eq!(app(&harness).conversation_list().conversations().len(), 2);

    // Opening the first loads its history.
    harness.get_by_label("About Plan my week").click();
    step_until(&mut harness, "the first conversation's history", |app| {
        app.conversation_id() == Some(first.as_str()) && app.conversation().len() == 2
    });
    harness.get_by_label("Plan my week please");
    assert_eq!(
        app(&harness).persisted().conversation_id.as_deref(),
        Some(first.as_str())
    );
}

#[test]
fn rename_saves_on_enter_cancels_on_escape_and_shows_the_proxys_refusal() {
    let proxy = FakeProxy::start();
    let id =
        proxy.preload_conversation("Old name", false, NOON, vec![message(1, Role::User, "hi")]);
    let persisted = PersistedState {
        conversation_id: Some(id.clone()),
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, persisted, WIDE);
    step_until(&mut harness, "the list", |app| titles(app) == ["Old name"]);

    row_action(&mut harness, "Old name", "📝 Rename");
    replace_rename_text(&mut harness, &"x".repeat(130));
    harness.key_press(egui::Key::Enter);
    step_until(&mut harness, "the refusal", |app| {
        app.rename_error().is_some()
    });
    harness.get_by_label_contains("A title needs 1 to 120 characters.");
    assert_eq!(
        harness
            .get_by_label("Conversation title")
            .value()
            .as_deref(),
        Some("x".repeat(130).as_str()),
        "the text stays to fix it"
    );

    replace_rename_text(&mut harness, "Holiday plans");
    harness.key_press(egui::Key::Enter);
    step_until(&mut harness, "the new title", |app| {
        titles(app) == ["Holiday plans"]
    });
    assert!(
        harness.query_by_label("Conversation title").is_none(),
        "the field closed"
    );
    assert_eq!(proxy.meta(&id).unwrap().title, "Holiday plans");

    row_action(&mut harness, "Holiday plans", "📝 Rename");
    replace_rename_text(&mut harness, "Never saved");
    harness.key_press(egui::Key::Escape);
    harness.run_steps(3);
    assert!(harness.query_by_label("Conversation title").is_none());
    harness.get_by_label("Holiday plans");
    assert_eq!(proxy.meta(&id).unwrap().title, "Holiday plans");
}

#[test]
fn pin_moves_a_conversation_to_pinned_and_delete_offers_undo() {
    let proxy = FakeProxy::start();
    let newer = proxy.preload_conversation("Newer", false, NOON, vec![message(1, Role::User, "n")]);
    let older = proxy.preload_conversation(
        "Older one",
        false,
        NOON - HOUR,
        vec![message(2, Role::User, "o")],
    );
    let persisted = PersistedState {
        conversation_id: Some(newer.clone()),
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, persisted, WIDE);
    step_until(&mut harness, "the list", |app| {
        titles(app) == ["Newer", "Older one"]
    });

    row_action(&mut harness, "Older one", "Pin");
    assert_eq!(titles(app(&harness)), ["Older one", "Newer"]);
    let list = app(&harness).conversation_list();
    assert_eq!(list.rows()[0], ListRow::Heading(Group::Pinned));
    assert_eq!(list.entry(0).unwrap().1, Group::Pinned);
    harness.get_by_label("Pinned");
    step_until(&mut harness, "the pin on the proxy", |_| {
        proxy.meta(&older).unwrap().pinned
    });

    // Delete a conversation that is not open: it goes at once, Undo brings it back.
    row_action(&mut harness, "Older one", "🗑 Delete");
    assert_eq!(titles(app(&harness)), ["Newer"]);
    assert_eq!(app(&harness).toast_text(), Some("Conversation deleted"));
    harness.run_steps(2); // an area's first frame only measures it
    harness.get_by_label("Conversation deleted");
    step_until(&mut harness, "the delete on the proxy", |_| {
        proxy.meta(&older).unwrap().deleted
    });
    harness.get_by_label("Undo").click();
    harness.step();
    assert_eq!(titles(app(&harness)), ["Older one", "Newer"]);
    assert_eq!(app(&harness).toast_text(), None);
    step_until(&mut harness, "the restore on the proxy", |_| {
        !proxy.meta(&older).unwrap().deleted
    });

    // Deleting the open conversation opens its neighbour.
    row_action(&mut harness, "Newer", "🗑 Delete");
    step_until(&mut harness, "the neighbour opened", |app| {
        app.conversation_id() == Some(older.as_str()) && app.conversation().len() == 1
    });
    harness.get_by_label("o");
}

#[test]
fn the_list_groups_by_local_day_with_an_injected_clock() {
    let proxy = FakeProxy::start();
    // Fixed at noon in a zone 3 h ahead of UTC (15:00 local): local midnight is 21:00 UTC.
    let local_midnight = NOON - 15 * HOUR;
    for (title, pinned, at) in [
        ("Pinned long ago", true, NOON - 400 * DAY_MS),
        ("This morning", false, local_midnight + HOUR),
        ("Late last night", false, local_midnight - 1),
        ("Three days back", false, local_midnight - 3 * DAY_MS),
        ("Last month", false, local_midnight - 30 * DAY_MS),
    ] {
        proxy.preload_conversation(title, pinned, at, Vec::new());
    }
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    set_clock(
        &mut harness,
        Clock::Fixed {
            now_ms: NOON,
            utc_offset_ms: 3 * HOUR,
        },
    );
    step_until(&mut harness, "the list", |app| {
        app.conversation_list().conversations().len() == 5
    });
    let list = app(&harness).conversation_list();
    let shown: Vec<String> = list
        .rows()
        .iter()
        .map(|row| match row {
            ListRow::Heading(group) => group.heading().to_owned(),
            ListRow::Conversation(index) => format!("  {}", list.conversations()[*index].title),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "Pinned",
            "  Pinned long ago",
            "Today",
            "  This morning",
            "Yesterday",
            "  Late last night",
            "Previous 7 days",
            "  Three days back",
            "Older",
            "  Last month",
        ]
    );
    for heading in ["Pinned", "Today", "Yesterday", "Previous 7 days", "Older"] {
        harness.get_by_label(heading);
    }
    // A first start opens the most recently active conversation, pinned or not.
    let opened = app(&harness).conversation_id().map(str::to_owned);
    assert_eq!(
        opened
            .as_deref()
            .and_then(|id| app(&harness).conversation_list().get(id))
            .map(|c| c.title.as_str()),
        Some("This morning")
    );
}

#[test]
fn search_shows_highlighted_hits_and_a_hit_opens_its_conversation_at_the_message() {
    let proxy = FakeProxy::start();
    let mut long = Vec::new();
    for index in 0..200 {
        let (role, text) = if index % 2 == 0 {
            (Role::User, format!("Question {index} about nothing much"))
        } else {
            (
                Role::Assistant,
                format!("Answer {index}, also about nothing"),
            )
        };
        long.push(message(index + 1, role, &text));
    }
    long[20] = message(21, Role::User, "How do I start a tokio runtime by hand?");
    let target = proxy.preload_conversation("Async questions", false, NOON - DAY_MS, long);
    let other = proxy.preload_conversation(
        "Shopping",
        false,
        NOON,
        vec![message(500, Role::User, "milk and eggs")],
    );
    let persisted = PersistedState {
        conversation_id: Some(other),
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, persisted, WIDE);
    step_until(&mut harness, "the list", |app| {
        app.conversation_list().conversations().len() == 2 && app.conversation().len() == 1
    });

    // Ctrl+K focuses the search box.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::K);
    harness.run_steps(2);
    assert!(harness.get_by_label("Search conversations").is_focused());
    harness
        .get_by_label("Search conversations")
        .type_text("  Tokio ");
    harness.step();
    step_until(&mut harness, "the hits", |app| {
        matches!(
            app.search().outcome(),
            Some(ashley::search::SearchOutcome::Hits(_))
        )
    });
    assert_eq!(
        proxy.searches(),
        ["Tokio"],
        "trimmed, sent once after the pause"
    );
    // The hit names its conversation and shows the message (the word marked, see snippet.rs).
    let hit = harness.get_by_label("Async questions: How do I start a tokio runtime by hand?");
    hit.click();
    step_until(&mut harness, "the conversation at the hit", |app| {
        app.conversation_id() == Some(target.as_str())
            && app.conversation().len() == 200
            && app.highlighted_row().is_some()
    });
    harness.run_steps(4);
    let highlighted = app(&harness).highlighted_row().unwrap();
    let row = app(&harness)
        .conversation()
        .messages()
        .iter()
        .find(|m| m.local_id == highlighted)
        .unwrap();
    assert_eq!(
        (row.stored_id, row.kind.clone()),
        (Some(21), MessageKind::User)
    );
    // Only rows in view are laid out: the message is on screen, the newest one is not.
    // (The hits stay, to try another: the snippet is the other node with that text.)
    assert_eq!(
        harness
            .get_all_by_label("How do I start a tokio runtime by hand?")
            .count(),
        2
    );
    assert!(
        harness
            .query_by_label("Answer 199, also about nothing")
            .is_none()
    );
}

#[test]
fn search_says_when_nothing_matches_explains_errors_and_escape_returns_to_the_list() {
    let proxy = FakeProxy::start();
    proxy.preload_conversation(
        "Groceries",
        false,
        NOON,
        vec![message(1, Role::User, "milk")],
    );
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "the list", |app| {
        connected(app) && titles(app) == ["Groceries"]
    });
    let search = harness.get_by_label("Search conversations");
    search.focus();
    harness.step();
    harness
        .get_by_label("Search conversations")
        .type_text("zebra");
    step_until(&mut harness, "no hits", |app| {
        app.search().outcome().is_some()
    });
    harness.get_by_label("No conversation mentions “zebra”");

    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness
        .get_by_label("Search conversations")
        .type_text("FAIL");
    step_until(&mut harness, "the error", |app| {
        matches!(
            app.search().outcome(),
            Some(ashley::search::SearchOutcome::Failed(_))
        )
    });
    harness.get_by_label("Could not search: The search index is unavailable.");
    assert_eq!(app(&harness).search().text, "FAIL", "the query stays");

    harness.key_press(egui::Key::Escape);
    harness.run_steps(2);
    assert!(!app(&harness).search().is_active());
    harness.get_by_label("Groceries");
}

#[test]
fn a_reply_streaming_in_one_conversation_does_not_leak_into_another() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a conversation", connected);
    let first = app(&harness).conversation_id().unwrap().to_owned();
    type_and_press_enter(&mut harness, "HOLD this one");
    step_until(&mut harness, "the reply streaming", |app| {
        app.is_sending() && last_message(app).kind == MessageKind::Reply
    });

    // Ctrl+Shift+O: a new chat while the reply streams.
    harness.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::O,
    );
    step_until(&mut harness, "the new chat", |app| {
        connected(app) && app.conversation_id() != Some(first.as_str())
    });
    proxy.release();
    std::thread::sleep(Duration::from_millis(200));
    harness.run_steps(5);
    assert!(
        app(&harness).conversation().is_empty(),
        "nothing of the other reply here"
    );

    // The detached reply finished on the proxy and is there when the conversation reopens.
    step_until(&mut harness, "the first conversation named", |app| {
        app.conversation_list()
            .get(&first)
            .is_some_and(|c| !c.title.is_empty())
            || app.conversation_list().conversations().len() == 2
    });
    harness
        .state_mut()
        .as_mut()
        .unwrap()
        .open_conversation(&first);
    step_until(
        &mut harness,
        "the first conversation with its reply",
        |app| app.conversation().len() == 2 && !last_message(app).partial,
    );
    assert_eq!(
        last_message(app(&harness)).content,
        crate::fake_proxy::REPLY_MARKDOWN
    );
}

#[test]
fn a_narrow_window_puts_the_list_behind_a_button_that_closes_after_choosing() {
    let proxy = FakeProxy::start();
    let id = proxy.preload_conversation(
        "Earlier chat",
        false,
        NOON - DAY_MS,
        vec![message(1, Role::User, "from earlier")],
    );
    let current = proxy.preload_conversation("Current", false, NOON, Vec::new());
    let persisted = PersistedState {
        conversation_id: Some(current),
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, persisted, egui::vec2(390.0, 760.0));
    step_until(&mut harness, "the list", |app| {
        connected(app) && app.conversation_list().is_loaded()
    });
    assert!(harness.query_by_label("Search conversations").is_none());
    harness.get_by_label("☰ Conversations").click();
    harness.run_steps(2);
    harness.get_by_label("Search conversations");
    assert!(
        harness
            .query_by_role(A11yRole::MultilineTextInput)
            .is_none(),
        "the list covers the chat"
    );
    harness.get_by_label("Earlier chat").click();
    step_until(&mut harness, "the chosen conversation", |app| {
        app.conversation_id() == Some(id.as_str()) && app.conversation().len() == 1
    });
    assert!(
        harness.query_by_label("Search conversations").is_none(),
        "closed after choosing"
    );
    harness.get_by_label("from earlier");
}
