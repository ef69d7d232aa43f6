//! The page's Content-Security-Policy: scripts only from this origin plus trunk's inline loader
//! (allowed by its SHA-256, read from the bundle's `index.html`), WebAssembly allowed, nothing
//! framed but by this origin and Hugging Face (a Space shows the app in an iframe there).

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::SystemTime,
};

use axum::http::HeaderValue;
use base64::Engine as _;
use ring::digest;

/// Who may show the app in a frame: itself, and a Space's page on huggingface.co.
const FRAME_ANCESTORS: &str = "'self' https://huggingface.co https://*.huggingface.co";

/// The policy for the bundle in `web_dir`, rebuilt when its `index.html` changes.
pub struct PagePolicy {
    index: PathBuf,
    cached: Mutex<Option<(SystemTime, HeaderValue)>>,
}

impl PagePolicy {
    pub fn new(web_dir: &Path) -> Self {
        Self {
            index: web_dir.join("index.html"),
            cached: Mutex::new(None),
        }
    }

    /// The `Content-Security-Policy` value for an HTML page of the bundle.
    pub fn header(&self) -> HeaderValue {
        let modified = std::fs::metadata(&self.index)
            .and_then(|meta| meta.modified())
            .ok();
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let (Some(modified), Some((at, value))) = (modified, cached.as_ref())
            && *at == modified
        {
            return value.clone();
        }
        let html = std::fs::read_to_string(&self.index).unwrap_or_default();
        let value = HeaderValue::from_str(&policy(&inline_scripts(&html)))
            .unwrap_or(HeaderValue::from_static("default-src 'self'"));
        if let Some(modified) = modified {
            *cached = Some((modified, value.clone()));
        }
        value
    }
}

/// The policy allowing these inline scripts (their bodies, exactly as in the page).
fn policy(inline: &[&str]) -> String {
    let hashes: String = inline
        .iter()
        .map(|script| {
            let digest = digest::digest(&digest::SHA256, script.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; font-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors {FRAME_ANCESTORS}"
    )
}

/// The bodies of `<script>` elements without `src`.
fn inline_scripts(html: &str) -> Vec<&str> {
    html.split("<script")
        .skip(1)
        .filter_map(|piece| {
            let (tag, after) = piece.split_once('>')?;
            let (body, _) = after.split_once("</script>")?;
            (!tag.contains("src=")).then_some(body)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_their_hash_and_nothing_else() {
        let html = "<head><script type=\"module\">\nimport init from '/a.js';\n</script>\
                    <script src=\"/b.js\"></script></head>";
        assert_eq!(inline_scripts(html), vec!["\nimport init from '/a.js';\n"]);
        let csp = policy(&inline_scripts(html));
        let expected = base64::engine::general_purpose::STANDARD
            .encode(digest::digest(&digest::SHA256, b"\nimport init from '/a.js';\n").as_ref());
        assert!(csp.contains(&format!("'sha256-{expected}'")), "{csp}");
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'"));
        assert!(csp.contains("frame-ancestors 'self' https://huggingface.co"));
    }
}
