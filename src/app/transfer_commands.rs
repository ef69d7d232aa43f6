//! The app's export and import side: downloads (a file in Downloads on the desktop, the
//! browser's download on the web), files dropped on the window or picked, and their answers.

use super::AshleyApp;
use crate::net::{NetError, NetEvent, export_path};
use crate::ui::Command;

impl AshleyApp {
    pub(super) fn apply_transfer_command(&mut self, command: Command, ctx: &egui::Context) {
        match command {
            Command::Export {
                conversation_id,
                markdown,
            } => self.export(conversation_id.as_deref(), markdown, ctx),
            Command::PickImportFile => self.pick_import_file(),
            _ => {}
        }
    }

    pub(super) fn on_transfer_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Exported(result) => match result {
                Ok(path) => self.show_message(format!("Saved to {}", path.display())),
                Err(error) => self.show_message(format!("Could not export: {error}.")),
            },
            NetEvent::Imported(result) => {
                match result {
                    Ok(imported) => {
                        let count = imported.conversations.len();
                        let mut text = if count == 1 {
                            "Imported 1 conversation".to_owned()
                        } else {
                            format!("Imported {count} conversations")
                        };
                        if imported.skipped > 0 {
                            text.push_str(&format!(
                                " ({} without text left out)",
                                imported.skipped
                            ));
                        }
                        self.show_message(text);
                    }
                    // The proxy's sentence says what is wrong and that nothing was imported.
                    Err(NetError::Http {
                        body: Some(body), ..
                    }) => self.show_message(body.message),
                    Err(error) => self.show_message(format!("Could not import: {error}.")),
                }
                self.conversations.error = None;
                self.client.fetch_conversations();
            }
            _ => {}
        }
    }

    /// Files dropped on the window are imported (on the web their bytes are read first).
    pub(super) fn import_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input_mut(|input| std::mem::take(&mut input.raw.dropped_files));
        for file in dropped {
            #[cfg(not(target_arch = "wasm32"))]
            match file.bytes() {
                Ok(bytes) => {
                    self.show_message(format!("Importing {}…", file.path().display()));
                    self.client.import(bytes);
                }
                Err(error) => self.show_message(format!(
                    "Could not read {}: {error}.",
                    file.path().display()
                )),
            }
            #[cfg(target_arch = "wasm32")]
            {
                self.show_message(format!("Importing {}…", file.path().display()));
                let client = self.client.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    match file.bytes_async().await {
                        Ok(bytes) => client.import(bytes),
                        Err(error) => client.import_failed(error),
                    }
                });
            }
        }
    }

    /// The desktop app writes the file into the Downloads folder; the web app lets the browser
    /// download it (the cookie goes along; the proxy answers it as an attachment).
    fn export(&mut self, conversation_id: Option<&str>, markdown: bool, ctx: &egui::Context) {
        let path = export_path(conversation_id, markdown);
        #[cfg(target_arch = "wasm32")]
        {
            ctx.open_url(egui::OpenUrl::new_tab(path));
            self.show_message("Your browser downloads the export.".to_owned());
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = ctx;
            self.show_message("Exporting…".to_owned());
            self.client.save_export(&path, self.download_dir.clone());
        }
    }

    /// The web app opens the browser's file picker; the desktop app takes dropped files.
    fn pick_import_file(&mut self) {
        #[cfg(target_arch = "wasm32")]
        if let Err(error) = crate::file_picker::pick(self.client.clone()) {
            self.show_message(format!("Could not open the file picker: {error}."));
        }
        #[cfg(not(target_arch = "wasm32"))]
        self.show_message(
            "Drop the file (an Ashley export, or ChatGPT's conversations.json) onto this window."
                .to_owned(),
        );
    }

    /// Where the desktop app saves exports (tests point it at a temporary directory).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn set_download_dir(&mut self, dir: std::path::PathBuf) {
        self.download_dir = dir;
    }
}

/// The user's Downloads folder, else their home, else the temporary directory.
#[cfg(not(target_arch = "wasm32"))]
pub(super) fn default_download_dir() -> std::path::PathBuf {
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(std::path::PathBuf::from);
    match home {
        Some(home) if home.join("Downloads").is_dir() => home.join("Downloads"),
        Some(home) if home.is_dir() => home,
        _ => std::env::temp_dir(),
    }
}
