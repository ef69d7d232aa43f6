//! Errors the proxy names by code: what the notice says, whether Retry is offered, and that
//! what the person typed stays in the composer.

use ashley::conversation::MessageKind;
use ashley::state::PersistedState;
use egui_kittest::kittest::Queryable as _;

use super::fake_proxy::FakeProxy;
use super::{WIDE, app, app_harness, connected, last_message, step_until, type_and_press_enter};

#[test]
fn a_full_store_keeps_the_message_in_the_composer_and_offers_no_retry() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a session", connected);
    type_and_press_enter(&mut harness, "FULL of important words");
    step_until(&mut harness, "the notice", |app| !app.is_sending());
    let notice = last_message(app(&harness));
    assert_eq!(notice.kind, MessageKind::StorageFull);
    assert_eq!(notice.retry, None);
    assert_eq!(app(&harness).composer_text(), "FULL of important words");
    harness.get_by_label("⚠ Storage full");
    harness.get_by_label(
        "Ashley's storage is full; the operator has been told. Your message is kept — send it again later.",
    );
    assert!(harness.query_by_label("🔁 Retry").is_none());
}

#[test]
fn a_conversation_too_long_for_the_model_suggests_a_new_chat() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a session", connected);
    type_and_press_enter(&mut harness, "TOOLONG story");
    step_until(&mut harness, "the notice", |app| !app.is_sending());
    assert_eq!(
        last_message(app(&harness)).kind,
        MessageKind::ContextTooLong
    );
    assert_eq!(app(&harness).composer_text(), "TOOLONG story");
    harness.get_by_label("⚠ Conversation too long");
    harness.get_by_label_contains("Start a new chat");
    assert!(harness.query_by_label("🔁 Retry").is_none());

    // The suggested way out works and keeps the text to send in the new chat.
    let old_session = app(&harness).conversation_id().map(str::to_owned);
    harness
        .get_all_by_label("📝 New chat")
        .last()
        .unwrap()
        .click();
    harness.step();
    step_until(&mut harness, "a new session", |app| {
        app.conversation_id().is_some() && app.conversation_id() != old_session.as_deref()
    });
    assert!(app(&harness).conversation().is_empty());
    assert_eq!(app(&harness).composer_text(), "TOOLONG story");
}
