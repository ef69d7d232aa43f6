//! The chat view's memory of each row's height, so a frame lays out only the visible rows.

use crate::conversation::ChatMessage;

/// A height measured (or, before a row was shown, estimated) at one width, for one version of
/// one row: a changed row (new revision), a different row at that index or another width
/// forgets it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct RowHeight {
    local_id: u64,
    revision: u64,
    width: f32,
    height: f32,
}

/// Heights by row index.
#[derive(Default)]
pub struct RowHeights {
    rows: Vec<Option<RowHeight>>,
}

impl RowHeights {
    /// Call once per frame with the number of rows.
    pub fn resize(&mut self, rows: usize) {
        self.rows.resize(rows, None);
    }

    /// The height remembered for `message` at `index` and this width, if any.
    pub fn measured(&self, index: usize, message: &ChatMessage, width: f32) -> Option<f32> {
        let known = (*self.rows.get(index)?)?;
        let same = known.local_id == message.local_id
            && known.revision == message.revision()
            && (known.width - width).abs() < 0.5;
        same.then_some(known.height)
    }

    pub fn record(&mut self, index: usize, message: &ChatMessage, width: f32, height: f32) {
        if let Some(slot) = self.rows.get_mut(index) {
            *slot = Some(RowHeight {
                local_id: message.local_id,
                revision: message.revision(),
                width,
                height,
            });
        }
    }

    /// The row's height at this width: measured when it was last shown, else a guess from
    /// the text length, computed once and kept so a frame stays O(rows) additions.
    pub fn height(
        &mut self,
        index: usize,
        message: &ChatMessage,
        width: f32,
        line_height: f32,
    ) -> f32 {
        if let Some(height) = self.measured(index, message, width) {
            return height;
        }
        let chars_per_line = (width / (line_height * 0.5)).max(10.0);
        let lines: f32 = message
            .content
            .lines()
            .map(|line| {
                (line.chars().count() as f32 / chars_per_line)
                    .ceil()
                    .max(1.0)
            })
            .sum();
        let height = (lines.max(1.0) + 2.5) * line_height;
        self.record(index, message, width, height);
        height
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::conversation::{Conversation, MessageKind};

    #[test]
    fn heights_are_remembered_per_width_and_row_version_and_estimated_otherwise() {
        let mut conversation = Conversation::default();
        conversation.push(MessageKind::Reply, "short".into());
        let mut heights = RowHeights::default();
        heights.resize(conversation.len());
        heights.record(0, &conversation.messages()[0], 400.0, 77.0);
        assert_eq!(
            heights.height(0, &conversation.messages()[0], 400.0, 16.0),
            77.0
        );
        let guess = heights.height(0, &conversation.messages()[0], 600.0, 16.0);
        assert!(guess > 16.0 && guess < 77.0);
        conversation
            .last_mut()
            .unwrap()
            .content
            .push_str(" and more");
        assert_eq!(
            heights.measured(0, &conversation.messages()[0], 600.0),
            None
        );
        // Another row at the same index (the conversation was cleared and refilled).
        conversation.clear();
        conversation.push(MessageKind::User, "other".into());
        assert_eq!(
            heights.measured(0, &conversation.messages()[0], 600.0),
            None
        );
    }
}
