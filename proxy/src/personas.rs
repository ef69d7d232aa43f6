//! Personas: loaded from a TOML file (built in, or the operator's), checked with line-precise errors.

use std::{fmt, ops::Range, path::Path, sync::Arc};

use serde::Deserialize;
use toml::Spanned;

use crate::api::{PersonaInfo, PersonaList};

/// The personas file shipped with the proxy.
pub const BUILTIN_TOML: &str = include_str!("../personas.toml");

/// One persona: what the model is told and how it is sampled.
#[derive(Clone, Debug, PartialEq)]
pub struct Persona {
    pub id: String,
    pub name: String,
    pub description: String,
    pub system_prompt: String,
    pub temperature: f32,
    pub max_tokens: u32,
}

impl Persona {
    pub fn info(&self) -> PersonaInfo {
        PersonaInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            temperature: self.temperature,
            max_tokens: self.max_tokens,
        }
    }
}

/// The persona set, cheap to clone.
#[derive(Clone, Debug, PartialEq)]
pub struct Personas {
    list: Arc<[Persona]>,
    default: String,
}

/// Why a personas file was rejected: the line (1-based) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonasError {
    pub source_name: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for PersonasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.source_name, self.reason),
            None => write!(f, "{}: {}", self.source_name, self.reason),
        }
    }
}

impl std::error::Error for PersonasError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    default: Option<Spanned<String>>,
    #[serde(default)]
    persona: Vec<Spanned<PersonaToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonaToml {
    id: Spanned<String>,
    name: Spanned<String>,
    description: Spanned<String>,
    system_prompt: Spanned<String>,
    temperature: Spanned<f32>,
    max_tokens: Spanned<i64>,
}

fn line_of(text: &str, span: Range<usize>) -> usize {
    text.get(..span.start)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
}

impl Personas {
    /// The shipped personas (Ashley, Technical Expert, Creative Assistant).
    #[allow(clippy::expect_used)] // the shipped file is checked by a unit test
    pub fn builtin() -> Self {
        Self::parse(BUILTIN_TOML, "built-in personas.toml")
            .expect("the built-in personas file is valid")
    }

    /// Reads and checks an operator's personas file.
    pub fn load(path: &Path) -> Result<Self, PersonasError> {
        let source_name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| PersonasError {
            source_name: source_name.clone(),
            line: None,
            reason: format!("cannot read the file ({err})"),
        })?;
        Self::parse(&text, &source_name)
    }

    /// Parses and checks personas TOML; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, PersonasError> {
        let fail = |span: Option<Range<usize>>, reason: String| PersonasError {
            source_name: source_name.to_owned(),
            line: span.map(|span| line_of(text, span)),
            reason,
        };
        let file: FileToml = toml::from_str(text).map_err(|err| {
            // toml's own message repeats the position in a multi-line excerpt; keep the reason line.
            let reason = err.message().to_owned();
            fail(err.span(), reason)
        })?;
        if file.persona.is_empty() {
            return Err(fail(None, "no [[persona]] entries".to_owned()));
        }
        let mut list: Vec<Persona> = Vec::with_capacity(file.persona.len());
        for entry in file.persona {
            let entry = entry.into_inner();
            let id = entry.id.get_ref();
            if !is_valid_id(id) {
                return Err(fail(
                    Some(entry.id.span()),
                    format!("persona id {id:?} must be lowercase letters, digits or '-'"),
                ));
            }
            if list.iter().any(|known| &known.id == id) {
                return Err(fail(
                    Some(entry.id.span()),
                    format!("persona id {id:?} appears twice"),
                ));
            }
            for (field, value) in [
                ("name", &entry.name),
                ("description", &entry.description),
                ("system_prompt", &entry.system_prompt),
            ] {
                if value.get_ref().trim().is_empty() {
                    return Err(fail(
                        Some(value.span()),
                        format!("persona {id:?}: {field} is empty"),
                    ));
                }
            }
            let temperature = *entry.temperature.get_ref();
            if !(0.0..=2.0).contains(&temperature) {
                return Err(fail(
                    Some(entry.temperature.span()),
                    format!("persona {id:?}: temperature {temperature} is outside 0 to 2"),
                ));
            }
            let max_tokens = *entry.max_tokens.get_ref();
            let max_tokens = u32::try_from(max_tokens)
                .ok()
                .filter(|tokens| (1..=128_000).contains(tokens))
                .ok_or_else(|| {
                    fail(
                        Some(entry.max_tokens.span()),
                        format!("persona {id:?}: max_tokens {max_tokens} is outside 1 to 128000"),
                    )
                })?;
            list.push(Persona {
                id: id.clone(),
                name: entry.name.into_inner().trim().to_owned(),
                description: entry.description.into_inner().trim().to_owned(),
                system_prompt: entry.system_prompt.into_inner().trim().to_owned(),
                temperature,
                max_tokens,
            });
        }
        let default = match file.default {
            Some(default) => {
                if !list.iter().any(|persona| &persona.id == default.get_ref()) {
                    return Err(fail(
                        Some(default.span()),
                        format!("default {:?} is not one of the personas", default.get_ref()),
                    ));
                }
                default.into_inner()
            }
            None => list
                .first()
                .map(|persona| persona.id.clone())
                .unwrap_or_default(),
        };
        Ok(Self {
            list: list.into(),
            default,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Persona> {
        self.list.iter().find(|persona| persona.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Persona> {
        self.list.iter()
    }

    pub fn default_id(&self) -> &str {
        &self.default
    }

    /// `GET /api/personas`.
    pub fn list(&self) -> PersonaList {
        PersonaList {
            personas: self.list.iter().map(Persona::info).collect(),
            default: self.default.clone(),
        }
    }

    /// The ids joined for error messages: "ashley, technical, creative".
    pub fn ids(&self) -> String {
        self.list
            .iter()
            .map(|persona| persona.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn builtin_personas_match_the_spec() {
        let personas = Personas::builtin();
        let list = personas.list();
        assert_eq!(list.default, "ashley");
        let summary: Vec<_> = list
            .personas
            .iter()
            .map(|p| (p.id.as_str(), p.name.as_str(), p.temperature, p.max_tokens))
            .collect();
        assert_eq!(
            summary,
            [
                ("ashley", "Ashley", 0.7, 2000),
                ("technical", "Technical Expert", 0.3, 3000),
                ("creative", "Creative Assistant", 0.9, 2500),
            ]
        );
        let ashley = personas.get("ashley").unwrap();
        assert!(ashley.system_prompt.starts_with(
            "You are Ashley, a helpful and knowledgeable AI assistant. You are friendly"
        ));
        assert!(
            ashley
                .system_prompt
                .ends_with("Always be concise but thorough in your responses.")
        );
        assert!(!ashley.system_prompt.contains("  "));
        assert!(
            personas
                .get("technical")
                .unwrap()
                .system_prompt
                .contains("maintainable solutions.")
        );
        assert!(
            personas
                .get("creative")
                .unwrap()
                .system_prompt
                .contains("while maintaining helpfulness.")
        );
    }

    #[test]
    fn errors_name_the_line_and_the_reason() {
        let text = "default = \"a\"\n\n[[persona]]\nid = \"A b\"\nname = \"x\"\ndescription = \"d\"\nsystem_prompt = \"p\"\ntemperature = 0.5\nmax_tokens = 10\n";
        let err = Personas::parse(text, "p.toml").unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(err.reason.contains("lowercase"), "{err}");
        assert!(err.to_string().starts_with("p.toml line 4: "));

        let hot = text.replace("\"A b\"", "\"a\"").replace("0.5", "3.5");
        let err = Personas::parse(&hot, "p.toml").unwrap_err();
        assert_eq!(err.line, Some(8));
        assert!(err.reason.contains("temperature"));

        let syntax = "[[persona]]\nid = \n";
        let err = Personas::parse(syntax, "p.toml").unwrap_err();
        assert_eq!(err.line, Some(2));

        let unknown = text
            .replace("\"A b\"", "\"a\"")
            .replace("max_tokens = 10", "max_tokens = 10\ncolour = 1");
        let err = Personas::parse(&unknown, "p.toml").unwrap_err();
        assert_eq!(err.line, Some(10));
        assert!(err.reason.contains("colour"), "{err}");

        let bad_default = text.replace("\"A b\"", "\"b\"");
        let err = Personas::parse(&bad_default, "p.toml").unwrap_err();
        assert_eq!(err.line, Some(1));
    }
}
