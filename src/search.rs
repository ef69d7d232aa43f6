//! Searching the conversations as plain state: the box's text, the debounce, the last answer.

use ashley_proxy::api::{MAX_QUERY_CHARS, SearchResults};

/// How long typing must pause before the query is sent (seconds).
pub const DEBOUNCE_SECS: f64 = 0.25;

/// What the panel shows instead of the list while a query is typed.
#[derive(Clone, Debug, PartialEq)]
pub enum SearchOutcome {
    Hits(SearchResults),
    /// The error as a sentence; the query stays in the box.
    Failed(String),
}

#[derive(Default)]
pub struct Search {
    /// What is in the search box.
    pub text: String,
    edited_at: Option<f64>,
    /// The query last sent (trimmed).
    sent: Option<String>,
    outcome: Option<SearchOutcome>,
    revision: u64,
}

impl Search {
    /// A search box already holding `text` (not yet sent).
    pub fn with_text(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            ..Self::default()
        }
    }

    /// The query as it would be sent: trimmed, at most [`MAX_QUERY_CHARS`]; `None` when blank.
    pub fn query(&self) -> Option<&str> {
        let trimmed = self.text.trim();
        if trimmed.is_empty() {
            return None;
        }
        let end = trimmed
            .char_indices()
            .nth(MAX_QUERY_CHARS)
            .map_or(trimmed.len(), |(at, _)| at);
        trimmed.get(..end)
    }

    /// The panel shows hits (or their absence) rather than the list.
    pub fn is_active(&self) -> bool {
        self.query().is_some()
    }

    /// The box changed at `now` (seconds).
    pub fn edited(&mut self, now: f64) {
        self.edited_at = Some(now);
        if self.query().is_none() {
            self.clear();
        }
        self.revision += 1;
    }

    /// Esc, or the box emptied: back to the list.
    pub fn clear(&mut self) {
        self.text.clear();
        self.edited_at = None;
        self.sent = None;
        self.outcome = None;
        self.revision += 1;
    }

    /// The query to send now, once typing has paused and it differs from the last one sent.
    pub fn due(&mut self, now: f64) -> Option<String> {
        let edited_at = self.edited_at?;
        if now - edited_at < DEBOUNCE_SECS {
            return None;
        }
        self.edited_at = None;
        let query = self.query()?.to_owned();
        if self.sent.as_deref() == Some(query.as_str()) {
            return None;
        }
        self.sent = Some(query.clone());
        Some(query)
    }

    /// How long until [`Self::due`] may fire (for a repaint), while a send is waiting.
    pub fn wait_secs(&self, now: f64) -> Option<f64> {
        self.edited_at
            .map(|edited_at| (edited_at + DEBOUNCE_SECS - now).max(0.0))
    }

    /// The proxy's answer to `query`; answers to older queries are dropped.
    pub fn on_results(&mut self, query: &str, outcome: SearchOutcome) {
        if self.sent.as_deref() != Some(query) {
            return;
        }
        self.outcome = Some(outcome);
        self.revision += 1;
    }

    /// The answer to the query shown, `None` while it is on its way.
    pub fn outcome(&self) -> Option<&SearchOutcome> {
        if self.sent.as_deref() == self.query() {
            self.outcome.as_ref()
        } else {
            None
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_debounced_trimmed_and_sent_once() {
        let mut search = Search {
            text: "  rust ".into(),
            ..Search::default()
        };
        search.edited(1.0);
        assert_eq!(search.due(1.1), None, "still typing");
        assert_eq!(search.due(1.3).as_deref(), Some("rust"));
        search.text = "rust".into();
        search.edited(1.4);
        assert_eq!(search.due(2.0), None, "the same query is not sent again");
        search.text = "rust async".into();
        search.edited(2.0);
        assert_eq!(search.due(2.3).as_deref(), Some("rust async"));
        search.on_results("rust", SearchOutcome::Failed("late".into()));
        assert_eq!(search.outcome(), None, "an older query's answer is dropped");
    }

    #[test]
    fn a_blank_box_is_no_search() {
        let mut search = Search {
            text: "   ".into(),
            ..Search::default()
        };
        search.edited(0.0);
        assert!(!search.is_active());
        assert_eq!(search.due(1.0), None);
    }
}
