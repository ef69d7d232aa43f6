//! Export and import in the app against the real proxy: a conversation's menu saves it as
//! Markdown or JSON, the account panel saves everything, a dropped export imports (the list
//! grows and a note says how many), and a bad file's reason is shown with nothing imported.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ashley::state::PersistedState;
use ashley_proxy::{Config, api::ExportFile};
use egui_kittest::kittest::Queryable as _;

use crate::real_proxy::RealProxy;
use crate::{AppHarness, app, app_harness, step_until, type_and_press_enter};

const WIDE: egui::Vec2 = egui::vec2(1100.0, 760.0);

/// A file dropped on the window, as eframe hands it over natively.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|err| err.to_string())
    }
}

fn drop_file(harness: &mut AppHarness, path: PathBuf) {
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(Dropped(path)));
    harness.step();
}

fn row_action(harness: &mut AppHarness, title: &str, item: &str) {
    harness
        .get_by_label(&format!("Actions for {title}"))
        .click();
    harness.run_steps(2);
    harness.get_by_label(item).click();
    harness.run_steps(2);
}

/// Waits for the "Saved to PATH" note (each export first says "Exporting…") and returns the
/// file's path and text.
fn saved_file(harness: &mut AppHarness, what: &str) -> (PathBuf, String) {
    step_until(harness, what, |app| {
        app.toast_text()
            .is_some_and(|text| text.starts_with("Saved to "))
    });
    let text = app(harness).toast_text().unwrap().to_owned();
    let path = PathBuf::from(text.strip_prefix("Saved to ").unwrap());
    let contents = std::fs::read_to_string(&path).unwrap();
    (path, contents)
}

#[test]
fn a_conversation_exports_from_its_menu_and_a_dropped_export_imports() {
    let proxy = RealProxy::start_with(|config| Config {
        model_titles: false,
        ..config
    });
    let downloads = tempfile::tempdir().unwrap();
    let mut harness = app_harness(&proxy.url, PersistedState::default(), WIDE);
    harness.step();
    harness
        .state_mut()
        .as_mut()
        .unwrap()
        .set_download_dir(downloads.path().to_path_buf());
    step_until(&mut harness, "the conversation and personas", |app| {
        app.conversation_id().is_some() && app.personas_loaded()
    });
    type_and_press_enter(&mut harness, "Hello Ashley");
    step_until(&mut harness, "the reply, and the list naming it", |app| {
        !app.is_sending()
            && app.conversation().len() == 2
            && app
                .conversation_list()
                .conversations()
                .first()
                .is_some_and(|c| c.title == "Hello Ashley")
    });

    row_action(&mut harness, "Hello Ashley", "Export as Markdown");
    let (path, markdown) = saved_file(&mut harness, "the Markdown file");
    assert_eq!(path.parent().unwrap(), downloads.path());
    assert_eq!(path.file_name().unwrap(), "ashley-conversation.md");
    assert!(markdown.starts_with("# Hello Ashley\n"), "{markdown}");
    assert!(markdown.contains("\n## You · "), "{markdown}");

    row_action(&mut harness, "Hello Ashley", "Export as JSON");
    let (one, json) = saved_file(&mut harness, "the JSON file");
    let file: ExportFile = serde_json::from_str(&json).unwrap();
    assert_eq!(file.conversations.len(), 1);
    assert_eq!(file.conversations[0].messages.len(), 2);

    harness.get_by_label("Export everything").click();
    harness.run_steps(2);
    let (everything, _) = saved_file(&mut harness, "everything");
    assert_eq!(everything.file_name().unwrap(), "ashley-export.json");

    drop_file(&mut harness, one);
    step_until(&mut harness, "the import and the longer list", |app| {
        app.toast_text() == Some("Imported 1 conversation")
            && app.conversation_list().conversations().len() == 2
    });

    let bad = downloads.path().join("notes.json");
    std::fs::write(&bad, "these are my notes, not JSON").unwrap();
    drop_file(&mut harness, bad);
    step_until(&mut harness, "the proxy's reason", |app| {
        app.toast_text()
            .is_some_and(|text| text.starts_with("Nothing was imported: the file is not JSON"))
    });
    assert_eq!(app(&harness).conversation_list().conversations().len(), 2);

    harness.get_by_label("Import…").click();
    harness.run_steps(2);
    assert!(
        app(&harness)
            .toast_text()
            .is_some_and(|text| text.starts_with("Drop the file")),
        "the desktop app imports dropped files"
    );
}
