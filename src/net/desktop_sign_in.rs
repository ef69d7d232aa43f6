//! The desktop app's sign-in, as RFC 8252 describes for native apps: the system browser signs
//! in at the proxy, which sends it back to `http://127.0.0.1:PORT/callback` on a port this app
//! listens on, with a one-time code and the `state` this app chose. The app swaps the code for
//! its token (`POST /api/auth/token`); the browser only ever sees the short-lived code.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the app waits for the browser to come back.
const WAIT: Duration = Duration::from_secs(10 * 60);
/// How often the waiting thread looks for a connection (or a cancel).
const POLL: Duration = Duration::from_millis(100);

/// A sign-in under way; dropping it stops the wait.
#[derive(Debug)]
pub struct DesktopSignIn {
    /// The page to open in the system browser.
    pub url: String,
    cancelled: Arc<AtomicBool>,
}

impl Drop for DesktopSignIn {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

impl DesktopSignIn {
    /// Listens on a free loopback port and waits (on its own thread) for the browser; `done`
    /// gets the one-time code, or why there is none. `login_url` is the proxy's `/auth/login`.
    pub fn start(
        login_url: &str,
        done: impl FnOnce(Result<String, String>) + Send + 'static,
    ) -> Result<Self, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|err| format!("could not listen for the sign-in on this computer: {err}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|err| format!("could not listen for the sign-in: {err}"))?;
        let port = listener
            .local_addr()
            .map_err(|err| format!("could not listen for the sign-in: {err}"))?
            .port();
        let state = random_state()?;
        let url = format!("{login_url}?client=desktop&port={port}&state={state}");
        let cancelled = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&cancelled);
        std::thread::Builder::new()
            .name("ashley-sign-in".to_owned())
            .spawn(move || {
                let outcome = wait_for_browser(&listener, &state, &stop);
                // Closed before anything else happens: a replayed answer finds nobody.
                drop(listener);
                if let Some(outcome) = outcome {
                    done(outcome);
                }
            })
            .map_err(|err| format!("could not wait for the sign-in: {err}"))?;
        Ok(Self { url, cancelled })
    }
}

/// 32 hex digits from the OS's random source.
fn random_state() -> Result<String, String> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| format!("no randomness for the sign-in: {err}"))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Serves the loopback port until the browser brings an answer for `state`; `None` when the
/// sign-in was cancelled.
fn wait_for_browser(
    listener: &TcpListener,
    state: &str,
    cancelled: &AtomicBool,
) -> Option<Result<String, String>> {
    let deadline = Instant::now() + WAIT;
    loop {
        if cancelled.load(Ordering::Relaxed) {
            return None;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(outcome) = answer(stream, state) {
                    return Some(outcome);
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Some(Err(
                        "the sign-in was not finished within 10 minutes; try again".to_owned(),
                    ));
                }
                std::thread::sleep(POLL);
            }
            Err(err) => return Some(Err(format!("the sign-in listener failed: {err}"))),
        }
    }
}

/// Reads one request and answers the browser; `Some` once it carried the sign-in's outcome.
fn answer(mut stream: TcpStream, state: &str) -> Option<Result<String, String>> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 8192 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => head.extend_from_slice(buffer.get(..read).unwrap_or_default()),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("GET "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/callback" {
        respond(&mut stream, "404 Not Found", "Not found", "Nothing here.");
        return None;
    }
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| percent_decoded(value))
    };
    if param("state").as_deref() != Some(state) {
        respond(
            &mut stream,
            "400 Bad Request",
            "Not this sign-in",
            "This answer is not for the sign-in the app started. Sign in again from the app.",
        );
        return None;
    }
    if let Some(error) = param("error") {
        respond(
            &mut stream,
            "400 Bad Request",
            "Sign-in was not completed",
            "Return to the app and try again.",
        );
        return Some(Err(format!("the provider said: {error}")));
    }
    let Some(code) = param("code").filter(|code| !code.is_empty()) else {
        respond(
            &mut stream,
            "400 Bad Request",
            "Sign-in failed",
            "The answer had no code. Sign in again from the app.",
        );
        return Some(Err("the sign-in answer had no code".to_owned()));
    };
    respond(
        &mut stream,
        "200 OK",
        "Signed in to Ashley",
        "You can close this tab and return to the app.",
    );
    Some(Ok(code))
}

fn respond(stream: &mut TcpStream, status: &str, title: &str, message: &str) {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         </head><body style=\"font-family:sans-serif;max-width:32rem;margin:4rem auto\">\
         <h1>{title}</h1><p>{message}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// `%XX` and `+` decoded; malformed escapes are kept as they are.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (byte, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                index += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                index += 1;
            }
            _ => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::mpsc;

    fn get(port: u16, target: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(stream, "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn the_code_is_taken_only_with_the_apps_state() {
        let (sender, receiver) = mpsc::channel();
        let sign_in = DesktopSignIn::start("http://proxy.test/auth/login", move |outcome| {
            sender.send(outcome).unwrap();
        })
        .unwrap();
        let query = sign_in.url.split_once('?').unwrap().1.to_owned();
        let value = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                .unwrap()
                .to_owned()
        };
        assert!(
            sign_in
                .url
                .starts_with("http://proxy.test/auth/login?client=desktop&port=")
        );
        let (port, state) = (value("port").parse::<u16>().unwrap(), value("state"));
        assert_eq!(state.len(), 32);

        assert!(get(port, "/favicon.ico").starts_with("HTTP/1.1 404"));
        let forged = get(port, "/callback?code=stolen&state=not-the-apps");
        assert!(forged.starts_with("HTTP/1.1 400"), "{forged}");
        assert!(receiver.try_recv().is_err(), "a wrong state ends nothing");
        let good = get(port, &format!("/callback?code=c0de&state={state}"));
        assert!(good.contains("Signed in to Ashley"), "{good}");
        assert_eq!(receiver.recv().unwrap(), Ok("c0de".to_owned()));
    }

    #[test]
    fn escapes_in_a_provider_error_are_decoded() {
        assert_eq!(
            percent_decoded("access_denied%3A+no%21"),
            "access_denied: no!"
        );
        assert_eq!(percent_decoded("100%"), "100%");
    }
}
