//! Emoji and the UI's own symbols have glyphs: natively (egui's fonts + the Noto Emoji
//! supplement) and with the web app's small start-up font set.

use std::path::Path;

use ashley::state::PersistedState;
use ashley_proxy::api::{HistoryMessage, Role};
use egui::FontId;
use egui_kittest::kittest::Queryable as _;

use super::fake_proxy::FakeProxy;
use super::{WIDE, app_harness, step_until};

/// Emoji models often write; 🤖 🧠 🙂 used to be empty boxes.
const COMMON_EMOJI: &str = "🤖🧠🙂😊🤔🚀✨🎉✅❌⚠💡🔥👍👋🙏💪🥳🤝🧩🧪🛠📌📝📚💻📊🔍🌟⭐🎯🤗🤷🙌👀💯";

fn missing_glyphs(ctx: &egui::Context, text: &str) -> String {
    let font = FontId::proportional(14.0);
    ctx.fonts_mut(|fonts| {
        text.chars()
            .filter(|c| !c.is_whitespace() && !fonts.has_glyph(&font, *c))
            .collect()
    })
}

#[test]
fn common_emoji_in_a_reply_render_with_real_glyphs() {
    let proxy = FakeProxy::start();
    let reply = format!("Hello {COMMON_EMOJI}");
    let session_id = proxy.preload_session(vec![HistoryMessage {
        id: 1,
        role: Role::Assistant,
        content: reply.clone(),
        persona: "ashley".into(),
        created_at_ms: 0,
        stats: None,
        partial: false,
    }]);
    let persisted = PersistedState {
        conversation_id: Some(session_id),
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, persisted, WIDE);
    step_until(&mut harness, "the history", |app| {
        app.conversation().len() == 1
    });
    harness.get_by_label(&reply);
    let missing = missing_glyphs(&harness.ctx, COMMON_EMOJI);
    assert!(missing.is_empty(), "no glyph for {missing}");
}

/// Every non-ASCII char in the app's code (not comments): what the UI can draw.
fn symbols_in_the_ui_code() -> String {
    fn visit(dir: &Path, found: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                for line in source.lines() {
                    let code = line.split("//").next().unwrap_or_default();
                    for c in code.chars().filter(|c| !c.is_ascii()) {
                        if !found.contains(c) {
                            found.push(c);
                        }
                    }
                }
            }
        }
    }
    let mut found = String::new();
    visit(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    found
}

#[test]
fn the_web_start_up_fonts_cover_every_symbol_the_ui_draws() {
    let ctx = egui::Context::default();
    ctx.set_fonts(ashley::fonts::web_font_definitions());
    // Fonts load at the start of a pass; this test draws nothing, so no textures to upload.
    let mut output = ctx.run_ui(egui::RawInput::default(), |_| {});
    output.textures_delta.clear();
    let symbols = symbols_in_the_ui_code();
    assert!(
        symbols.contains('📋') && symbols.contains('✨'),
        "{symbols}"
    );
    // egui_commonmark's code-block copy button, drawn by egui itself.
    let missing = missing_glyphs(&ctx, &format!("{symbols}🗐✔"));
    assert!(
        missing.is_empty(),
        "the web app would draw boxes for {missing}: run scripts/emoji-font.sh"
    );
}

/// Serves `assets/fonts/Hack-Regular.ttf` at `/fonts/Hack-Regular.ttf`, as the web bundle does.
fn serve_hack() -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let hack =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/fonts/Hack-Regular.ttf"))
            .unwrap();
    let router = axum::Router::new().route(
        &format!("/{}", ashley::fonts::HACK_PATH),
        axum::routing::get(move || {
            let hack = hack.clone();
            async move { hack }
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    runtime.spawn(async move { axum::serve(listener, router).await });
    (url, runtime)
}

#[test]
fn the_web_monospace_font_is_fetched_once_on_request_and_added() {
    use ashley::fonts::{DeferredMonospace, FetchState};
    let (url, _runtime) = serve_hack();
    let ctx = egui::Context::default();
    ctx.set_fonts(ashley::fonts::web_font_definitions());
    let deferred = DeferredMonospace::default();
    assert_eq!(deferred.state(), FetchState::NotNeeded);
    deferred.request(&ctx, &url);
    deferred.request(&ctx, &url); // a second request while loading starts nothing new
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while deferred.state() == FetchState::Loading {
        assert!(std::time::Instant::now() < deadline, "Hack never arrived");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(deferred.state(), FetchState::Added);
    let mut output = ctx.run_ui(egui::RawInput::default(), |_| {});
    output.textures_delta.clear();
    let monospace =
        ctx.fonts(|fonts| fonts.definitions().families[&egui::FontFamily::Monospace].clone());
    assert_eq!(monospace.first().map(String::as_str), Some("Hack"));
}
