//! The conversation list as plain data: the caller's conversations, grouped by local day for the
//! panel. Grouping is computed when the list (or the day) changes, never per frame.

use ashley_proxy::api::{ConversationList as WireList, ConversationSummary};

use crate::clock::Clock;

/// The headings of the list, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Pinned,
    Today,
    Yesterday,
    Previous7Days,
    Older,
}

impl Group {
    pub fn heading(self) -> &'static str {
        match self {
            Self::Pinned => "Pinned",
            Self::Today => "Today",
            Self::Yesterday => "Yesterday",
            Self::Previous7Days => "Previous 7 days",
            Self::Older => "Older",
        }
    }

    /// The short name the test handle reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pinned => "pinned",
            Self::Today => "today",
            Self::Yesterday => "yesterday",
            Self::Previous7Days => "previous_7_days",
            Self::Older => "older",
        }
    }
}

/// Where `summary` goes when today is local day `today`.
pub fn group_of(summary: &ConversationSummary, today: i64, clock: &Clock) -> Group {
    if summary.pinned {
        return Group::Pinned;
    }
    match today - clock.local_day(summary.updated_at_ms) {
        ..=0 => Group::Today,
        1 => Group::Yesterday,
        2..=7 => Group::Previous7Days,
        _ => Group::Older,
    }
}

/// One line of the panel: all lines are the same height, so the view can virtualise them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListRow {
    Heading(Group),
    /// The index into [`ConversationList::conversations`].
    Conversation(usize),
}

/// The caller's conversations, pinned first, then the most recently active.
#[derive(Default)]
pub struct ConversationList {
    conversations: Vec<ConversationSummary>,
    groups: Vec<Group>,
    rows: Vec<ListRow>,
    grouped_on: i64,
    loaded: bool,
    /// Why the list could not be fetched.
    pub error: Option<String>,
    /// Bumped on every change (the test handle republishes only then).
    revision: u64,
}

impl ConversationList {
    /// The proxy's answer replaces what was known.
    pub fn replace(&mut self, list: WireList, clock: &Clock) {
        self.conversations = list.conversations;
        self.loaded = true;
        self.error = None;
        self.sort_and_group(clock);
    }

    /// A new or changed conversation.
    pub fn upsert(&mut self, summary: ConversationSummary, clock: &Clock) {
        match self.conversations.iter_mut().find(|c| c.id == summary.id) {
            Some(known) => *known = summary,
            None => self.conversations.push(summary),
        }
        self.sort_and_group(clock);
    }

    /// Takes a conversation out of the list (deleted), returning it.
    pub fn remove(&mut self, id: &str, clock: &Clock) -> Option<ConversationSummary> {
        let index = self.conversations.iter().position(|c| c.id == id)?;
        let removed = self.conversations.remove(index);
        self.sort_and_group(clock);
        Some(removed)
    }

    /// Forgets everything (signed out: none of it is ours any more).
    pub fn clear(&mut self) {
        *self = Self {
            revision: self.revision + 1,
            ..Self::default()
        };
    }

    /// Regroups when midnight has passed since the last grouping ("Today" became "Yesterday").
    pub fn regroup_if_day_changed(&mut self, clock: &Clock) {
        if clock.today() != self.grouped_on {
            self.sort_and_group(clock);
        }
    }

    fn sort_and_group(&mut self, clock: &Clock) {
        // Stable: the proxy's order breaks ties.
        self.conversations
            .sort_by_key(|c| (!c.pinned, std::cmp::Reverse(c.updated_at_ms)));
        let today = clock.today();
        self.grouped_on = today;
        self.groups.clear();
        self.rows.clear();
        let mut current = None;
        for (index, summary) in self.conversations.iter().enumerate() {
            let group = group_of(summary, today, clock);
            if current != Some(group) {
                self.rows.push(ListRow::Heading(group));
                current = Some(group);
            }
            self.groups.push(group);
            self.rows.push(ListRow::Conversation(index));
        }
        self.revision += 1;
    }

    pub fn rows(&self) -> &[ListRow] {
        &self.rows
    }

    pub fn conversations(&self) -> &[ConversationSummary] {
        &self.conversations
    }

    pub fn get(&self, id: &str) -> Option<&ConversationSummary> {
        self.conversations.iter().find(|c| c.id == id)
    }

    /// The conversation at `index` and its group.
    pub fn entry(&self, index: usize) -> Option<(&ConversationSummary, Group)> {
        Some((self.conversations.get(index)?, *self.groups.get(index)?))
    }

    /// The row of conversation `id`, for scrolling to it.
    pub fn row_of(&self, id: &str) -> Option<usize> {
        let index = self.conversations.iter().position(|c| c.id == id)?;
        self.rows
            .iter()
            .position(|row| *row == ListRow::Conversation(index))
    }

    /// What to open when `id` goes away: the one below it in the list, else the one above.
    pub fn neighbour_of(&self, id: &str) -> Option<&str> {
        let index = self.conversations.iter().position(|c| c.id == id)?;
        self.conversations
            .get(index + 1)
            .or_else(|| index.checked_sub(1).and_then(|i| self.conversations.get(i)))
            .map(|c| c.id.as_str())
    }

    /// The most recently active conversation (pinned or not): where a first start resumes.
    pub fn most_recent(&self) -> Option<&str> {
        self.conversations
            .iter()
            .max_by_key(|c| c.updated_at_ms)
            .map(|c| c.id.as_str())
    }

    /// Whether a conversation other than `except` has a reply being written (the list then
    /// refreshes until it ends).
    pub fn writing_elsewhere(&self, except: Option<&str>) -> bool {
        self.conversations
            .iter()
            .any(|summary| summary.writing && Some(summary.id.as_str()) != except)
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::clock::DAY_MS;

    fn summary(id: &str, pinned: bool, updated_at_ms: i64) -> ConversationSummary {
        ConversationSummary {
            id: id.into(),
            title: id.into(),
            pinned,
            created_at_ms: 0,
            updated_at_ms,
            messages: 2,
            writing: false,
        }
    }

    const HOUR: i64 = 3_600_000;

    /// 10:00 local time on day 100, in a zone five hours behind UTC.
    fn clock() -> Clock {
        Clock::Fixed {
            now_ms: 100 * DAY_MS + 15 * HOUR,
            utc_offset_ms: -5 * HOUR,
        }
    }

    #[test]
    fn conversations_group_by_local_day_with_pinned_first() {
        let clock = clock();
        let local_midnight = 100 * DAY_MS + 5 * HOUR;
        let mut list = ConversationList::default();
        list.replace(
            WireList {
                conversations: vec![
                    summary("older", false, local_midnight - 9 * DAY_MS),
                    summary("just-after-midnight", false, local_midnight + 1),
                    summary("week", false, local_midnight - 3 * DAY_MS),
                    summary("pinned-old", true, 0),
                    summary("just-before-midnight", false, local_midnight - 1),
                    summary("seventh", false, local_midnight - 6 * DAY_MS - 1),
                ],
            },
            &clock,
        );
        let shown: Vec<String> = list
            .rows()
            .iter()
            .map(|row| match row {
                ListRow::Heading(group) => format!("# {}", group.heading()),
                ListRow::Conversation(index) => list.conversations()[*index].id.clone(),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "# Pinned",
                "pinned-old",
                "# Today",
                "just-after-midnight",
                "# Yesterday",
                "just-before-midnight",
                "# Previous 7 days",
                "week",
                "seventh",
                "# Older",
                "older",
            ]
        );
    }

    #[test]
    fn pinning_moves_a_conversation_to_pinned_and_deleting_picks_the_neighbour() {
        let clock = clock();
        let now = clock.now_ms();
        let mut list = ConversationList::default();
        let conversations = vec![summary("a", false, now), summary("b", false, now - 1)];
        list.replace(WireList { conversations }, &clock);
        let mut b = list.get("b").unwrap().clone();
        b.pinned = true;
        list.upsert(b, &clock);
        assert_eq!(list.rows()[0], ListRow::Heading(Group::Pinned));
        assert_eq!(list.entry(0).unwrap().0.id, "b");
        assert_eq!(list.neighbour_of("b"), Some("a"));
        assert_eq!(list.neighbour_of("a"), Some("b"));
        list.remove("b", &clock);
        assert_eq!(list.neighbour_of("a"), None);
        assert_eq!(list.rows().len(), 2, "a heading and a row");
    }

    #[test]
    fn midnight_regroups_today_into_yesterday() {
        let mut clock = clock();
        let mut list = ConversationList::default();
        let conversations = vec![summary("a", false, clock.now_ms())];
        list.replace(WireList { conversations }, &clock);
        assert_eq!(list.entry(0).unwrap().1, Group::Today);
        let revision = list.revision();
        list.regroup_if_day_changed(&clock);
        assert_eq!(list.revision(), revision, "same day: nothing recomputed");
        if let Clock::Fixed { now_ms, .. } = &mut clock {
            *now_ms += DAY_MS;
        }
        list.regroup_if_day_changed(&clock);
        assert_eq!(list.entry(0).unwrap().1, Group::Yesterday);
    }
}
