//! Export and import requests: `GET /api/export` (or one conversation's), saved as a file by the
//! desktop app, and `POST /api/import` of a file's bytes.

use super::{NetError, NetEvent, ProxyClient};

/// What to export, as a path and query: everything, or one conversation.
pub fn export_path(conversation_id: Option<&str>, markdown: bool) -> String {
    let format = if markdown { "md" } else { "json" };
    match conversation_id {
        Some(id) => format!("/api/conversations/{id}/export?format={format}"),
        None => format!("/api/export?format={format}"),
    }
}

impl ProxyClient {
    /// `POST /api/import`: the file as the body; the answer names the new conversations.
    pub fn import(&self, file: Vec<u8>) {
        let mut request = ehttp::Request::post(self.url("/api/import"), file);
        request.headers = ehttp::Headers::new(&[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ]);
        // A large file takes a while to upload and read.
        request.timeout = None;
        self.fetch_json(request, NetEvent::Imported);
    }

    /// A file picked for import that the browser could not read.
    #[cfg(target_arch = "wasm32")]
    pub fn import_failed(&self, reason: String) {
        self.emit(NetEvent::Imported(Err(NetError::Invalid(format!(
            "the file could not be read: {reason}"
        )))));
    }

    /// `path` (see [`export_path`]) with the app's token, written into `dir` under the name the
    /// proxy gives it (a number added rather than overwriting a file already there).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save_export(&self, path: &str, dir: std::path::PathBuf) {
        let request = ehttp::Request::get(self.url(path));
        let client = self.clone();
        ehttp::fetch(self.credential.attach(request), move |result| {
            let saved = match result {
                Err(reason) => Err(NetError::Unreachable(reason)),
                Ok(response) if !response.ok => {
                    Err(super::http_error(response.status, &response.bytes))
                }
                Ok(response) => {
                    let name = response
                        .headers
                        .get("content-disposition")
                        .and_then(file_name)
                        .unwrap_or_else(|| "ashley-export.json".to_owned());
                    write_new_file(&dir, &name, &response.bytes).map_err(|err| {
                        NetError::Invalid(format!(
                            "could not save the file in {}: {err}",
                            dir.display()
                        ))
                    })
                }
            };
            client.emit(NetEvent::Exported(saved));
        });
    }
}

/// The file name in `attachment; filename="ashley-trip.json"`, kept to a plain name.
#[cfg(not(target_arch = "wasm32"))]
fn file_name(disposition: &str) -> Option<String> {
    let (_, rest) = disposition.split_once("filename=")?;
    let name: String = rest
        .trim_matches('"')
        .chars()
        .filter(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
        .collect();
    (!name.is_empty() && !name.starts_with('.')).then_some(name)
}

/// Writes `bytes` as `name` in `dir`, or as `name (2)`, `name (3)`... when that exists.
#[cfg(not(target_arch = "wasm32"))]
fn write_new_file(
    dir: &std::path::Path,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write as _;
    let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
    let mut last_error = None;
    for number in 1..100 {
        let candidate = match (number, extension) {
            (1, _) => name.to_owned(),
            (_, "") => format!("{stem} ({number})"),
            _ => format!("{stem} ({number}).{extension}"),
        };
        let path = dir.join(candidate);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(bytes)?;
                return Ok(path);
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(err),
            Err(err) => return Err(err),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no free file name")))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_export_is_saved_under_the_proxys_name_without_overwriting() {
        assert_eq!(
            file_name("attachment; filename=\"ashley-trip.md\"").as_deref(),
            Some("ashley-trip.md")
        );
        assert_eq!(
            file_name("attachment; filename=\"../../x\"").as_deref(),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        let first = write_new_file(dir.path(), "a.json", b"1").unwrap();
        let second = write_new_file(dir.path(), "a.json", b"2").unwrap();
        assert_eq!(first.file_name().unwrap(), "a.json");
        assert_eq!(second.file_name().unwrap(), "a (2).json");
        assert_eq!(std::fs::read(second).unwrap(), b"2");
    }
}
