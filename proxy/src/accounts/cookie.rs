//! The browser's credential cookie: strict attributes, read back from a request's headers.

use axum::http::{HeaderMap, HeaderValue, header};
use reqwest::Url;

use super::Token;
use crate::store::CredentialKind;

/// `__Host-` would tie it to https and the exact host; the name stays plain so the same cookie
/// works on http://127.0.0.1 (`make run`) as on a Space.
pub const COOKIE_NAME: &str = "ashley_id";

/// The short-lived cookie that ties a sign-in under way to its browser.
pub const SIGN_IN_COOKIE: &str = "ashley_sign_in";

/// How the cookie is set, from where people reach Ashley.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookiePolicy {
    /// https: `Secure; SameSite=None` (a Space's page embeds the app in an iframe on
    /// huggingface.co, where a `Lax` cookie is not sent); http: `SameSite=Lax`.
    pub secure: bool,
}

impl CookiePolicy {
    pub fn for_public_url(public_url: Option<&Url>) -> Self {
        Self {
            secure: public_url.is_some_and(|url| url.scheme() == "https"),
        }
    }

    /// The credential's `Set-Cookie` for `token`, valid for `max_age_secs`.
    pub fn set_cookie(self, token: &Token, max_age_secs: i64) -> HeaderValue {
        self.credential_cookie(token.expose(), max_age_secs)
    }

    /// A `Set-Cookie` that removes the credential cookie (sign-out).
    pub fn clear_cookie(self) -> HeaderValue {
        self.credential_cookie("", 0)
    }

    fn credential_cookie(self, value: &str, max_age_secs: i64) -> HeaderValue {
        let same_site = if self.secure {
            "Secure; SameSite=None"
        } else {
            "SameSite=Lax"
        };
        header_value(&format!(
            "{COOKIE_NAME}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; {same_site}"
        ))
    }

    /// Ties a sign-in to the browser that started it: the callback must come back with it
    /// (so nobody can finish their own sign-in in someone else's browser). `Lax`: the
    /// provider's redirect back is a top-level navigation, which carries it.
    pub fn set_sign_in(self, state: &str, max_age_secs: i64) -> HeaderValue {
        let secure = if self.secure { "Secure; " } else { "" };
        header_value(&format!(
            "{SIGN_IN_COOKIE}={state}; Path=/auth; Max-Age={max_age_secs}; HttpOnly; {secure}SameSite=Lax"
        ))
    }

    pub fn clear_sign_in(self) -> HeaderValue {
        self.set_sign_in("", 0)
    }
}

fn header_value(text: &str) -> HeaderValue {
    let mut value = HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value)
}

/// The sign-in cookie's value (the `state` this browser's sign-in started with).
pub fn sign_in_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie_value(headers, SIGN_IN_COOKIE).filter(|value| !value.is_empty())
}

/// The credential a request carries: `Authorization: Bearer` (the desktop app) first, else the
/// cookie. Malformed values count as none.
pub fn credential(headers: &HeaderMap) -> Option<(Token, CredentialKind)> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|value| Token::parse(value.trim()))
        .map(|token| (token, CredentialKind::Bearer));
    bearer.or_else(|| {
        cookie_value(headers, COOKIE_NAME)
            .and_then(Token::parse)
            .map(|token| (token, CredentialKind::Cookie))
    })
}

/// Whether a request comes from another site's page: a cookie then proves nothing (the browser
/// attaches it to any request), so a state-changing request with only a cookie is refused
/// (CSRF). Browsers say it in `Sec-Fetch-Site`; older ones only in `Origin`.
pub fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    let origin_host = Url::parse(origin).ok().map(|url| match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    });
    origin_host.as_deref() != host
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_cookie_is_http_only_and_secure_on_https() {
        let token = Token::generate().unwrap();
        let https = Url::parse("https://ashley.hf.space").unwrap();
        let secure = CookiePolicy::for_public_url(Some(&https)).set_cookie(&token, 60);
        let secure = secure.to_str().unwrap();
        assert!(
            secure.contains("HttpOnly") && secure.contains("Secure; SameSite=None"),
            "{secure}"
        );
        let plain = CookiePolicy::for_public_url(None).set_cookie(&token, 60);
        let plain = plain.to_str().unwrap();
        assert!(
            plain.contains("HttpOnly; SameSite=Lax") && !plain.contains("Secure"),
            "{plain}"
        );
        assert!(plain.starts_with(&format!("ashley_id={}; Path=/; Max-Age=60", token.expose())));
    }

    #[test]
    fn a_bearer_token_wins_over_the_cookie_and_bad_values_are_none() {
        let (bearer, cookie) = (Token::generate().unwrap(), Token::generate().unwrap());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; ashley_id={}", cookie.expose())).unwrap(),
        );
        assert_eq!(credential(&headers).unwrap().0.hash(), cookie.hash());
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", bearer.expose())).unwrap(),
        );
        let (found, kind) = credential(&headers).unwrap();
        assert_eq!(
            (found.hash(), kind),
            (bearer.hash(), CredentialKind::Bearer)
        );
        let mut bad = HeaderMap::new();
        bad.insert(header::COOKIE, HeaderValue::from_static("ashley_id=nothex"));
        assert!(credential(&bad).is_none());
    }

    #[test]
    fn requests_from_other_sites_are_told_apart() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            cross_site(&headers)
        };
        assert!(
            !with(&[]),
            "no browser headers: not a browser's cross-site request"
        );
        assert!(!with(&[("sec-fetch-site", "same-origin")]));
        assert!(with(&[("sec-fetch-site", "cross-site")]));
        assert!(with(&[("sec-fetch-site", "same-site")]));
        assert!(!with(&[
            ("origin", "http://127.0.0.1:7860"),
            ("host", "127.0.0.1:7860")
        ]));
        assert!(with(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:7860")
        ]));
    }
}
