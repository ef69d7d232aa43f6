//! The identity the app presents to the proxy.
//!
//! In the browser it is the proxy's HttpOnly cookie: the page never sees it, and no secret goes
//! to localStorage. The desktop app has no cookie jar, so it asks the proxy for a guest's bearer
//! token once, keeps it in a file only its user can read, and sends it on every request.

use std::sync::{Arc, Mutex};

/// Where the bearer token lives, if the app uses one.
#[derive(Clone, Debug)]
enum Keeper {
    /// The browser's cookie does the work.
    Cookie,
    /// This run only (tests, or a machine without a data directory).
    Memory,
    /// A file beside eframe's own state, readable by its owner only.
    #[cfg(not(target_arch = "wasm32"))]
    File(std::path::PathBuf),
}

/// The app's credential, shared by the requests in flight (cheap to clone).
#[derive(Clone, Debug)]
pub struct Credential {
    keeper: Keeper,
    token: Arc<Mutex<Option<String>>>,
}

impl Credential {
    /// The browser: the cookie is the credential.
    pub fn cookie() -> Self {
        Self::with(Keeper::Cookie, None)
    }

    /// A bearer token kept for this run only.
    pub fn in_memory() -> Self {
        Self::with(Keeper::Memory, None)
    }

    /// A bearer token kept in `dir/credential` (read now, written when the proxy issues one).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn in_dir(dir: Option<std::path::PathBuf>) -> Self {
        let Some(dir) = dir else {
            log::warn!("no data directory: this run's guest identity is not kept");
            return Self::in_memory();
        };
        let path = dir.join("credential");
        let token = std::fs::read_to_string(&path)
            .ok()
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        Self::with(Keeper::File(path), token)
    }

    fn with(keeper: Keeper, token: Option<String>) -> Self {
        Self {
            keeper,
            token: Arc::new(Mutex::new(token)),
        }
    }

    /// Whether requests carry a bearer token (everything but the browser).
    pub fn uses_bearer(&self) -> bool {
        !matches!(self.keeper, Keeper::Cookie)
    }

    pub fn token(&self) -> Option<String> {
        self.token.lock().ok().and_then(|token| token.clone())
    }

    /// Keeps a token the proxy just issued.
    pub fn set(&self, token: String) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Keeper::File(path) = &self.keeper
            && let Err(err) = write_private(path, &token)
        {
            log::warn!(
                "could not keep the sign-in in {}: {err}; it lasts for this run only",
                path.display()
            );
        }
        if let Ok(mut held) = self.token.lock() {
            *held = Some(token);
        }
    }

    /// Forgets a token the proxy no longer accepts.
    pub fn clear(&self) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Keeper::File(path) = &self.keeper {
            let _ = std::fs::remove_file(path);
        }
        if let Ok(mut held) = self.token.lock() {
            *held = None;
        }
    }

    /// The request with the credential attached. In the browser that means letting fetch
    /// send and accept the cookie (ehttp's default omits it).
    pub fn attach(&self, mut request: ehttp::Request) -> ehttp::Request {
        #[cfg(target_arch = "wasm32")]
        {
            request.credentials = ehttp::Credentials::SameOrigin;
        }
        if let Some(token) = self.token() {
            request
                .headers
                .insert("Authorization", format!("Bearer {token}"));
        }
        request
    }
}

/// Writes the token so that only the file's owner can read it.
#[cfg(not(target_arch = "wasm32"))]
fn write_private(path: &std::path::Path, token: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(token.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_kept_token_survives_a_restart_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let first = Credential::in_dir(Some(dir.path().join("ashley")));
        assert_eq!(first.token(), None);
        first.set("a".repeat(64));
        let again = Credential::in_dir(Some(dir.path().join("ashley")));
        assert_eq!(again.token(), Some("a".repeat(64)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("ashley/credential"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        again.clear();
        assert_eq!(
            Credential::in_dir(Some(dir.path().join("ashley"))).token(),
            None
        );
    }

    #[test]
    fn only_a_bearer_credential_adds_a_header() {
        let cookie = Credential::cookie();
        assert!(!cookie.uses_bearer());
        let request = cookie.attach(ehttp::Request::get("http://x/api/me"));
        assert!(request.headers.get("Authorization").is_none());
        let bearer = Credential::in_memory();
        bearer.set("b".repeat(64));
        let request = bearer.attach(ehttp::Request::get("http://x/api/me"));
        assert_eq!(
            request.headers.get("Authorization"),
            Some(format!("Bearer {}", "b".repeat(64)).as_str())
        );
    }
}
