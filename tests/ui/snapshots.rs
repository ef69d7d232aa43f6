//! Snapshot images of the main screen (dark/light, wide/narrow, a longer conversation list),
//! committed under tests/snapshots.
//!
//! Rendered with wgpu on a CPU adapter (lavapipe). Regenerate with
//! `UPDATE_SNAPSHOTS=1 cargo test -p ashley --test ui snapshot`.

use ashley::conversation::MessageKind;
use ashley::state::{PersistedState, ThemeChoice};

use egui_kittest::kittest::Queryable as _;

use crate::fake_proxy::FakeProxy;
use crate::{app, app_harness, step_until, type_and_press_enter};

fn main_screen_snapshot(theme: ThemeChoice, size: egui::Vec2, name: &str) {
    let proxy = FakeProxy::start();
    let persisted = PersistedState {
        theme,
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, persisted, size);
    step_until(&mut harness, "personas and status", |app| {
        app.personas_loaded() && app.status_loaded() && app.conversation_id().is_some()
    });
    type_and_press_enter(&mut harness, "Plan my week, please");
    step_until(&mut harness, "the reply", |app| {
        !app.is_sending()
            && app
                .conversation()
                .messages()
                .last()
                .is_some_and(|m| m.kind == MessageKind::Reply)
    });
    // A finished reply refreshes the list, which then has the conversation's title.
    step_until(&mut harness, "the titled conversation", |app| {
        app.conversation_list()
            .conversations()
            .iter()
            .any(|c| !c.title.is_empty())
    });
    // A finished reply refreshes the status panel; its spinner must be gone.
    step_until(&mut harness, "the status refresh", |app| {
        !app.status_refreshing()
    });
    // A focused composer blinks its cursor, which depends on how many frames the network took.
    harness
        .ctx
        .memory_mut(|memory| memory.surrender_focus(ashley::ui::composer::composer_id()));
    harness.run_steps(3);
    assert!(app(&harness).conversation().len() == 2);
    harness.snapshot(name);
}

#[test]
fn snapshot_dark_wide() {
    main_screen_snapshot(
        ThemeChoice::Dark,
        egui::vec2(1100.0, 760.0),
        "main_dark_wide",
    );
}

#[test]
fn snapshot_light_wide() {
    main_screen_snapshot(
        ThemeChoice::Light,
        egui::vec2(1100.0, 760.0),
        "main_light_wide",
    );
}

#[test]
fn snapshot_dark_narrow() {
    main_screen_snapshot(
        ThemeChoice::Dark,
        egui::vec2(390.0, 800.0),
        "main_dark_narrow",
    );
}

#[test]
fn snapshot_light_narrow() {
    main_screen_snapshot(
        ThemeChoice::Light,
        egui::vec2(390.0, 800.0),
        "main_light_narrow",
    );
}

/// The wide layout with a list that has every heading, one conversation open (fixed clock).
#[test]
fn snapshot_conversations_wide() {
    use crate::fake_proxy::{NOON, message};
    use ashley::clock::{Clock, DAY_MS};
    use ashley_proxy::api::Role;
    let proxy = FakeProxy::start();
    let mut open = None;
    for (title, pinned, days_ago) in [
        ("Reading list", true, 40),
        ("Trip to Lisbon", false, 0),
        (
            "Rust lifetimes, explained slowly and with examples",
            false,
            0,
        ),
        ("Birthday ideas", false, 1),
        ("Sourdough starter", false, 4),
        ("", false, 6),
        ("Job interview practice", false, 20),
    ] {
        let messages = vec![
            message(1, Role::User, "What should I see in Lisbon in two days?"),
            message(
                2,
                Role::Assistant,
                "**Day one:** Alfama and the castle.\n\n**Day two:** Belém.",
            ),
        ];
        let id = proxy.preload_conversation(title, pinned, NOON - days_ago * DAY_MS, messages);
        if title == "Trip to Lisbon" {
            open = Some(id);
        }
    }
    let persisted = PersistedState {
        conversation_id: open,
        ..PersistedState::default()
    };
    let mut harness = app_harness(&proxy.url, persisted, egui::vec2(1100.0, 760.0));
    harness.step();
    harness
        .state_mut()
        .as_mut()
        .unwrap()
        .set_clock(Clock::Fixed {
            now_ms: NOON,
            utc_offset_ms: 0,
        });
    step_until(&mut harness, "the list and the conversation", |app| {
        app.personas_loaded()
            && app.status_loaded()
            && !app.status_refreshing()
            && app.conversation_list().conversations().len() == 7
            && app.conversation().len() == 2
    });
    harness
        .ctx
        .memory_mut(|memory| memory.surrender_focus(ashley::ui::composer::composer_id()));
    harness.run_steps(3);
    harness.snapshot("conversations_wide");
}

/// The Admin panel over the main screen: totals, the three day plots, personas, users, keys.
#[test]
fn snapshot_admin_panel() {
    let proxy = FakeProxy::start();
    proxy.admin_mode();
    let mut harness = app_harness(
        &proxy.url,
        PersistedState::default(),
        egui::vec2(1100.0, 1400.0),
    );
    step_until(&mut harness, "the admin's account", |app| {
        app.personas_loaded()
            && app.status_loaded()
            && !app.status_refreshing()
            && app.account().me.as_ref().is_some_and(|me| me.admin)
    });
    harness.get_by_label("🛡 Admin panel").click();
    step_until(&mut harness, "the report", |app| {
        app.admin().report.is_some() && !app.admin().loading
    });
    harness
        .ctx
        .memory_mut(|memory| memory.surrender_focus(ashley::ui::composer::composer_id()));
    harness.run_steps(3);
    harness.snapshot("admin_panel");
}
