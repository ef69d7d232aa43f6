//! What the app remembers between runs: the open conversation, persona and theme (eframe
//! persistence).

use serde::{Deserialize, Serialize};

/// The eframe storage key.
pub const STORAGE_KEY: &str = "ashley";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThemeChoice {
    #[default]
    Dark,
    Light,
}

impl ThemeChoice {
    pub fn toggled(self) -> Self {
        match self {
            Self::Dark => Self::Light,
            Self::Light => Self::Dark,
        }
    }
}

/// Saved in localStorage on the web and in a file natively; unknown or missing fields fall
/// back to their defaults so an older save never stops the app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedState {
    /// The conversation open at the last save. Versions before 0.3 saved it as `session_id`
    /// (a session id is a conversation id).
    #[serde(alias = "session_id")]
    pub conversation_id: Option<String>,
    pub persona: String,
    pub theme: ThemeChoice,
}

impl Default for PersistedState {
    fn default() -> Self {
        Self {
            conversation_id: None,
            persona: "ashley".to_owned(),
            theme: ThemeChoice::Dark,
        }
    }
}

impl PersistedState {
    pub fn load(storage: Option<&dyn eframe::Storage>) -> Self {
        storage
            .and_then(|storage| eframe::get_value(storage, STORAGE_KEY))
            .unwrap_or_default()
    }

    pub fn save(&self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, self);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn missing_and_unknown_fields_fall_back_to_defaults() {
        let state: PersistedState =
            serde_json::from_str(r#"{"theme":"light","future_field":1}"#).unwrap();
        assert_eq!(state.theme, ThemeChoice::Light);
        assert_eq!(state.persona, "ashley");
        assert_eq!(state.conversation_id, None);
    }

    #[test]
    fn an_older_saved_session_id_opens_that_conversation() {
        let state: PersistedState = serde_json::from_str(r#"{"session_id":"abc"}"#).unwrap();
        assert_eq!(state.conversation_id.as_deref(), Some("abc"));
    }
}
