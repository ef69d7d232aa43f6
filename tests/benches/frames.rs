//! Frame CPU time with a 10,000-message conversation: scrolling, and while a reply streams; with
//! 10,000 conversations in the list: scrolling it, and opening a 1,000-message conversation.
//!
//! Headless: egui's `Context::run_ui` plus tessellation (the CPU part of a frame; no GPU).
//! The history comes from an in-process fake proxy on loopback, as it would on a reload.
//! Run with `cargo bench -p ashley --bench frames`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

#[path = "../ui/fake_proxy.rs"]
#[allow(dead_code)]
mod fake_proxy;

use std::time::{Duration, Instant};

use ashley::AshleyApp;
use ashley::state::PersistedState;
use ashley_proxy::api::{HistoryMessage, ReplyStats, Role};

const MESSAGES: usize = 10_000;
const CONVERSATIONS: usize = 10_000;
const OPENED_MESSAGES: usize = 1_000;
const SCREEN: egui::Vec2 = egui::vec2(1100.0, 760.0);

fn history() -> Vec<HistoryMessage> {
    history_of(MESSAGES)
}

fn history_of(count: usize) -> Vec<HistoryMessage> {
    let replies = [
        "## Summary\n\n- one **bold** point\n- another with `inline code`\n- a [link](https://example.com)\n",
        "Here is the code:\n\n```rust\nfn fib(n: u64) -> u64 {\n    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }\n}\n```\n\nIt runs in exponential time.",
        "| Persona | Good at |\n|---|---|\n| Ashley | everything |\n| Technical | code |\n| Creative | stories |\n",
        "A longer paragraph of plain prose that wraps over several lines in the conversation view, so that row heights differ from one message to the next and the virtual list has real work to do when it estimates and measures them. 😊",
        "1. First\n2. Second\n   - nested *item*\n3. Third\n\n> A quote to finish.",
    ];
    (0..count)
        .map(|index| {
            let user = index % 2 == 0;
            HistoryMessage {
                id: index as i64 + 1,
                role: if user { Role::User } else { Role::Assistant },
                content: if user {
                    format!("Question number {index}: how does this work?")
                } else {
                    replies[(index / 2) % replies.len()].to_owned()
                },
                persona: "ashley".into(),
                created_at_ms: 0,
                stats: (!user).then(|| ReplyStats {
                    model: "gpt-4".into(),
                    completion_tokens: Some(120),
                    ttft_ms: Some(300),
                    total_ms: 1500,
                    ..ReplyStats::default()
                }),
                partial: false,
            }
        })
        .collect()
}

struct Runner {
    ctx: egui::Context,
    app: AshleyApp,
    time: f64,
    /// The user questions painted in the last frame (proves the view really moved).
    visible_questions: Vec<usize>,
    /// The list's "Conversation N" titles painted in the last frame.
    visible_conversations: Vec<usize>,
}

/// The numbers N of the painted texts that start with `prefix` and then N.
fn painted_numbers(shapes: &[egui::epaint::ClippedShape], prefix: &str) -> Vec<usize> {
    fn visit(shape: &egui::Shape, prefix: &str, found: &mut Vec<usize>) {
        match shape {
            egui::Shape::Vec(shapes) => shapes.iter().for_each(|s| visit(s, prefix, found)),
            egui::Shape::Text(text) => {
                if let Some(rest) = text.galley.text().strip_prefix(prefix)
                    && let Some(number) = rest
                        .split(|c: char| !c.is_ascii_digit())
                        .next()
                        .and_then(|n| n.parse().ok())
                {
                    found.push(number);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    for clipped in shapes {
        visit(&clipped.shape, prefix, &mut found);
    }
    found
}

impl Runner {
    /// Runs one frame with `events`; returns its CPU time (ui pass plus tessellation).
    fn frame(&mut self, events: Vec<egui::Event>) -> Duration {
        self.time += 1.0 / 60.0;
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, SCREEN)),
            time: Some(self.time),
            events,
            ..Default::default()
        };
        let started = Instant::now();
        let app = &mut self.app;
        let mut output = self.ctx.run_ui(input, |ui| {
            app.logic_tick(ui.ctx());
            app.show(ui);
        });
        // No GPU to upload to (debug builds check that the deltas were handled).
        output.textures_delta.clear();
        let visible = painted_numbers(&output.shapes, "Question number ");
        let conversations = painted_numbers(&output.shapes, "Conversation ");
        let primitives = self.ctx.tessellate(output.shapes, output.pixels_per_point);
        let elapsed = started.elapsed();
        self.visible_questions = visible;
        self.visible_conversations = conversations;
        std::hint::black_box(primitives);
        elapsed
    }

    fn frames_until(&mut self, what: &str, done: impl Fn(&AshleyApp) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(&self.app) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.frame(Vec::new());
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<34} frames {:>4}  p50 {:>6.2} ms  p95 {:>6.2} ms  max {:>6.2} ms",
        times.len(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.95)),
        ms(*times.last().unwrap()),
    );
}

fn wheel(delta_y: f32) -> Vec<egui::Event> {
    wheel_at(egui::pos2(600.0, 400.0), delta_y)
}

fn wheel_at(pointer: egui::Pos2, delta_y: f32) -> Vec<egui::Event> {
    vec![
        egui::Event::PointerMoved(pointer),
        egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, delta_y),
            phase: egui::TouchPhase::Move,
            modifiers: egui::Modifiers::NONE,
            source: egui::MouseWheelSource::Wheel,
        },
    ]
}

fn main() {
    let proxy = fake_proxy::FakeProxy::start();
    let session_id = proxy.preload_session(history());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for index in 0..CONVERSATIONS {
        // Spread over the last 100 days, so every heading has rows.
        let at = now_ms - (index as i64) * 864_000;
        proxy.preload_conversation(
            &format!("Conversation {index}"),
            index % 500 == 0,
            at,
            Vec::new(),
        );
    }
    let opened = proxy.preload_session(history_of(OPENED_MESSAGES));
    let ctx = egui::Context::default();
    let persisted = PersistedState {
        conversation_id: Some(session_id),
        ..PersistedState::default()
    };
    let app = AshleyApp::with_state(&ctx, proxy.url.clone(), persisted);
    let mut runner = Runner {
        ctx,
        app,
        time: 0.0,
        visible_questions: Vec::new(),
        visible_conversations: Vec::new(),
    };

    runner.frames_until("the 10,000-message history", |app| {
        app.conversation().len() == MESSAGES
    });
    let first = runner.frame(Vec::new());
    println!("conversation: {MESSAGES} messages (mixed markdown, code, tables), window {SCREEN:?}");
    println!(
        "{:<34} {:>6.2} ms",
        "first frame after the history loads",
        first.as_secs_f64() * 1000.0
    );
    for _ in 0..30 {
        runner.frame(Vec::new());
    }

    // Scroll up through the history, a wheel notch per frame, then back down.
    let at_bottom = runner.visible_questions.clone();
    let mut scrolling: Vec<Duration> = (0..300).map(|_| runner.frame(wheel(120.0))).collect();
    let scrolled_up = runner.visible_questions.clone();
    scrolling.extend((0..300).map(|_| runner.frame(wheel(-120.0))));
    println!(
        "rows painted: at the bottom questions {:?}, after scrolling up {:?}, back down {:?}",
        at_bottom, scrolled_up, runner.visible_questions
    );
    report("scrolling (wheel every frame)", scrolling);

    let idle: Vec<Duration> = (0..200).map(|_| runner.frame(Vec::new())).collect();
    report("idle at the bottom", idle);

    // Stream a long reply: focus the composer, type, press Enter.
    runner
        .ctx
        .memory_mut(|memory| memory.request_focus(ashley::ui::composer::composer_id()));
    runner.frame(Vec::new());
    runner.frame(vec![egui::Event::Text("a LONG reply please".into())]);
    runner.frame(vec![egui::Event::Key {
        key: egui::Key::Enter,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: egui::Modifiers::NONE,
    }]);
    assert!(runner.app.is_sending(), "the message was sent");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut streaming = Vec::new();
    while runner.app.is_sending() {
        assert!(Instant::now() < deadline, "the reply did not finish");
        streaming.push(runner.frame(Vec::new()));
        // About 60 frames per second, as a display would ask for them.
        std::thread::sleep(Duration::from_millis(16));
    }
    let reply_len = runner
        .app
        .conversation()
        .messages()
        .last()
        .map_or(0, |m| m.content.len());
    report("streaming a reply (400 deltas)", streaming);
    println!("streamed reply: {reply_len} bytes; target p95 <= 4 ms");

    // The conversation list: scroll down through it, a wheel notch per frame, then back up.
    runner.frames_until("the 10,000-conversation list", |app| {
        app.conversation_list().conversations().len() > CONVERSATIONS
    });
    for _ in 0..10 {
        runner.frame(Vec::new());
    }
    let over_list = egui::pos2(130.0, 450.0);
    let list_top = runner.visible_conversations.clone();
    let mut list_scrolling: Vec<Duration> = (0..300)
        .map(|_| runner.frame(wheel_at(over_list, -120.0)))
        .collect();
    let list_down = runner.visible_conversations.clone();
    list_scrolling.extend((0..300).map(|_| runner.frame(wheel_at(over_list, 120.0))));
    println!(
        "list rows painted: at the top {:?}, after scrolling down {:?}",
        list_top.iter().take(4).collect::<Vec<_>>(),
        list_down.iter().take(4).collect::<Vec<_>>()
    );
    report("scrolling the 10,000-conversation list", list_scrolling);
    println!("target p95 <= 2 ms");

    // Open a 1,000-message conversation: the time until its first frame is drawn.
    let started = Instant::now();
    runner.app.open_conversation(&opened);
    let deadline = started + Duration::from_secs(30);
    while runner.app.conversation().len() != OPENED_MESSAGES {
        assert!(Instant::now() < deadline, "the conversation did not open");
        runner.frame(Vec::new());
        std::thread::sleep(Duration::from_micros(200));
    }
    runner.frame(Vec::new());
    let to_first_frame = started.elapsed();
    println!(
        "{:<34} {:>6.2} ms  (target <= 100 ms; includes the loopback fetch)",
        "opening a 1,000-message conversation",
        to_first_frame.as_secs_f64() * 1000.0
    );
}
