//! A rate-limited send shows a live countdown from the proxy's Retry-After, then enables Retry.

use ashley::conversation::MessageKind;
use ashley::state::PersistedState;
use egui_kittest::kittest::{NodeT as _, Queryable as _};

use super::fake_proxy::{FakeProxy, RATE_LIMIT_SECS};
use super::{WIDE, app, app_harness, connected, last_message, step_until, type_and_press_enter};

#[test]
fn a_rate_limit_counts_down_then_enables_retry() {
    assert_eq!(RATE_LIMIT_SECS, 2, "the steps below count on two seconds");
    let proxy = FakeProxy::start();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    step_until(&mut harness, "the session", connected);
    type_and_press_enter(&mut harness, "RATE please");
    step_until(&mut harness, "the rate-limit notice", |app| {
        matches!(last_message(app).kind, MessageKind::RateLimited { .. })
    });
    assert_eq!(
        last_message(app(&harness)).kind,
        MessageKind::RateLimited {
            retry_after_secs: Some(2)
        }
    );
    // Each harness step is 0.25 s of egui time.
    harness.get_by_label("Rate limited — try again in 2 s");
    assert!(
        harness
            .get_by_label("🔁 Retry")
            .accesskit_node()
            .is_disabled()
    );
    harness.run_steps(4);
    harness.get_by_label("Rate limited — try again in 1 s");
    assert!(
        harness
            .get_by_label("🔁 Retry")
            .accesskit_node()
            .is_disabled()
    );
    harness.run_steps(4);
    harness.get_by_label("You can try again now.");
    let retry = harness.get_by_label("🔁 Retry");
    assert!(!retry.accesskit_node().is_disabled());
    retry.click();
    // The retried request reaches the proxy over loopback: poll for it with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while proxy.requests().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "Retry sent nothing");
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        proxy.requests()[1].1,
        "RATE please",
        "Retry sent the same text"
    );
}
