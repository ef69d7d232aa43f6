//! The app driven through its real UI (egui_kittest) against a proxy on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod conversations;
mod errors;
mod fake_proxy;
mod fonts;
mod markdown;
mod rate_limit;
mod real_proxy;
mod snapshots;
mod transfer;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ashley::AshleyApp;
use ashley::conversation::MessageKind;
use ashley::net::Credential;
use ashley::state::PersistedState;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use fake_proxy::FakeProxy;

pub type AppHarness = Harness<'static, Option<AshleyApp>>;

/// The desktop app's bearer token for `server`, kept across "reloads" the way the real app
/// keeps it in a file (each test's proxy has its own address).
pub fn credential_for(server: &str) -> Credential {
    static KEPT: Mutex<BTreeMap<String, Credential>> = Mutex::new(BTreeMap::new());
    KEPT.lock()
        .unwrap()
        .entry(server.to_owned())
        .or_insert_with(Credential::in_memory)
        .clone()
}

/// A harness running the app against `server`, starting from `persisted` (a "reload" when
/// given the state an earlier instance left).
pub fn app_harness(server: &str, persisted: PersistedState, size: egui::Vec2) -> AppHarness {
    let server = server.to_owned();
    let credential = credential_for(&server);
    Harness::builder().with_size(size).build_ui_state(
        move |ui, app: &mut Option<AshleyApp>| {
            let app = app.get_or_insert_with(|| {
                AshleyApp::with_credential(
                    ui.ctx(),
                    server.clone(),
                    persisted.clone(),
                    credential.clone(),
                )
            });
            app.logic_tick(ui.ctx());
            app.show(ui);
        },
        None,
    )
}

pub fn app(harness: &AppHarness) -> &AshleyApp {
    harness
        .state()
        .as_ref()
        .expect("the first step creates the app")
}

/// Steps frames until `done` holds; fails with `what` after a generous deadline.
pub fn step_until(harness: &mut AppHarness, what: &str, done: impl Fn(&AshleyApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        harness.step();
        if harness.state().as_ref().is_some_and(&done) {
            // One more frame so the UI shows what the state now holds.
            harness.step();
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn connected(app: &AshleyApp) -> bool {
    app.conversation_id().is_some() && !app.is_sending()
}

pub fn type_and_press_enter(harness: &mut AppHarness, text: &str) {
    harness.get_by_role(Role::MultilineTextInput).focus();
    harness.step();
    harness
        .get_by_role(Role::MultilineTextInput)
        .type_text(text);
    harness.step();
    harness.key_press(egui::Key::Enter);
    harness.step();
}

pub fn last_message(app: &AshleyApp) -> &ashley::conversation::ChatMessage {
    app.conversation().messages().last().unwrap()
}

pub const WIDE: egui::Vec2 = egui::vec2(1100.0, 760.0);

#[test]
fn pick_a_persona_send_and_see_the_streamed_markdown_reply() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "the session and personas", |app| {
        connected(app)
    });
    step_until(
        &mut harness,
        "persona descriptions",
        AshleyApp::personas_loaded,
    );
    harness.get_by_label("Technical Expert").click();
    harness.run_steps(2);
    assert_eq!(app(&harness).persisted().persona, "technical");
    harness.get_by_label("Precise answers about code and systems.");

    // Send is disabled while the composer is empty.
    assert!(
        harness
            .get_by_label("▶ Send")
            .accesskit_node()
            .is_disabled()
    );
    type_and_press_enter(&mut harness, "Plan my week");
    assert_eq!(
        app(&harness).composer_text(),
        "",
        "the accepted text leaves the composer"
    );
    step_until(&mut harness, "the finished reply", |app| {
        !app.is_sending() && last_message(app).kind == MessageKind::Reply
    });
    let reply = last_message(app(&harness));
    assert_eq!(reply.content, fake_proxy::REPLY_MARKDOWN);
    assert!(!reply.partial);
    assert_eq!(
        proxy.requests(),
        vec![("technical".into(), "Plan my week".into())]
    );
    // Markdown is rendered: the heading without `##`, the code block, the link.
    harness.get_by_label("Plan 🚀");
    harness.get_by_label("🗐"); // the code block's copy button
    assert_eq!(
        harness.get_by_label("the docs").accesskit_node().role(),
        Role::Link
    );
    harness.get_by_label_contains("fake-model · 42 tokens · TTFT 12 ms");
    harness.get_by_label("🔄 Regenerate");
}

#[test]
fn shift_enter_breaks_the_line_and_enter_sends() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a session", connected);
    harness.get_by_role(Role::MultilineTextInput).focus();
    harness.step();
    harness
        .get_by_role(Role::MultilineTextInput)
        .type_text("line one");
    harness.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::Enter);
    harness
        .get_by_role(Role::MultilineTextInput)
        .type_text("line two");
    harness.step();
    assert_eq!(app(&harness).composer_text(), "line one\nline two");
    harness.key_press(egui::Key::Enter);
    harness.step();
    step_until(&mut harness, "the reply", |app| !app.is_sending());
    assert_eq!(proxy.requests()[0].1, "line one\nline two");
}

#[test]
fn stop_keeps_the_partial_reply_then_regenerate_replaces_it() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a session", connected);
    type_and_press_enter(&mut harness, "HOLD please");
    step_until(&mut harness, "the first piece", |app| {
        last_message(app).kind == MessageKind::Reply && !last_message(app).content.is_empty()
    });
    harness.get_by_label("⏹ Stop").click();
    harness.step();
    // The proxy is asked to stop; the reply ends with its `stopped`, after the text it stored.
    step_until(&mut harness, "the stopped reply", |app| !app.is_sending());
    let app_now = app(&harness);
    let partial = last_message(app_now);
    assert!(partial.partial);
    let first_piece: String = fake_proxy::REPLY_MARKDOWN.chars().take(9).collect();
    assert_eq!(partial.content, first_piece);
    harness.step();
    harness.get_by_label_contains("stopped, partial reply");
    // Later deltas of the stopped stream change nothing.
    proxy.release();
    std::thread::sleep(Duration::from_millis(50));
    harness.step();
    assert_eq!(last_message(app(&harness)).content, first_piece);

    harness.get_by_label("🔄 Regenerate").click();
    harness.step();
    step_until(&mut harness, "the regenerated reply", |app| {
        !app.is_sending() && !last_message(app).partial
    });
    let app_now = app(&harness);
    assert_eq!(
        app_now.conversation().len(),
        2,
        "the partial reply was replaced"
    );
    assert_eq!(last_message(app_now).content, fake_proxy::REPLY_MARKDOWN);
}

#[test]
fn the_desktop_app_is_a_guest_by_bearer_token_and_renews_a_token_the_proxy_forgot() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a session", connected);
    assert_eq!(
        proxy.identity_counts(),
        (1, 0),
        "one guest token, asked for before the first session request"
    );
    type_and_press_enter(&mut harness, "Hello");
    step_until(&mut harness, "the reply", |app| {
        !app.is_sending() && app.conversation().len() == 2
    });
    assert_eq!(proxy.identity_counts(), (1, 0), "every request carried it");
    let saved = app(&harness).persisted().clone();

    // The proxy forgets the token (a new database, say): the next start gets a new guest and a
    // new session without the person seeing an error.
    proxy.forget_tokens();
    let mut restarted = app_harness(&proxy.url, saved.clone(), WIDE);
    step_until(&mut restarted, "a new session", |app| {
        connected(app) && app.conversation_id() != saved.conversation_id.as_deref()
    });
    assert!(app(&restarted).conversation().is_empty());
    let (issued, refused) = proxy.identity_counts();
    assert_eq!(issued, 2, "one new token");
    assert_eq!(
        refused, 2,
        "the history and the session asked with the old one"
    );
    type_and_press_enter(&mut restarted, "Hello again");
    step_until(&mut restarted, "the reply", |app| {
        !app.is_sending() && app.conversation().len() == 2
    });
    assert_eq!(last_message(app(&restarted)).kind, MessageKind::Reply);
}

/// A GET as a browser sends it, without following redirects: (status line, headers, body).
fn browser_get(url: &str) -> (String, String, String) {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, target) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(host, path)| {
            (host, format!("/{path}"))
        });
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_owned(), headers.to_owned(), body.to_owned())
}

/// The URL the app asked the platform to open in the last frame.
fn opened_url(harness: &AppHarness) -> Option<String> {
    harness
        .output()
        .platform_output
        .commands
        .iter()
        .find_map(|command| match command {
            egui::OutputCommand::OpenUrl(open) => Some(open.url.clone()),
            _ => None,
        })
}

#[test]
fn desktop_sign_in_goes_through_the_browser_and_keeps_the_guest_conversation() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a session and the account", |app| {
        connected(app) && app.account().me.is_some()
    });
    harness.get_by_label("You are chatting as a guest.");
    type_and_press_enter(&mut harness, "Before signing in");
    step_until(&mut harness, "the reply", |app| {
        !app.is_sending() && app.conversation().len() == 2
    });
    let session = app(&harness).conversation_id().unwrap().to_owned();

    harness.get_by_label("Sign in with Test ID").click();
    harness.step();
    let url = opened_url(&harness).expect("the system browser is asked to open the sign-in");
    assert!(
        url.starts_with(&format!("{}/auth/login?client=desktop&port=", proxy.url)),
        "{url}"
    );
    harness.step();
    harness.get_by_label("Finish signing in in your browser…");

    // The browser's part: the proxy's sign-in sends it to the app's loopback address.
    let (status, headers, _) = browser_get(&url);
    assert!(status.contains("303"), "{status}");
    let location = headers
        .lines()
        .find_map(|line| line.strip_prefix("location: "))
        .expect("a redirect to the app")
        .to_owned();
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    let (status, _, page) = browser_get(&location);
    assert!(
        status.contains("200") && page.contains("Signed in to Ashley"),
        "{status} {page}"
    );

    step_until(
        &mut harness,
        "signed in, with the account's keys listed",
        |app| {
            app.account().identity() == ashley_proxy::api::Identity::User
                && app.account().keys.is_some()
        },
    );
    assert_eq!(app(&harness).account().error, None);
    harness.get_by_label("Signed in as Ada");
    assert!(
        harness.query_by_label("🛡 Admin panel").is_none(),
        "Ada is no admin"
    );
    assert_eq!(
        app(&harness).conversation_id(),
        Some(session.as_str()),
        "the guest's conversation is now the account's"
    );
    harness.get_by_label("Before signing in");

    // A replayed answer (the browser's back button) changes nothing: the wait is over.
    let replay = std::net::TcpStream::connect(
        location
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap(),
    );
    assert!(
        replay.is_err(),
        "the loopback port is closed once the sign-in is done"
    );

    harness.get_by_label("Sign out").click();
    step_until(&mut harness, "a guest again, on a new session", |app| {
        app.account().identity() == ashley_proxy::api::Identity::Guest
            && connected(app)
            && app.conversation_id() != Some(session.as_str())
    });
    assert!(app(&harness).conversation().is_empty());
}

#[test]
fn an_admin_sees_usage_plots_blocks_a_user_and_revokes_a_key() {
    let proxy = FakeProxy::start();
    proxy.admin_mode();
    // Tall enough that the whole panel is on screen (no scrolling to reach a button).
    let mut harness = app_harness(
        &proxy.url,
        PersistedState::default(),
        egui::vec2(1100.0, 1700.0),
    );
    step_until(&mut harness, "the admin's account", |app| {
        connected(app) && app.account().me.as_ref().is_some_and(|me| me.admin)
    });
    harness.get_by_label("🛡 Admin panel").click();
    step_until(&mut harness, "the report", |app| {
        app.admin().report.is_some() && !app.admin().loading
    });
    for heading in [
        "Messages, active users and errors per day",
        "Tokens per day",
        "Reply time per day (ms)",
        "By persona",
        "By user",
        "Every user's API keys",
    ] {
        harness.get_by_label(heading);
    }
    harness.get_by_label("1 (1.1 %)"); // errors over messages
    harness.get_by_label("800 ms / 2100 ms");
    harness.get_by_label("technical");
    harness.get_by_label("Guest #3");
    harness.get_by_label("admin"); // Root cannot be blocked from here

    // Block asks first; the second press blocks.
    harness.get_all_by_label("Block…").next().unwrap().click();
    step_until(&mut harness, "the question", |app| {
        app.admin().confirm_block == Some(2)
    });
    harness.step();
    assert!(proxy.admin_actions().is_empty(), "nothing until confirmed");
    harness.get_by_label("Block Ada Lovelace").click();
    step_until(&mut harness, "Ada blocked", |app| {
        app.admin()
            .report
            .as_ref()
            .is_some_and(|report| report.users[0].blocked)
            && !app.admin().loading
    });
    assert_eq!(proxy.admin_actions(), ["block 2 true"]);
    harness.get_by_label("Unblock").click();
    step_until(&mut harness, "Ada unblocked", |app| {
        app.admin()
            .report
            .as_ref()
            .is_some_and(|report| !report.users[0].blocked)
            && !app.admin().loading
    });

    harness.get_by_label("Revoke").click();
    step_until(&mut harness, "the key revoked", |app| {
        app.admin()
            .report
            .as_ref()
            .is_some_and(|report| report.keys.is_empty())
    });
    harness.get_by_label("No user has made a key.");
    assert_eq!(
        proxy.admin_actions(),
        ["block 2 true", "block 2 false", "revoke 00112233aabbccdd"]
    );
    assert_eq!(app(&harness).admin().error, None);
}

#[test]
fn new_chat_keeps_the_old_conversation_and_reload_restores_the_open_one() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a conversation", connected);
    type_and_press_enter(&mut harness, "Remember me");
    step_until(&mut harness, "the reply", |app| {
        !app.is_sending() && app.conversation().len() == 2
    });
    let saved = app(&harness).persisted().clone();

    // A new app instance with the same storage: the conversation comes back from the proxy.
    let mut reloaded = app_harness(&proxy.url, saved.clone(), WIDE);
    step_until(&mut reloaded, "the restored history", |app| {
        app.conversation().len() == 2
    });
    assert_eq!(
        app(&reloaded).conversation_id(),
        saved.conversation_id.as_deref()
    );
    reloaded.get_by_label("Remember me");

    // The composer's "New chat" (was "Clear conversation").
    reloaded
        .get_all_by_label("📝 New chat")
        .last()
        .unwrap()
        .click();
    reloaded.step();
    step_until(&mut reloaded, "a new conversation", |app| {
        app.conversation_id().is_some() && app.conversation_id() != saved.conversation_id.as_deref()
    });
    assert!(app(&reloaded).conversation().is_empty());
    assert_eq!(
        proxy
            .history(saved.conversation_id.as_deref().unwrap())
            .map(|h| h.len()),
        Some(2),
        "the old one is kept"
    );
}

#[test]
fn an_unknown_stored_session_is_replaced_silently() {
    let proxy = FakeProxy::start();
    let stale = PersistedState {
        conversation_id: Some("gone".into()),
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, stale, WIDE);
    step_until(&mut harness, "a fresh session", |app| {
        app.conversation_id().is_some_and(|id| id != "gone")
    });
    assert!(app(&harness).conversation().is_empty(), "no error notice");
}

#[test]
fn a_refused_message_shows_the_reason_and_gives_the_text_back() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a session", connected);
    type_and_press_enter(&mut harness, "REFUSE this");
    step_until(&mut harness, "the refusal", |app| !app.is_sending());
    let app_now = app(&harness);
    assert_eq!(last_message(app_now).kind, MessageKind::Refusal);
    assert_eq!(
        app_now.composer_text(),
        "REFUSE this",
        "the composer keeps unsent text"
    );
    harness.get_by_label("🛡 Message refused");
    harness.get_by_label_contains("flagged for violence");
}

#[test]
fn a_failed_send_explains_and_retry_sends_again() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a session", connected);
    type_and_press_enter(&mut harness, "FAIL now");
    step_until(&mut harness, "the failure", |app| !app.is_sending());
    assert_eq!(
        last_message(app(&harness)).kind,
        MessageKind::ProviderFailed
    );
    assert_eq!(app(&harness).composer_text(), "FAIL now");
    harness.get_by_label("⚠ The AI provider failed");
    harness.get_by_label_contains("did not answer");
    harness.get_by_label("🔁 Retry").click();
    harness.step();
    step_until(&mut harness, "the second failure", |app| !app.is_sending());
    assert_eq!(proxy.requests().len(), 2);
    let rows = app(&harness).conversation().len();
    assert_eq!(
        rows, 2,
        "retry replaced the failed attempt instead of piling up rows"
    );
}

#[test]
fn an_unreachable_proxy_says_what_to_do() {
    // Bind a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut harness = app_harness(&url, PersistedState::default(), WIDE);
    step_until(&mut harness, "the notice", |app| {
        app.conversation()
            .messages()
            .iter()
            .any(|m| m.kind == MessageKind::Unreachable)
    });
    harness.get_by_label("🔌 Proxy unreachable");
    harness.get_by_label("🔁 Retry");
    harness.get_by_role(Role::MultilineTextInput).focus();
    harness.step();
    harness
        .get_by_role(Role::MultilineTextInput)
        .type_text("kept");
    harness.step();
    harness.key_press(egui::Key::Enter);
    step_until(&mut harness, "the failed send", |app| !app.is_sending());
    assert_eq!(app(&harness).composer_text(), "kept");
}

#[test]
fn the_theme_switches_and_is_remembered() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    harness.step();
    harness.get_by_label("☀ Light").click();
    harness.run_steps(2);
    let saved = app(&harness).persisted().clone();
    assert_eq!(saved.theme, ashley::state::ThemeChoice::Light);
    let mut reloaded = app_harness(&proxy.url, saved, WIDE);
    reloaded.step();
    reloaded.step();
    reloaded.get_by_label("🌙 Dark");
    assert_eq!(reloaded.ctx.theme(), egui::Theme::Light);
}

#[test]
fn a_narrow_window_folds_the_sidebar_behind_a_button() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(
        &proxy.url,
        PersistedState::default(),
        egui::vec2(390.0, 760.0),
    );
    step_until(&mut harness, "a session", connected);
    assert!(harness.query_by_label("System Status").is_none());
    harness.get_by_label("☰ Info").click();
    harness.run_steps(2);
    harness.get_by_label("System Status");
    harness.get_by_label("⬅ Back to the chat").click();
    harness.run_steps(2);
    assert!(harness.query_by_label("System Status").is_none());
}

#[test]
fn the_status_panel_shows_the_proxy_figures() {
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a session", connected);
    step_until(&mut harness, "status", AshleyApp::status_loaded);
    harness.get_by_label_contains("Healthy");
    harness.get_by_label("1 h 2 min");
    harness.get_by_label("local word list");
    harness.get_by_label("🔄 Refresh").click();
    harness.step();
}

#[test]
fn ten_thousand_messages_lay_out_only_the_visible_rows() {
    let proxy = FakeProxy::start();
    let messages = (0..10_000)
        .map(|index| ashley_proxy::api::HistoryMessage {
            id: index,
            role: if index % 2 == 0 {
                ashley_proxy::api::Role::User
            } else {
                ashley_proxy::api::Role::Assistant
            },
            content: format!("message number {index}\n\n- a list item\n- `code`"),
            persona: "ashley".into(),
            created_at_ms: 0,
            stats: None,
            partial: false,
        })
        .collect();
    let session_id = proxy.preload_session(messages);
    let persisted = PersistedState {
        conversation_id: Some(session_id),
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, persisted, WIDE);
    step_until(&mut harness, "the history", |app| {
        app.conversation().len() == 10_000
    });
    harness.run_steps(3);
    let copy_buttons = harness.query_all_by_label("📋 Copy").count();
    assert!(
        (1..40).contains(&copy_buttons),
        "{copy_buttons} rows laid out, expected only the visible ones"
    );
    // The view starts at the newest message.
    harness.get_by_label("message number 9999");
}

#[test]
fn a_message_sent_while_the_history_loads_follows_the_history() {
    let proxy = FakeProxy::start();
    let earlier = ashley_proxy::api::HistoryMessage {
        id: 1,
        role: ashley_proxy::api::Role::User,
        content: "from before".into(),
        persona: "ashley".into(),
        created_at_ms: 0,
        stats: None,
        partial: false,
    };
    let session_id = proxy.preload_session_named("slow", vec![earlier]);
    let persisted = PersistedState {
        conversation_id: Some(session_id),
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, persisted, WIDE);
    harness.step();
    type_and_press_enter(&mut harness, "typed early");
    assert!(app(&harness).is_sending(), "waiting for the history");
    step_until(&mut harness, "the reply", |app| {
        !app.is_sending() && app.conversation().len() == 3
    });
    let contents: Vec<&str> = app(&harness)
        .conversation()
        .messages()
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(&contents[..2], ["from before", "typed early"]);
    assert_eq!(contents[2], fake_proxy::REPLY_MARKDOWN);
}
