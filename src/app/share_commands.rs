//! The app's sharing side: the Share window's commands and answers, and "Open as page".

use super::AshleyApp;
use crate::net::NetEvent;
use crate::ui::Command;
use crate::ui::share::ShareView;

impl AshleyApp {
    pub(super) fn apply_share_command(&mut self, command: Command, ctx: &egui::Context) {
        match command {
            Command::OpenShare(id) => {
                let title = self
                    .conversations
                    .get(&id)
                    .map(|summary| summary.title.clone())
                    .filter(|title| !title.is_empty())
                    .unwrap_or_else(|| crate::ui::conversations::UNTITLED.to_owned());
                self.share = Some(ShareView::new(&id, &title));
                self.client.fetch_share(&id);
            }
            Command::CloseShare => self.share = None,
            Command::ShareConversation(id) => {
                if let Some(view) = &mut self.share {
                    view.busy = true;
                }
                self.client.share_conversation(&id);
            }
            Command::StopSharing(id) => {
                if let Some(view) = &mut self.share {
                    view.busy = true;
                }
                self.client.unshare_conversation(&id);
            }
            Command::CopyShareLink => {
                if let Some(view) = &mut self.share
                    && let crate::ui::share::ShareState::Shared { url: Some(url), .. } = &view.state
                {
                    ctx.copy_text(url.clone());
                    view.copied = true;
                }
            }
            Command::OpenAsPage(id) => self.open_as_page(&id, ctx),
            _ => {}
        }
    }

    pub(super) fn on_share_event(&mut self, event: NetEvent, ctx: &egui::Context) {
        match event {
            NetEvent::Share { id, result } => {
                let origin = self.origin();
                let Some(view) = self
                    .share
                    .as_mut()
                    .filter(|view| view.conversation_id == id)
                else {
                    return;
                };
                match result {
                    Ok(share) => view.on_share(share, &origin),
                    Err(error) => view.on_failure(format!("{error}.")),
                }
            }
            NetEvent::PageSaved(result) => match result {
                Ok(path) => {
                    ctx.open_url(egui::OpenUrl::new_tab(format!("file://{}", path.display())));
                }
                Err(error) => self.show_message(format!("Could not open the page: {error}.")),
            },
            _ => {}
        }
    }

    /// The web app opens `/c/{id}` in a new tab (the browser holds the cookie); the desktop app
    /// fetches it with its token into a file only its user can read and opens that.
    fn open_as_page(&mut self, id: &str, ctx: &egui::Context) {
        #[cfg(target_arch = "wasm32")]
        {
            let _ = self;
            ctx.open_url(egui::OpenUrl::new_tab(format!("/c/{id}")));
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = ctx;
            match page_path(id) {
                Ok(path) => self.client.save_page(id, path),
                Err(reason) => self.show_message(format!("Could not open the page: {reason}.")),
            }
        }
    }

    /// Where links to this server start: the page's origin on the web, the server natively.
    fn origin(&self) -> String {
        #[cfg(target_arch = "wasm32")]
        {
            crate::web_page::origin()
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.client.base_url().trim_end_matches('/').to_owned()
        }
    }
}

/// A private directory for the pages the desktop app opens (readable by its user only).
#[cfg(not(target_arch = "wasm32"))]
fn page_path(id: &str) -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("ashley-pages-{}", whoami()));
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // Conversation ids are URL-safe: letters, digits, `-` and `_`.
    let name: String = id
        .chars()
        .filter(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_'))
        .collect();
    Ok(dir.join(format!("conversation-{name}.html")))
}

/// The user's name for the directory (several people on one machine get one each).
#[cfg(not(target_arch = "wasm32"))]
fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "user".to_owned())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}
