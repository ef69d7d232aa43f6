//! The few HTML pages sign-in shows in the browser: a failure with what to do next, and the
//! desktop app's "you can close this tab".

use axum::{http::StatusCode, response::Response};

use crate::share::render::escape;

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
    crate::share::html_response(status, body)
}
