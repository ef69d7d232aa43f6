//! Starts Ashley: a native window, or the web app on the page's canvas.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> eframe::Result {
    env_logger::init();
    let server = ashley::server_from_args(
        std::env::args().skip(1),
        std::env::var("ASHLEY_SERVER").ok(),
    );
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Ashley AI")
            .with_inner_size([1100.0, 760.0])
            .with_min_inner_size([360.0, 480.0]),
        ..Default::default()
    };
    eframe::run_native(
        ashley::APP_ID,
        options,
        Box::new(move |cc| Ok(Box::new(ashley::AshleyApp::new(cc, server)))),
    )
}

#[cfg(target_arch = "wasm32")]
fn main() {
    use eframe::wasm_bindgen::JsCast as _;

    eframe::WebLogger::init(log::LevelFilter::Info).ok();
    // Keep the end-to-end test handle's export linked into the test build.
    #[cfg(feature = "testing")]
    std::hint::black_box(ashley::web_test_handle::ashley_test_state as fn() -> String);
    wasm_bindgen_futures::spawn_local(async {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            log::error!("no document to draw in");
            return;
        };
        let Some(canvas) = document
            .get_element_by_id("ashley_canvas")
            .and_then(|element| element.dyn_into::<web_sys::HtmlCanvasElement>().ok())
        else {
            log::error!("the page has no <canvas id=\"ashley_canvas\">");
            return;
        };
        // The web app talks to the page's own origin: the proxy that served it.
        let server = String::new();
        let started = eframe::WebRunner::new()
            .start(
                canvas,
                eframe::WebOptions::default(),
                Box::new(move |cc| {
                    // A small font set in the wasm; Hack comes when code first shows (see fonts).
                    cc.egui_ctx.set_fonts(ashley::fonts::web_font_definitions());
                    Ok(Box::new(ashley::AshleyApp::new(cc, server)))
                }),
            )
            .await;
        if let Some(loading) = document.get_element_by_id("loading_text") {
            match started {
                Ok(()) => loading.remove(),
                Err(err) => {
                    loading.set_inner_html(
                        "<p>Ashley could not start. See the browser console for details.</p>",
                    );
                    log::error!("failed to start eframe: {err:?}");
                }
            }
        }
    });
}
