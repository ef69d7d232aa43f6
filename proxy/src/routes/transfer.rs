//! `/api/conversations/{id}/export`, `/api/export` and `/api/import` (documented in `api.rs`):
//! downloads as JSON or Markdown, and a file taken in whole.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Query, State, rejection::BytesRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{ClientCaller, app};
use crate::{
    api::{ErrorCode, ExportFile},
    error::{ApiError, AppPath},
    state::AppState,
    transfer::markdown,
};

/// Under `/api`; the import route takes files up to `max_import_bytes`.
pub fn routes(max_import_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/conversations/{id}/export", get(export_one))
        .route("/export", get(export_all))
        .route(
            "/import",
            post(import).layer(DefaultBodyLimit::max(max_import_bytes)),
        )
}

#[derive(Deserialize)]
struct FormatQuery {
    #[serde(default)]
    format: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Markdown,
}

impl Format {
    fn parse(
        query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
    ) -> Result<Self, ApiError> {
        let format = query.ok().and_then(|Query(query)| query.format);
        match format.as_deref() {
            None | Some("json") => Ok(Self::Json),
            Some("md" | "markdown") => Ok(Self::Markdown),
            Some(other) => Err(ApiError::invalid(
                ErrorCode::InvalidQuery,
                format!("There is no export format \"{other}\"; use format=json or format=md."),
            )
            .with_param("format")),
        }
    }
}

async fn export_one(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<String>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let format = Format::parse(query)?;
    let file = state.chat().export(&caller, Some(&id)).await?;
    let name = file
        .conversations
        .first()
        .and_then(|conversation| conversation.title.as_deref())
        .map(file_stem)
        .filter(|stem| !stem.is_empty())
        .unwrap_or_else(|| "conversation".to_owned());
    download(&state, &file, format, &format!("ashley-{name}"))
}

async fn export_all(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let format = Format::parse(query)?;
    let file = state.chat().export(&caller, None).await?;
    download(&state, &file, format, "ashley-export")
}

async fn import(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let limit_mb = state.config().max_import_bytes as f64 / (1024.0 * 1024.0);
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                ErrorCode::BodyTooLarge,
                format!(
                    "Nothing was imported: the file is larger than the {limit_mb:.1} MB one import \
                     takes. Split it into smaller files, or ask the operator to raise \
                     ASHLEY_MAX_IMPORT_BYTES."
                ),
            )
        } else {
            ApiError::invalid(
                ErrorCode::InvalidBody,
                format!("The file could not be read: {}", rejection.body_text()),
            )
        }
    })?;
    let (result, guest) = state.chat().import(&caller, body).await?;
    let response = (StatusCode::CREATED, Json(result)).into_response();
    Ok(app::with_guest_cookie(&state, response, guest.as_ref()))
}

/// The file as a download: pretty JSON (the schema) or Markdown (for reading).
fn download(
    state: &AppState,
    file: &ExportFile,
    format: Format,
    stem: &str,
) -> Result<Response, ApiError> {
    let (body, content_type, extension) = match format {
        Format::Json => {
            let mut json = serde_json::to_vec_pretty(file).map_err(|err| {
                tracing::error!("an export could not be written as JSON: {err}");
                ApiError::internal("The export could not be written; try again.")
            })?;
            json.push(b'\n');
            (json, "application/json", "json")
        }
        Format::Markdown => {
            let chat = state.chat();
            let text = markdown::conversations(&file.conversations, |id| chat.persona_name(id));
            (text.into_bytes(), "text/markdown; charset=utf-8", "md")
        }
    };
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{stem}.{extension}\""))
            .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// A title as part of a file name: lowercase ASCII letters and digits joined by `-`, at most 40.
fn file_stem(title: &str) -> String {
    let words: Vec<String> = title
        .split(|ch: char| !ch.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut stem = String::new();
    for word in words {
        if stem.len() + word.len() + 1 > 40 {
            break;
        }
        if !stem.is_empty() {
            stem.push('-');
        }
        stem.push_str(&word);
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_keeps_the_titles_plain_words() {
        assert_eq!(file_stem("Trip to Lisbon: day 2!"), "trip-to-lisbon-day-2");
        assert_eq!(file_stem("日本語"), "");
        assert!(file_stem(&"word ".repeat(30)).len() <= 40);
    }
}
