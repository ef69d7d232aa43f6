//! The Account panel: who the app is signed in as, Sign in with the proxy's provider, Sign out,
//! and Delete my data (asked twice).

use ashley_proxy::api::{CreatedKey, Identity, KeyInfo, MAX_KEY_NAME_CHARS, Me, Quota};
use egui::RichText;

use super::{Command, record_widget};
use crate::theme::Palette;

/// What the panel knows and what is under way.
#[derive(Debug, Default)]
pub struct AccountView {
    /// The proxy's last answer to `GET /api/me`.
    pub me: Option<Me>,
    /// Something is under way: its words ("Signing out…").
    pub busy: Option<String>,
    /// The last failure, in words.
    pub error: Option<String>,
    /// "Delete my data" was pressed once; the second press deletes.
    pub confirm_delete: bool,
    /// A sign-in waits for the browser (it can be cancelled).
    pub signing_in: bool,
    /// A signed-in user's API keys, once fetched.
    pub keys: Option<Vec<KeyInfo>>,
    /// What is typed as the next key's name.
    pub new_key_name: String,
    /// A key just created: shown this once, until dismissed.
    pub created_key: Option<CreatedKey>,
}

impl AccountView {
    pub fn identity(&self) -> Identity {
        self.me
            .as_ref()
            .map_or(Identity::Anonymous, |me| me.identity)
    }

    /// The provider's name when the proxy offers sign-in.
    pub fn sign_in_provider(&self) -> Option<&str> {
        self.me
            .as_ref()
            .and_then(|me| me.sign_in.as_ref())
            .map(|sign_in| sign_in.provider.as_str())
    }
}

pub fn account_ui(
    ui: &mut egui::Ui,
    palette: &Palette,
    view: &AccountView,
    commands: &mut Vec<Command>,
) {
    ui.heading("Account");
    let Some(me) = &view.me else {
        ui.label(RichText::new("Asking the proxy…").color(palette.muted));
        return;
    };
    match me.identity {
        Identity::User => {
            let name = me.name.as_deref().unwrap_or("your account");
            ui.label(format!("Signed in as {name}"));
            if let Some(email) = &me.email {
                ui.label(RichText::new(email).small().color(palette.muted));
            }
            ui.label(
                RichText::new("Your conversations follow you to every device you sign in on.")
                    .small()
                    .color(palette.muted),
            );
        }
        Identity::Guest | Identity::Anonymous | Identity::Unknown => {
            ui.label("You are chatting as a guest.");
            let note = if view.sign_in_provider().is_some() {
                "Sign in to keep your conversations and see them on your other devices."
            } else {
                "Your conversations are kept on this device only."
            };
            ui.label(RichText::new(note).small().color(palette.muted));
        }
    }
    if let Some(quota) = &me.quota {
        quota_ui(ui, palette, quota);
    }
    if let Some(busy) = &view.busy {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(busy);
            if view.signing_in && ui.button("Cancel").clicked() {
                commands.push(Command::CancelSignIn);
            }
        });
    }
    if let Some(error) = &view.error {
        ui.label(RichText::new(error).color(palette.error_text));
    }
    let idle = view.busy.is_none();
    ui.horizontal_wrapped(|ui| {
        if me.identity != Identity::User
            && let Some(provider) = view.sign_in_provider()
        {
            let button =
                ui.add_enabled(idle, egui::Button::new(format!("Sign in with {provider}")));
            record_widget(|| "sign_in".to_owned(), button.rect);
            if button.clicked() {
                commands.push(Command::SignIn);
            }
        }
        if me.identity == Identity::User {
            let button = ui.add_enabled(idle, egui::Button::new("Sign out"));
            record_widget(|| "sign_out".to_owned(), button.rect);
            if button.clicked() {
                commands.push(Command::SignOut);
            }
        }
        if matches!(me.identity, Identity::User | Identity::Guest) && !view.confirm_delete {
            let button = ui
                .add_enabled(idle, egui::Button::new("Delete my data…"))
                .on_hover_text("Remove every conversation, and the account, from the server");
            if button.clicked() {
                commands.push(Command::DeleteData);
            }
        }
    });
    if matches!(me.identity, Identity::User | Identity::Guest) {
        transfer_ui(ui, idle, commands);
    }
    if me.admin {
        let button = ui
            .button("🛡 Admin panel")
            .on_hover_text("Usage per day, persona and user; block a user, revoke a key");
        record_widget(|| "admin_panel".to_owned(), button.rect);
        if button.clicked() {
            commands.push(Command::OpenAdmin);
        }
    }
    if me.identity == Identity::User {
        ui.add_space(6.0);
        keys_ui(ui, palette, view, commands);
    }
    if view.confirm_delete {
        let what = if me.identity == Identity::User {
            "Delete your account and every conversation in it? This cannot be undone."
        } else {
            "Delete every conversation of this guest? This cannot be undone."
        };
        ui.label(RichText::new(what).color(palette.warning_text));
        ui.horizontal(|ui| {
            if ui
                .add_enabled(idle, egui::Button::new("Delete everything"))
                .clicked()
            {
                commands.push(Command::ConfirmDelete);
            }
            if ui.button("Keep my data").clicked() {
                commands.push(Command::CancelDelete);
            }
        });
    }
}

/// Export everything (JSON: can be imported here or elsewhere) and Import….
fn transfer_ui(ui: &mut egui::Ui, idle: bool, commands: &mut Vec<Command>) {
    ui.horizontal_wrapped(|ui| {
        let export = ui
            .add_enabled(idle, egui::Button::new("Export everything"))
            .on_hover_text("Every conversation as one JSON file, to keep or import elsewhere");
        record_widget(|| "export_all".to_owned(), export.rect);
        if export.clicked() {
            commands.push(Command::Export {
                conversation_id: None,
                markdown: false,
            });
        }
        let import = ui
            .add_enabled(idle, egui::Button::new("Import…"))
            .on_hover_text(
                "An Ashley export or ChatGPT's conversations.json (or drop the file on the window)",
            );
        record_widget(|| "import".to_owned(), import.rect);
        if import.clicked() {
            commands.push(Command::PickImportFile);
        }
    });
}

/// API keys for `/v1`: the list with Revoke, a name and Create, and a new key shown once.
fn keys_ui(ui: &mut egui::Ui, palette: &Palette, view: &AccountView, commands: &mut Vec<Command>) {
    ui.label(RichText::new("API keys").strong());
    ui.label(
        RichText::new("For OpenAI-compatible tools: base URL …/v1, your key as the API key.")
            .small()
            .color(palette.muted),
    );
    if let Some(created) = &view.created_key {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.label(format!(
                "New key \"{}\": copy it now, it is not shown again.",
                created.info.name
            ));
            ui.add(egui::Label::new(RichText::new(&created.key).monospace()).selectable(true));
            ui.horizontal(|ui| {
                if ui.button("📋 Copy key").clicked() {
                    commands.push(Command::CopyKey);
                }
                if ui.button("Done").clicked() {
                    commands.push(Command::DismissKey);
                }
            });
        });
    }
    match &view.keys {
        None => {
            ui.label(RichText::new("Loading keys…").color(palette.muted));
        }
        Some(keys) if keys.is_empty() => {
            ui.label(RichText::new("No keys yet.").color(palette.muted));
        }
        Some(keys) => {
            for key in keys {
                ui.horizontal(|ui| {
                    ui.label(&key.name);
                    let used = if key.last_used_ms.is_some() {
                        "used"
                    } else {
                        "never used"
                    };
                    ui.label(RichText::new(used).small().color(palette.muted));
                    if ui
                        .small_button("Revoke")
                        .on_hover_text("The key stops working at once")
                        .clicked()
                    {
                        commands.push(Command::RevokeKey(key.id.clone()));
                    }
                });
            }
        }
    }
    ui.horizontal(|ui| {
        let mut name = view.new_key_name.clone();
        let field = ui.add(
            egui::TextEdit::singleline(&mut name)
                .hint_text("Key name, e.g. laptop")
                .char_limit(MAX_KEY_NAME_CHARS)
                .desired_width(140.0),
        );
        if field.changed() {
            commands.push(Command::KeyName(name.clone()));
        }
        let can_create = !name.trim().is_empty() && view.busy.is_none();
        if ui
            .add_enabled(can_create, egui::Button::new("Create key"))
            .clicked()
        {
            commands.push(Command::CreateKey);
        }
    });
}

/// Today's use against the daily budget: a bar for the scarcer of messages and tokens, the
/// figures, and when it starts again.
fn quota_ui(ui: &mut egui::Ui, palette: &Palette, quota: &Quota) {
    let share = |used: u64, limit: u64| (limit > 0).then(|| used as f32 / limit as f32);
    let fullest = share(quota.messages_used, quota.messages_limit)
        .into_iter()
        .chain(share(quota.tokens_used, quota.tokens_limit))
        .fold(None::<f32>, |most, share| {
            Some(most.map_or(share, |most| most.max(share)))
        });
    let Some(fullest) = fullest else {
        return; // No limits here.
    };
    let figure = |used: u64, limit: u64, what: &str| {
        if limit > 0 {
            format!("{} of {} {what}", grouped(used), grouped(limit))
        } else {
            format!("{} {what}", grouped(used))
        }
    };
    let text = format!(
        "Today: {} · {}",
        figure(quota.messages_used, quota.messages_limit, "messages"),
        figure(quota.tokens_used, quota.tokens_limit, "tokens")
    );
    ui.add(
        egui::ProgressBar::new(fullest.clamp(0.0, 1.0))
            .desired_height(6.0)
            .fill(if fullest >= 1.0 {
                palette.error_text
            } else {
                palette.accent_at(0.5)
            }),
    )
    .on_hover_text("The daily quota: it starts again at midnight UTC");
    ui.label(RichText::new(text).small().color(palette.muted));
    if fullest >= 1.0 {
        ui.label(
            RichText::new("Today's quota is used up; it starts again at midnight UTC.")
                .small()
                .color(palette.warning_text),
        );
    }
}

/// 12345 as "12,345".
pub(super) fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(20_000), "20,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
