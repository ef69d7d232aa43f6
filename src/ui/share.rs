//! The Share window of one conversation: make a read-only link to a snapshot of it, copy it,
//! open it, make a new one, or stop sharing; and the conversation as a page of its own.

use ashley_proxy::api::Share;
use egui::RichText;

use super::{Command, record_widget};
use crate::theme::Palette;

/// What the window knows about the conversation's link.
#[derive(Clone, Debug, PartialEq)]
pub enum ShareState {
    /// Asking the proxy.
    Loading,
    NotShared,
    /// Shared; `url` only right after the link was made (the proxy keeps its hash, not the link).
    Shared {
        share: Share,
        url: Option<String>,
    },
    /// The proxy's sentence; the window stays open to try again.
    Failed(String),
}

/// The Share window's state.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareView {
    pub conversation_id: String,
    pub title: String,
    pub state: ShareState,
    /// A request is under way (buttons wait).
    pub busy: bool,
    /// "Copied" shows under the link once it was copied.
    pub copied: bool,
}

impl ShareView {
    pub fn new(conversation_id: &str, title: &str) -> Self {
        Self {
            conversation_id: conversation_id.to_owned(),
            title: title.to_owned(),
            state: ShareState::Loading,
            busy: true,
            copied: false,
        }
    }

    /// The proxy's answer to "is it shared?" or "share it".
    pub fn on_share(&mut self, share: Option<Share>, origin: &str) {
        self.busy = false;
        self.copied = false;
        self.state = match share {
            None => ShareState::NotShared,
            Some(share) => {
                let url = share.path.as_deref().map(|path| format!("{origin}{path}"));
                ShareState::Shared { share, url }
            }
        };
    }

    /// The link just made, if the window shows one.
    pub fn link(&self) -> Option<&str> {
        match &self.state {
            ShareState::Shared { url, .. } => url.as_deref(),
            _ => None,
        }
    }

    pub fn on_failure(&mut self, message: String) {
        self.busy = false;
        self.state = ShareState::Failed(message);
    }
}

/// The window; nothing when no conversation is being shared.
pub fn share_window(
    ctx: &egui::Context,
    palette: &Palette,
    view: Option<&ShareView>,
    commands: &mut Vec<Command>,
) {
    let Some(view) = view else {
        return;
    };
    let mut open = true;
    let width = (ctx.content_rect().width() - 24.0).clamp(240.0, 460.0);
    egui::Window::new("Share conversation")
        .id(egui::Id::unique("ashley_share"))
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .default_width(width)
        .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
        .show(ctx, |ui| {
            ui.set_max_width(width);
            share_ui(ui, palette, view, commands);
        });
    if !open {
        commands.push(Command::CloseShare);
    }
}

fn share_ui(ui: &mut egui::Ui, palette: &Palette, view: &ShareView, commands: &mut Vec<Command>) {
    let id = &view.conversation_id;
    ui.label(RichText::new(&view.title).strong());
    ui.add_space(4.0);
    match &view.state {
        ShareState::Loading => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Looking for this conversation's link…");
            });
        }
        ShareState::NotShared => {
            ui.label(
                "Make a link anyone can open to read this conversation as it is now, as a plain \
                 page (no sign-in needed). Messages sent later are not shown.",
            );
            ui.add_space(6.0);
            let make = ui.add_enabled(!view.busy, egui::Button::new("Create link"));
            record_widget(|| "share:create".to_owned(), make.rect);
            if make.clicked() {
                commands.push(Command::ShareConversation(id.clone()));
            }
        }
        ShareState::Shared { share, url } => {
            let messages = match share.messages {
                1 => "1 message".to_owned(),
                count => format!("{count} messages"),
            };
            match url {
                Some(url) => {
                    ui.label(format!(
                        "Anyone with this link can read the conversation as it is now ({messages})."
                    ));
                    let mut shown = url.clone();
                    let field = ui.add(
                        egui::TextEdit::singleline(&mut shown)
                            .desired_width(f32::INFINITY)
                            .font(egui::TextStyle::Monospace),
                    );
                    field.widget_info(|| {
                        egui::WidgetInfo::text_edit(true, "", url, "The shared link")
                    });
                    record_widget(|| "share:link".to_owned(), field.rect);
                    ui.horizontal(|ui| {
                        let copy = ui.button("📋 Copy link");
                        record_widget(|| "share:copy".to_owned(), copy.rect);
                        if copy.clicked() {
                            commands.push(Command::CopyShareLink);
                        }
                        ui.hyperlink_to("Open it", url);
                        if view.copied {
                            ui.label(RichText::new("Copied").color(palette.good));
                        }
                    });
                }
                None => {
                    ui.label(format!(
                        "This conversation is shared ({messages}). The link was shown when it \
                         was made and is not kept here: make a new one to copy it again (the old \
                         one then stops working)."
                    ));
                }
            }
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                let again = ui.add_enabled(!view.busy, egui::Button::new("🔄 New link"));
                again.clone().on_hover_text(
                    "A new snapshot, with what was said since; the old link stops working",
                );
                if again.clicked() {
                    commands.push(Command::ShareConversation(id.clone()));
                }
                let stop = ui.add_enabled(!view.busy, egui::Button::new("Stop sharing"));
                record_widget(|| "share:stop".to_owned(), stop.rect);
                if stop.clicked() {
                    commands.push(Command::StopSharing(id.clone()));
                }
            });
        }
        ShareState::Failed(message) => {
            ui.label(RichText::new(message).color(palette.error_text));
            if ui
                .add_enabled(!view.busy, egui::Button::new("Try again"))
                .clicked()
            {
                commands.push(Command::OpenShare(id.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(path: Option<&str>) -> Share {
        Share {
            path: path.map(str::to_owned),
            created_at_ms: 1,
            messages: 4,
        }
    }

    #[test]
    fn a_link_just_made_is_shown_whole_and_a_known_one_without_its_path() {
        let mut view = ShareView::new("c1", "Trip");
        assert_eq!((view.state.clone(), view.busy), (ShareState::Loading, true));
        view.on_share(Some(share(Some("/s/abc"))), "https://ashley.example");
        assert_eq!(view.link(), Some("https://ashley.example/s/abc"));
        assert!(!view.busy);
        // Opened again later: the proxy knows the link exists, not what it is.
        view.on_share(Some(share(None)), "https://ashley.example");
        assert_eq!(view.link(), None);
        assert!(matches!(view.state, ShareState::Shared { url: None, .. }));
        view.on_share(None, "https://ashley.example");
        assert_eq!(view.state, ShareState::NotShared);
        view.busy = true;
        view.on_failure("The proxy is unreachable.".to_owned());
        assert_eq!(
            view.state,
            ShareState::Failed("The proxy is unreachable.".to_owned())
        );
        assert!(!view.busy, "the window can try again");
    }
}
