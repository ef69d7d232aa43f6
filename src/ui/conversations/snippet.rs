//! A search hit's snippet as a [`LayoutJob`]: the marked byte ranges stand out.

use egui::text::{LayoutJob, TextFormat};
use egui::{Color32, FontId};

/// How the snippet's plain and marked parts look.
pub struct SnippetStyle {
    pub font: FontId,
    pub text: Color32,
    pub marked_text: Color32,
    pub marked_background: Color32,
}

/// `snippet` with `marks` (`[start, end)` byte ranges, ascending) highlighted. Marks that are
/// out of range, overlap an earlier one or do not fall on char boundaries are ignored, so a
/// proxy's off-by-one never breaks the row.
pub fn snippet_job(snippet: &str, marks: &[[u32; 2]], style: &SnippetStyle) -> LayoutJob {
    let plain = TextFormat::simple(style.font.clone(), style.text);
    let marked = TextFormat {
        background: style.marked_background,
        ..TextFormat::simple(style.font.clone(), style.marked_text)
    };
    let mut job = LayoutJob::default();
    let mut at = 0;
    for [start, end] in marks {
        let (start, end) = (*start as usize, *end as usize);
        let (Some(before), Some(word)) = (snippet.get(at..start), snippet.get(start..end)) else {
            continue;
        };
        if start < at || word.is_empty() {
            continue;
        }
        job.append(before, 0.0, plain.clone());
        job.append(word, 0.0, marked.clone());
        at = end;
    }
    job.append(snippet.get(at..).unwrap_or_default(), 0.0, plain);
    job.wrap.max_rows = 2;
    job
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    fn style() -> SnippetStyle {
        SnippetStyle {
            font: FontId::proportional(13.0),
            text: Color32::GRAY,
            marked_text: Color32::WHITE,
            marked_background: Color32::YELLOW,
        }
    }

    fn parts(job: &LayoutJob) -> Vec<(&str, bool)> {
        job.sections
            .iter()
            .filter(|s| !s.byte_range.is_empty())
            .map(|s| {
                (
                    &job.text[s.byte_range.start.0..s.byte_range.end.0],
                    s.format.background == Color32::YELLOW,
                )
            })
            .collect()
    }

    #[test]
    fn marked_ranges_get_the_highlight_and_the_rest_stays_plain() {
        let job = snippet_job("…use Rust for the café", &[[7, 11], [20, 25]], &style());
        assert_eq!(
            parts(&job),
            [
                ("…use ", false),
                ("Rust", true),
                (" for the ", false),
                ("café", true)
            ]
        );
    }

    #[test]
    fn bad_marks_are_ignored_rather_than_panicking() {
        // Inside "é", overlapping, out of range: skipped.
        let marks = [[0, 1], [2, 3], [0, 3], [1, 3], [9, 12]];
        let job = snippet_job("né hello", &marks, &style());
        assert_eq!(parts(&job), [("n", true), ("é", true), (" hello", false)]);
    }
}
