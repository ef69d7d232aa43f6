//! The web bundle: content types, precompressed files, cache headers, index fallback, no traversal.

use std::{convert::Infallible, path::PathBuf};

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

use crate::{api::ErrorCode, error::ApiError, routes};

mod security;

/// Long-lived, for files whose name carries a content hash (trunk's `name-<hash>.ext`).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Revalidate every time: the index names the current hashed files.
const REVALIDATE: &str = "no-cache";

/// Serves `web_dir`; unknown app routes get `index.html`, unknown files get 404.
#[derive(Clone)]
pub struct WebBundle {
    files: ServeDir,
    index: ServeFile,
    web_dir: PathBuf,
    policy: std::sync::Arc<security::PagePolicy>,
}

impl WebBundle {
    pub fn new(web_dir: PathBuf) -> Self {
        let files = ServeDir::new(&web_dir)
            .precompressed_br()
            .precompressed_gzip()
            .append_index_html_on_directories(true);
        let index = ServeFile::new(web_dir.join("index.html"))
            .precompressed_br()
            .precompressed_gzip();
        Self {
            files,
            index,
            policy: std::sync::Arc::new(security::PagePolicy::new(&web_dir)),
            web_dir,
        }
    }

    /// The fallback service of the router.
    pub async fn serve(self, request: Request) -> Result<Response, Infallible> {
        let path = request.uri().path().to_owned();
        if path == "/api" || path.starts_with("/api/") || path == "/v1" || path.starts_with("/v1/")
        {
            return Ok(routes::api_not_found(request).await.into_response());
        }
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return Ok(routes::method_not_allowed(request).await.into_response());
        }
        // NUL or other control characters (raw or percent-encoded) and over-long names never
        // name a bundle file; the file server would fail on them with a 500.
        if has_control_chars(&path) || has_overlong_segment(&path) {
            return Ok(
                ApiError::not_found(ErrorCode::FileNotFound, "There is no such file.")
                    .into_response(),
            );
        }
        let last_segment = path.rsplit('/').next().unwrap_or_default();
        let looks_like_file = last_segment.contains('.');
        let headers = request.headers().clone();
        let response = match self.files.clone().oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        };
        if response.status() != StatusCode::NOT_FOUND {
            return Ok(self.with_policy(with_cache_headers(response, last_segment)));
        }
        if looks_like_file {
            return Ok(ApiError::not_found(
                ErrorCode::FileNotFound,
                format!("There is no file {path}."),
            )
            .into_response());
        }
        // An app route (e.g. /chat): the single-page app handles it from the index.
        let mut index_request = Request::new(Body::empty());
        *index_request.headers_mut() = headers;
        let index = match self.index.clone().oneshot(index_request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        };
        if index.status() == StatusCode::NOT_FOUND {
            let message = format!(
                "The web app is not built: {} has no index.html. Build it with trunk or set ASHLEY_WEB_DIR.",
                self.web_dir.display()
            );
            return Ok(ApiError::not_found(ErrorCode::WebAppMissing, message).into_response());
        }
        Ok(self.with_policy(with_cache_headers(index, "index.html")))
    }

    /// An HTML page gets the Content-Security-Policy.
    fn with_policy(&self, mut response: Response) -> Response {
        let is_html = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/html"));
        if is_html {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, self.policy.header());
        }
        response
    }
}

/// Whether the path, percent-decoded, holds a control character (or is not UTF-8).
fn has_control_chars(path: &str) -> bool {
    let hex = |byte: u8| char::from(byte).to_digit(16);
    let mut decoded = Vec::with_capacity(path.len());
    let mut bytes = path.bytes();
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            decoded.push(byte);
            continue;
        }
        let mut lookahead = bytes.clone();
        match (
            lookahead.next().and_then(hex),
            lookahead.next().and_then(hex),
        ) {
            (Some(high), Some(low)) => {
                decoded.push(u8::try_from(high * 16 + low).unwrap_or(0));
                bytes = lookahead;
            }
            _ => decoded.push(byte),
        }
    }
    String::from_utf8(decoded).map_or(true, |text| text.chars().any(char::is_control))
}

/// Longer than the file system allows (255 bytes a name; paths far below PATH_MAX, which
/// no bundle file comes near): the file server would fail on it with a 500.
fn has_overlong_segment(path: &str) -> bool {
    path.len() > 1024 || path.split('/').any(|segment| segment.len() > 255)
}

/// trunk names assets `name-<16 hex digits>.ext` (and `_bg.wasm` alongside).
pub fn is_hashed_asset(file_name: &str) -> bool {
    let stem = file_name.split('.').next().unwrap_or_default();
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-').is_some_and(|(_, hash)| {
        hash.len() >= 8 && hash.bytes().all(|byte| byte.is_ascii_hexdigit())
    })
}

fn with_cache_headers(mut response: Response, file_name: &str) -> Response {
    if !response.status().is_success() && response.status() != StatusCode::NOT_MODIFIED {
        return response;
    }
    let policy = if is_hashed_asset(file_name) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_hashed_names_are_recognised() {
        assert!(is_hashed_asset("ashley-3f2a9c1d0e4b5a6f.js"));
        assert!(is_hashed_asset("ashley-3f2a9c1d0e4b5a6f_bg.wasm"));
        assert!(!is_hashed_asset("index.html"));
        assert!(!is_hashed_asset("favicon.ico"));
        assert!(!is_hashed_asset("my-app.js"));
    }

    #[test]
    fn control_characters_and_broken_utf8_are_spotted() {
        assert!(has_control_chars("/index.html%00.js"));
        assert!(has_control_chars("/a%0Ab"));
        assert!(has_control_chars("/%ff"));
        assert!(!has_control_chars("/assets/app-1234abcd.js"));
        assert!(!has_control_chars("/caf%C3%A9/100%"));
        assert!(has_overlong_segment(&format!("/{}", "x".repeat(300))));
        assert!(has_overlong_segment(&"/a".repeat(3000)));
        assert!(!has_overlong_segment("/assets/app.js"));
    }
}
