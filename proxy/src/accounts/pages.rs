//! The few HTML pages sign-in shows in the browser: a failure with what to do next, and the
//! desktop app's "you can close this tab".

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// A small standalone page (no script, no outside resources) with a link back to the app.
pub fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Ashley AI</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;\
         line-height:1.5;color:#1d1d1f;background:#fafafa}}\
         h1{{font-size:1.4rem}}a{{color:#5b3cc4}}\
         @media (prefers-color-scheme:dark){{body{{color:#eee;background:#1b1b1f}}a{{color:#b49cff}}}}\
         </style></head><body><main><h1>{title}</h1><p>{message}</p>\
         <p><a href=\"/\">Back to Ashley</a></p></main></body></html>\n",
        title = escape(title),
        message = escape(message),
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Text made safe inside HTML.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(ch),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_a_provider_cannot_become_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
