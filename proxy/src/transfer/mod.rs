//! Export and import files, free of HTTP and the store: reading a file (ours or ChatGPT's, told
//! apart by shape) into checked conversations, and writing conversations as Markdown.
//!
//! A file is read whole before anything is stored: one bad field anywhere rejects all of it,
//! with a message naming the conversation and the field.

use serde_json::Value;

use crate::api::{
    EXPORT_VERSION, ErrorCode, ExportedConversation, ImportFormat, MAX_IMPORT_CONVERSATIONS,
    MAX_TITLE_CHARS, Role,
};

mod chatgpt;
pub mod markdown;

/// The longest persona id a file may give a message.
const MAX_PERSONA_CHARS: usize = 100;

/// A file read and checked, ready to store.
#[derive(Debug, PartialEq)]
pub struct Parsed {
    pub format: ImportFormat,
    pub conversations: Vec<ExportedConversation>,
    /// Conversations with no text message, left out.
    pub skipped: u64,
}

/// Why a file was not imported: a sentence for the person, the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblem {
    pub code: ErrorCode,
    pub message: String,
    /// A JSON path into the file, e.g. `conversations[2].messages[0].role`.
    pub field: Option<String>,
}

impl ImportProblem {
    fn invalid(message: impl Into<String>, field: Option<String>) -> Self {
        Self {
            code: ErrorCode::InvalidImport,
            message: message.into(),
            field,
        }
    }
}

/// Reads a file: an Ashley export (an object with `ashley_export`) or ChatGPT's
/// `conversations.json` (an array of conversations with a `mapping`).
pub fn parse(bytes: &[u8]) -> Result<Parsed, ImportProblem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportProblem::invalid(
            "Nothing was imported: the file is empty.",
            None,
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        ImportProblem::invalid(
            format!(
                "Nothing was imported: the file is not JSON ({err}). Import a JSON export from \
                 Ashley, or ChatGPT's conversations.json."
            ),
            None,
        )
    })?;
    match &value {
        Value::Object(object) if object.contains_key("ashley_export") => ashley(&value),
        Value::Array(conversations) => chatgpt::parse(conversations),
        _ => Err(ImportProblem::invalid(
            "Nothing was imported: this JSON is neither an Ashley export (an object with an \
             `ashley_export` field) nor ChatGPT's conversations.json (a list of conversations).",
            None,
        )),
    }
}

/// An Ashley export of version [`EXPORT_VERSION`], every field checked.
fn ashley(file: &Value) -> Result<Parsed, ImportProblem> {
    let version = file.get("ashley_export").unwrap_or(&Value::Null);
    match version.as_u64() {
        Some(version) if version == u64::from(EXPORT_VERSION) => {}
        Some(version) => {
            return Err(ImportProblem {
                code: ErrorCode::UnsupportedExportVersion,
                message: format!(
                    "Nothing was imported: the file is an Ashley export of version {version}, \
                     and this Ashley reads version {EXPORT_VERSION}. Import it into the Ashley \
                     that wrote it, or update this one."
                ),
                field: Some("ashley_export".to_owned()),
            });
        }
        None => {
            return Err(ImportProblem::invalid(
                format!(
                    "Nothing was imported: `ashley_export` must be the export's version, a \
                     number ({EXPORT_VERSION}), not {version}."
                ),
                Some("ashley_export".to_owned()),
            ));
        }
    }
    if let Value::Object(object) = file
        && let Some(unknown) = object
            .keys()
            .find(|key| !["ashley_export", "conversations"].contains(&key.as_str()))
    {
        return Err(ImportProblem::invalid(
            format!("Nothing was imported: the export has an unknown field `{unknown}`."),
            Some(unknown.clone()),
        ));
    }
    let Some(Value::Array(list)) = file.get("conversations") else {
        return Err(ImportProblem::invalid(
            "Nothing was imported: the export has no `conversations` list.",
            Some("conversations".to_owned()),
        ));
    };
    too_many(list.len())?;
    let mut conversations = Vec::with_capacity(list.len());
    for (index, value) in list.iter().enumerate() {
        let at = Place {
            index,
            count: list.len(),
            title: value.get("title").and_then(Value::as_str),
            root: "conversations",
        };
        let conversation: ExportedConversation = serde_path_to_error::deserialize(value)
            .map_err(|err| at.problem(&err.path().to_string(), err.inner()))?;
        check(&conversation, &at)?;
        conversations.push(conversation);
    }
    Ok(Parsed {
        format: ImportFormat::Ashley,
        conversations,
        skipped: 0,
    })
}

/// The rules an Ashley export's conversation meets beyond its shape: what the store keeps is
/// what a later export writes, byte for byte.
fn check(conversation: &ExportedConversation, at: &Place<'_>) -> Result<(), ImportProblem> {
    if let Some(title) = &conversation.title
        && let Some(why) = title_problem(title)
    {
        return Err(at.problem("title", why));
    }
    if conversation.created_at_ms < 0 {
        return Err(at.problem("created_at_ms", "a time before 1970"));
    }
    for (number, message) in conversation.messages.iter().enumerate() {
        let field = |name: &str| format!("messages[{number}].{name}");
        let persona = message.persona.chars().count();
        if persona == 0 || persona > MAX_PERSONA_CHARS {
            return Err(at.problem(
                &field("persona"),
                format!("a persona id must have 1 to {MAX_PERSONA_CHARS} characters"),
            ));
        }
        if message.created_at_ms < 0 {
            return Err(at.problem(&field("created_at_ms"), "a time before 1970"));
        }
        if message.role == Role::User && message.stats.is_some() {
            return Err(at.problem(&field("stats"), "only replies have stats"));
        }
        if message.role == Role::User && message.partial {
            return Err(at.problem(&field("partial"), "only replies can be cut off"));
        }
    }
    Ok(())
}

/// Why a title cannot be stored as it is; `None`: it can.
fn title_problem(title: &str) -> Option<String> {
    let chars = title.chars().count();
    if title.trim() != title || chars == 0 {
        Some("a title must not be empty or start or end with spaces (use null for none)".into())
    } else if chars > MAX_TITLE_CHARS {
        Some(format!(
            "the title is {chars} characters long; the limit is {MAX_TITLE_CHARS}"
        ))
    } else if title.chars().any(char::is_control) {
        Some("a title is one line without control characters".into())
    } else {
        None
    }
}

fn too_many(count: usize) -> Result<(), ImportProblem> {
    if count > MAX_IMPORT_CONVERSATIONS {
        return Err(ImportProblem::invalid(
            format!(
                "Nothing was imported: the file has {count} conversations; one import takes at \
                 most {MAX_IMPORT_CONVERSATIONS}. Split it into smaller files."
            ),
            None,
        ));
    }
    Ok(())
}

/// Which conversation of a file a problem is in, to name it.
struct Place<'a> {
    index: usize,
    count: usize,
    title: Option<&'a str>,
    /// The file's path to the list: `conversations` (ours) or empty (ChatGPT's top-level list).
    root: &'a str,
}

impl Place<'_> {
    fn problem(&self, field: &str, why: impl std::fmt::Display) -> ImportProblem {
        let name = match self.title.map(str::trim).filter(|title| !title.is_empty()) {
            Some(title) => format!("“{}”", title.chars().take(60).collect::<String>()),
            None => "untitled".to_owned(),
        };
        let path = if field.is_empty() || field == "." {
            format!("{}[{}]", self.root, self.index)
        } else {
            format!("{}[{}].{field}", self.root, self.index)
        };
        ImportProblem::invalid(
            format!(
                "Nothing was imported: conversation {} of {} ({name}) has a problem in `{path}`: \
                 {why}.",
                self.index + 1,
                self.count
            ),
            Some(path),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn problem(text: &str) -> ImportProblem {
        parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_file_that_is_not_json_or_not_an_export_says_so() {
        assert!(problem("").message.contains("empty"));
        assert!(problem("# notes\n").message.contains("not JSON"));
        let other = problem(r#"{"hello": 1}"#);
        assert!(
            other.message.contains("neither an Ashley export"),
            "{other:?}"
        );
    }

    #[test]
    fn a_newer_version_is_refused_by_its_own_code() {
        let newer = problem(r#"{"ashley_export": 2, "conversations": []}"#);
        assert_eq!(newer.code, ErrorCode::UnsupportedExportVersion);
        assert!(newer.message.contains("version 2"), "{newer:?}");
        let text = problem(r#"{"ashley_export": "one", "conversations": []}"#);
        assert_eq!(text.code, ErrorCode::InvalidImport);
        assert_eq!(text.field.as_deref(), Some("ashley_export"));
    }

    #[test]
    fn a_bad_field_names_the_conversation_and_the_path() {
        let file = r#"{"ashley_export": 1, "conversations": [
            {"title": "Fine", "created_at_ms": 1, "messages": []},
            {"title": "Packing list", "created_at_ms": 1, "messages": [
                {"role": "user", "content": "hi", "persona": "ashley", "created_at_ms": 2},
                {"role": "robot", "content": "hi", "persona": "ashley", "created_at_ms": 3}
            ]}
        ]}"#;
        let bad = problem(file);
        assert_eq!(
            bad.field.as_deref(),
            Some("conversations[1].messages[1].role")
        );
        assert!(bad.message.contains("conversation 2 of 2"), "{bad:?}");
        assert!(bad.message.contains("“Packing list”"), "{bad:?}");
        assert!(bad.message.contains("robot"), "{bad:?}");
        let title = problem(
            r#"{"ashley_export": 1, "conversations": [{"title": "  ", "created_at_ms": 1, "messages": []}]}"#,
        );
        assert_eq!(title.field.as_deref(), Some("conversations[0].title"));
    }

    #[test]
    fn a_good_export_reads_back_as_written() {
        let file = r#"{"ashley_export": 1, "conversations": [
            {"title": null, "pinned": true, "created_at_ms": 5, "messages": [
                {"role": "assistant", "content": "partly", "persona": "gone-persona",
                 "created_at_ms": 6, "partial": true}
            ]}
        ]}"#;
        let parsed = parse(file.as_bytes()).unwrap();
        assert_eq!(parsed.format, ImportFormat::Ashley);
        assert!(parsed.conversations[0].pinned);
        assert!(parsed.conversations[0].messages[0].partial);
    }
}
