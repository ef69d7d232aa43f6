//! Snapshot images of the main screen (dark/light, wide/narrow), committed under tests/snapshots.
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
        app.personas_loaded() && app.status_loaded() && app.session_id().is_some()
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
