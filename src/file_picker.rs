//! The web app's "Import…": the browser's file picker (an `<input type="file">`); the chosen
//! file's bytes go to the proxy's import.

use wasm_bindgen::JsCast as _;
use wasm_bindgen::closure::Closure;

use crate::net::ProxyClient;

/// Opens the picker; a chosen file is read and imported (its answer is a `NetEvent::Imported`).
pub fn pick(client: ProxyClient) -> Result<(), String> {
    let document = web_sys::window()
        .and_then(|window| window.document())
        .ok_or("the page has no document")?;
    let input: web_sys::HtmlInputElement = document
        .create_element("input")
        .map_err(|err| format!("{err:?}"))?
        .dyn_into()
        .map_err(|_| "the page made no file input")?;
    input.set_type("file");
    input.set_accept(".json,application/json");
    let picked = input.clone();
    // Called once, when a file is chosen (never when the picker is cancelled), then dropped.
    let on_change = Closure::once_into_js(move || {
        let Some(file) = picked.files().and_then(|files| files.get(0)) else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => client.import(js_sys::Uint8Array::new(&buffer).to_vec()),
                Err(err) => client.import_failed(format!("{err:?}")),
            }
        });
    });
    input.set_onchange(Some(on_change.unchecked_ref()));
    input.click();
    Ok(())
}
