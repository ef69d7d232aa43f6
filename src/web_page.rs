//! Facts about the page the web app runs in.

use wasm_bindgen::JsValue;

/// Whether the page is inside a frame (a Space's page on huggingface.co shows the app in an
/// iframe), where a provider's sign-in page refuses to show.
pub fn in_frame() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    match window.top() {
        Ok(Some(top)) => JsValue::from(top) != JsValue::from(window),
        // No readable top: assume a frame, so sign-in opens where it can show.
        Ok(None) | Err(_) => true,
    }
}

/// The page's origin (`https://you-ashley.hf.space`): what a link to this server starts with.
pub fn origin() -> String {
    web_sys::window()
        .and_then(|window| window.location().origin().ok())
        .unwrap_or_default()
}
