//! Conversations survive restarts through snapshots in a backup directory (a Storage Bucket
//! mount on a Space): the real binary, demo mode, `kill -9`, a wiped local disk, corrupt and
//! surplus snapshots, graceful shutdown, and backups turned off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{
    io::BufRead as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

/// The real `ashley-proxy`, killed (SIGKILL) when dropped.
struct Proxy {
    child: std::process::Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
    /// Where the test's guest is kept (its backup directory, else its data directory).
    home: std::path::PathBuf,
}

impl Proxy {
    fn start(data: &Path, backup: Option<&Path>, env: &[(&str, &str)]) -> Self {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ashley-proxy"));
        command
            .env_clear()
            .env("ASHLEY_HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("NO_COLOR", "1")
            .env("ASHLEY_RATE_LIMIT", "0")
            .env("ASHLEY_DEMO_DELAY_MS", "0")
            .env("ASHLEY_DATA_DIR", data)
            .env(
                "ASHLEY_BACKUP_DIR",
                backup.map_or(PathBuf::from("off"), Path::to_path_buf),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some((_, rest)) = line.split_once("serving on http://")
                    && let Ok(addr) = rest.trim().parse::<SocketAddr>()
                {
                    let _ = addr_tx.send(addr);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let Ok(addr) = addr_rx.recv_timeout(DEADLINE) else {
            let _ = child.kill();
            panic!("ashley-proxy did not start: {:#?}", log.lock().unwrap());
        };
        Self {
            child,
            addr,
            log,
            client: reqwest::Client::new(),
            home: backup.unwrap_or(data).to_path_buf(),
        }
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The guest this test acts as, made by the first proxy it starts: its credential is in the
    /// database and so in every snapshot, and every later proxy of the same test accepts it.
    /// One per test (tests run in parallel threads of one process).
    async fn guest(&self) -> String {
        static TOKENS: Mutex<Vec<(std::path::PathBuf, String)>> = Mutex::new(Vec::new());
        let known = TOKENS
            .lock()
            .unwrap()
            .iter()
            .find(|(home, _)| *home == self.home)
            .map(|(_, token)| token.clone());
        if let Some(token) = known {
            return token;
        }
        let response = self
            .client
            .post(self.url("/api/auth/guest"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let guest: ashley_proxy::api::GuestToken = response.json().await.unwrap();
        TOKENS
            .lock()
            .unwrap()
            .push((self.home.clone(), guest.token.clone()));
        guest.token
    }

    async fn create_session(&self) -> String {
        let response = self
            .client
            .post(self.url("/api/sessions"))
            .bearer_auth(self.guest().await)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["session_id"].as_str().unwrap().to_owned()
    }

    /// Sends one message and reads the reply's stream to its end.
    async fn send(&self, session: &str, message: &str) {
        let response = self
            .client
            .post(self.url(&format!("/api/sessions/{session}/messages")))
            .bearer_auth(self.guest().await)
            .json(&json!({"persona": "ashley", "message": message}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let stream = response.text().await.unwrap();
        assert!(stream.contains("event: done"), "{stream}");
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(self.guest().await)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// The session's history once all `messages` are stored (a reply is stored as its stream ends).
    async fn history(&self, session: &str, messages: usize) -> Value {
        let started = Instant::now();
        loop {
            let history = self.get(&format!("/api/sessions/{session}")).await;
            if history["messages"].as_array().unwrap().len() == messages {
                return history;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "history never reached {messages}: {history}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for the process to exit.
    fn terminate(&mut self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < DEADLINE,
                "no exit after SIGTERM: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Snapshot file names in `dir`, oldest first (the names sort by time, and seq breaks ties).
fn snapshots(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("ashley-") && name.ends_with(".sqlite3"))
        .collect();
    names.sort_by_key(|name| name.rsplit('-').next().unwrap_or_default().to_owned());
    names
}

/// Stored messages in a snapshot, read from a copy (a snapshot is one self-contained file).
fn messages_in(snapshot: &Path) -> Option<i64> {
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("copy.sqlite3");
    std::fs::copy(snapshot, &copy).ok()?;
    let db = rusqlite::Connection::open(&copy).ok()?;
    db.query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
        .ok()
}

/// Waits until the newest snapshot in `dir` holds `messages` messages; returns its name.
async fn snapshot_with(dir: &Path, messages: i64) -> String {
    let started = Instant::now();
    loop {
        if let Some(newest) = snapshots(dir).pop()
            && messages_in(&dir.join(&newest)) == Some(messages)
        {
            return newest;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no snapshot with {messages} messages: {:?}",
            snapshots(dir)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a proxy, has a two-turn conversation, and waits for a snapshot holding all of it.
async fn conversation(data: &Path, backup: &Path) -> (Proxy, String, Value) {
    let proxy = Proxy::start(data, Some(backup), &[("ASHLEY_BACKUP_SECS", "1")]);
    let session = proxy.create_session().await;
    proxy
        .send(&session, "Hello Ashley, remember the word marmalade.")
        .await;
    proxy.send(&session, "What was the word?").await;
    let history = proxy.history(&session, 4).await;
    snapshot_with(backup, 4).await;
    (proxy, session, history)
}

#[tokio::test]
async fn a_conversation_survives_kill_9_and_a_wiped_local_disk() {
    let root = tempfile::tempdir().unwrap();
    let (data, backup) = (root.path().join("data"), root.path().join("bucket"));
    let (mut proxy, session, before) = conversation(&data, &backup).await;
    proxy.kill_9();
    std::fs::remove_dir_all(&data).unwrap();

    let proxy = Proxy::start(&data, Some(&backup), &[("ASHLEY_BACKUP_SECS", "1")]);
    assert_eq!(proxy.get(&format!("/api/sessions/{session}")).await, before);
    assert!(
        proxy.log_text().contains("restored database"),
        "{}",
        proxy.log_text()
    );
    let status = proxy.get("/api/status").await;
    let storage = &status["storage"];
    assert_eq!(
        storage["database"],
        data.join("ashley.sqlite3").display().to_string()
    );
    assert_eq!(storage["backup_dir"], backup.display().to_string());
    assert!(storage["last_backup_ms"].as_i64().unwrap() > 0, "{storage}");
    assert_eq!(storage["last_backup_error"], Value::Null);
    // The bucket only ever holds whole snapshots: no staging file, no -wal or -shm.
    for name in std::fs::read_dir(&backup).unwrap() {
        let name = name.unwrap().file_name().into_string().unwrap();
        assert!(
            snapshots(&backup).contains(&name),
            "unexpected {name} in the bucket"
        );
    }
}

#[tokio::test]
async fn a_corrupt_newest_snapshot_is_skipped_for_the_previous_good_one() {
    let root = tempfile::tempdir().unwrap();
    let (data, backup) = (root.path().join("data"), root.path().join("bucket"));
    let (mut proxy, session, before) = conversation(&data, &backup).await;
    proxy.kill_9();
    std::fs::remove_dir_all(&data).unwrap();
    // Newer than any real one (the year 2099, the highest sequence number): half a file.
    let good = snapshots(&backup).pop().unwrap();
    let corrupt = "ashley-20990101T000000.000Z-999999.sqlite3";
    let bytes = std::fs::read(backup.join(&good)).unwrap();
    std::fs::write(backup.join(corrupt), &bytes[..bytes.len() / 2]).unwrap();

    let proxy = Proxy::start(&data, Some(&backup), &[("ASHLEY_BACKUP_SECS", "3600")]);
    assert_eq!(proxy.get(&format!("/api/sessions/{session}")).await, before);
    let log = proxy.log_text();
    assert!(
        log.contains(&format!(
            "skipping snapshot {}",
            backup.join(corrupt).display()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("from snapshot {}", backup.join(&good).display())),
        "{log}"
    );
}

#[tokio::test]
async fn snapshots_beyond_keep_are_dropped() {
    let root = tempfile::tempdir().unwrap();
    let (data, backup) = (root.path().join("data"), root.path().join("bucket"));
    let proxy = Proxy::start(
        &data,
        Some(&backup),
        &[("ASHLEY_BACKUP_SECS", "1"), ("ASHLEY_BACKUP_KEEP", "2")],
    );
    let session = proxy.create_session().await;
    let mut taken = Vec::new();
    for turn in 1..=4 {
        proxy
            .send(&session, &format!("Message number {turn}."))
            .await;
        proxy.history(&session, turn * 2).await;
        taken.push(snapshot_with(&backup, i64::try_from(turn * 2).unwrap()).await);
    }
    // The oldest goes right after a new one is closed, so three may exist for a moment; a round
    // may also catch a turn half stored (or a usage row): more snapshots than turns.
    let started = Instant::now();
    let kept = loop {
        let kept = snapshots(&backup);
        if kept.len() == 2 {
            break kept;
        }
        assert!(started.elapsed() < DEADLINE, "never pruned to 2: {kept:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seq = |name: &String| name.rsplit('-').next().unwrap_or_default().to_owned();
    let newest_taken = seq(taken.last().unwrap());
    assert!(
        kept.iter().any(|name| seq(name) >= newest_taken),
        "the newest stays: {kept:?}"
    );
    assert!(
        taken[..2].iter().all(|old| !kept.contains(old)),
        "older ones go: {kept:?}"
    );
}

#[tokio::test]
async fn graceful_shutdown_writes_a_final_snapshot() {
    let root = tempfile::tempdir().unwrap();
    let (data, backup) = (root.path().join("data"), root.path().join("bucket"));
    let mut proxy = Proxy::start(&data, Some(&backup), &[("ASHLEY_BACKUP_SECS", "3600")]);
    let session = proxy.create_session().await;
    proxy.send(&session, "Hello before the restart.").await;
    proxy.history(&session, 2).await;
    assert!(
        snapshots(&backup).is_empty(),
        "no periodic snapshot within the hour"
    );
    proxy.terminate();
    let saved = snapshots(&backup);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(messages_in(&backup.join(&saved[0])), Some(2));
    assert!(
        proxy.log_text().contains("final snapshot"),
        "{}",
        proxy.log_text()
    );
}

#[tokio::test]
async fn with_backups_off_nothing_is_written_beside_the_database() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut proxy = Proxy::start(&data, None, &[("ASHLEY_BACKUP_SECS", "1")]);
    let session = proxy.create_session().await;
    proxy.send(&session, "Nothing to save.").await;
    proxy.history(&session, 2).await;
    let status = proxy.get("/api/status").await;
    assert_eq!(status["storage"]["backup_dir"], Value::Null, "{status}");
    assert_eq!(status["storage"]["last_backup_ms"], Value::Null, "{status}");
    proxy.terminate();
    let mut files: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .chain(std::fs::read_dir(&data).unwrap())
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert!(
        files
            .iter()
            .all(|name| name == "data" || name.starts_with("ashley.sqlite3")),
        "{files:?}"
    );
    assert!(
        proxy.log_text().contains("backups are off"),
        "{}",
        proxy.log_text()
    );
}
