//! The stored row of an app reply while it streams, saved in the background so no delta waits on SQLite.

use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use tokio::task::JoinHandle;

use super::persist::{self, SharedStore};
use crate::store::StoreError;

/// At most this often a streaming reply's text is written to the store ...
const SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// ... unless this much new text arrived since the last write.
const SAVE_BYTES: usize = 8 * 1024;

/// The row is inserted (marked partial) with the first text, updated now and then, and
/// finalised when the reply ends; a crash leaves it partial with what was saved. Each save runs
/// as its own task, one at a time, so forwarding a delta never waits for a write.
#[derive(Default)]
pub(super) struct ReplyRow {
    id: Option<i64>,
    saving: Option<(JoinHandle<Result<i64, StoreError>>, usize)>,
    saved_at: Option<Instant>,
    saved_len: usize,
}

impl ReplyRow {
    /// Starts writing `reply` when a save is due and none is running.
    pub(super) fn save_progress(
        &mut self,
        store: &SharedStore,
        session_id: &str,
        persona: &str,
        reply: &str,
    ) {
        if let Some((handle, _)) = &mut self.saving {
            let Some(result) = handle.now_or_never() else {
                return;
            };
            self.take_result(result);
        }
        let due = self.saved_at.is_none_or(|at| at.elapsed() >= SAVE_INTERVAL)
            || reply.len().saturating_sub(self.saved_len) >= SAVE_BYTES;
        if !due {
            return;
        }
        let text = reply.to_owned();
        let existing = self.id;
        let (session_id, persona) = (session_id.to_owned(), persona.to_owned());
        let store = store.clone();
        let save = tokio::spawn(async move {
            match existing {
                Some(id) => persist::save_progress(&*store, id, text).await.map(|()| id),
                None => persist::start_reply(&*store, session_id, persona, text).await,
            }
        });
        self.saving = Some((save, reply.len()));
        self.saved_at = Some(Instant::now());
    }

    /// Waits for the first insert if it is still running: once the client has more than one
    /// delta, the row that a crash would leave behind exists.
    pub(super) async fn wait_for_insert(&mut self) {
        if self.id.is_none() {
            self.settle().await;
        }
    }

    /// Waits for the running save, if any; the row's id once it exists.
    pub(super) async fn settle(&mut self) -> Option<i64> {
        if let Some((handle, _)) = &mut self.saving {
            let result = handle.await;
            self.take_result(result);
        }
        self.id
    }

    fn take_result(&mut self, result: Result<Result<i64, StoreError>, tokio::task::JoinError>) {
        let Some((_, len)) = self.saving.take() else {
            return;
        };
        match result {
            Ok(Ok(id)) => {
                self.id = Some(id);
                self.saved_len = len;
            }
            Ok(Err(err)) => tracing::warn!("could not save a streaming reply's progress: {err}"),
            Err(err) => tracing::warn!("a streaming reply's save stopped: {err}"),
        }
    }
}
