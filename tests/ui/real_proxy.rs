//! The app against the real proxy router (`ashley_proxy`) with the shared fake OpenAI upstream.

use std::time::Duration;

use ashley::conversation::MessageKind;
use ashley::state::PersistedState;
use ashley_fake_upstream::{FakeUpstream, Options};
use ashley_proxy::{AppState, Config};
use egui_kittest::kittest::Queryable as _;

use crate::{app, app_harness, step_until, type_and_press_enter};

const KEY: &str = "sk-ashley-app-test-0123456789";
const REPLY: &str = "**Hello** from the `fake` upstream";

pub(crate) struct RealProxy {
    pub(crate) url: String,
    upstream: FakeUpstream,
    _data_dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl RealProxy {
    fn start() -> Self {
        Self::start_with(|config| config)
    }

    /// With the test's changes to the proxy's configuration.
    pub(crate) fn start_with(change: impl FnOnce(Config) -> Config) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let (upstream, addr) = runtime.block_on(async {
            let upstream = FakeUpstream::start_with(Options {
                expected_key: Some(KEY.to_owned()),
                reply: REPLY.to_owned(),
                chunk_delay: Duration::from_millis(1),
                ..Options::default()
            })
            .await
            .unwrap();
            let config = change(Config {
                data_dir: data_dir.path().to_path_buf(),
                rate_limit_per_minute: 0,
                upstream_retry_base: Duration::from_millis(10),
                ..Config::live(KEY, &upstream.base_url()).unwrap()
            });
            let state = AppState::new(config).unwrap();
            let addr = ashley_proxy::spawn_local(state).await.unwrap();
            (upstream, addr)
        });
        Self {
            url: format!("http://{addr}"),
            upstream,
            _data_dir: data_dir,
            _runtime: runtime,
        }
    }

    /// The system prompt of the last chat request the upstream received.
    fn last_system_prompt(&self) -> String {
        let request = self.upstream.chat_requests().pop().unwrap();
        request.messages()[0]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

const WIDE: egui::Vec2 = egui::vec2(1100.0, 760.0);

#[test]
fn real_proxy_streams_replies_per_persona_and_restores_them_after_a_reload() {
    let proxy = RealProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "the session and personas", |app| {
        app.conversation_id().is_some() && app.personas_loaded()
    });
    type_and_press_enter(&mut harness, "Hello Ashley");
    step_until(&mut harness, "the reply", |app| {
        !app.is_sending() && app.conversation().len() == 2
    });
    let ashley_prompt = proxy.last_system_prompt();
    let reply = app(&harness).conversation().messages()[1].clone();
    assert_eq!(reply.kind, MessageKind::Reply);
    assert_eq!(reply.content, REPLY);
    assert!(!reply.partial);
    assert!(reply.stats.is_some_and(|s| !s.model.is_empty()));

    let creative = app(&harness)
        .personas()
        .iter()
        .find(|p| p.id == "creative")
        .unwrap()
        .name
        .clone();
    harness.get_by_label(&creative).click();
    harness.run_steps(2);
    type_and_press_enter(&mut harness, "Write me a haiku");
    step_until(&mut harness, "the second reply", |app| {
        !app.is_sending() && app.conversation().len() == 4
    });
    assert_ne!(
        proxy.last_system_prompt(),
        ashley_prompt,
        "the persona reached the model"
    );

    let saved = app(&harness).persisted().clone();
    let mut reloaded = app_harness(&proxy.url, saved, WIDE);
    step_until(&mut reloaded, "the restored history", |app| {
        app.conversation().len() == 4
    });
    let restored = app(&reloaded).conversation().messages();
    assert_eq!(restored[0].content, "Hello Ashley");
    assert_eq!(restored[3].content, REPLY);
    assert_eq!(restored[3].persona, "creative");
}

#[test]
fn real_proxy_refusals_and_provider_failures_become_distinct_notices() {
    let proxy = RealProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "a session", |app| {
        app.conversation_id().is_some()
    });
    type_and_press_enter(&mut harness, "something [[flag]]");
    step_until(&mut harness, "the refusal", |app| !app.is_sending());
    let last = app(&harness)
        .conversation()
        .messages()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last.kind, MessageKind::Refusal, "{last:?}");
    assert_eq!(app(&harness).composer_text(), "something [[flag]]");

    harness
        .get_all_by_label("📝 New chat")
        .last()
        .unwrap()
        .click();
    harness.run_steps(2);
    step_until(&mut harness, "a new session", |app| {
        app.conversation_id().is_some() && app.conversation().is_empty()
    });
    // Clear does not touch the composer; replace its text with one the provider fails on.
    let composer = harness.get_by_role(egui::accesskit::Role::MultilineTextInput);
    composer.focus();
    harness.step();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.step();
    harness.key_press(egui::Key::Backspace);
    harness.step();
    type_and_press_enter(&mut harness, "break [[status:500]]");
    step_until(&mut harness, "the failure", |app| !app.is_sending());
    let last = app(&harness)
        .conversation()
        .messages()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last.kind, MessageKind::ProviderFailed, "{last:?}");
    assert!(last.retry.is_some());
}
