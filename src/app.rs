//! The app state and its frame: the thin first slice (header plus the proxy's status).

use ashley_proxy::api::Status;
use poll_promise::Promise;

pub struct AshleyApp {
    server: String,
    status: Option<Promise<Result<Status, String>>>,
}

impl AshleyApp {
    pub fn new(_cc: &eframe::CreationContext<'_>, server: String) -> Self {
        Self {
            server,
            status: None,
        }
    }

    fn fetch_status(&mut self, ctx: &egui::Context) {
        let (sender, promise) = Promise::new();
        let ctx = ctx.clone();
        let request = ehttp::Request::get(format!("{}/api/status", self.server));
        ehttp::fetch(request, move |response| {
            let result = response.and_then(|response| {
                if response.ok {
                    serde_json::from_slice::<Status>(&response.bytes).map_err(|err| err.to_string())
                } else {
                    Err(format!("{} {}", response.status, response.status_text))
                }
            });
            sender.send(result);
            ctx.request_repaint();
        });
        self.status = Some(promise);
    }
}

impl eframe::App for AshleyApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        if self.status.is_none() {
            self.fetch_status(ui.ctx());
        }
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Ashley AI");
            ui.label("Your intelligent AI assistant powered by advanced language models");
            ui.separator();
            match self.status.as_ref().and_then(|p| p.ready()) {
                None => {
                    ui.spinner();
                }
                Some(Ok(status)) => {
                    ui.label(format!(
                        "Proxy v{} · model {} · {:?} mode",
                        status.version, status.model, status.mode
                    ));
                }
                Some(Err(err)) => {
                    ui.colored_label(
                        ui.visuals().error_fg_color,
                        format!("Proxy unreachable: {err}"),
                    );
                }
            }
        });
    }
}
