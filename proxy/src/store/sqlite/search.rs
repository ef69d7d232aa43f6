//! Full-text search of one owner's conversations (FTS5): titles and message text, best first, with snippets.
//!
//! The caller's words are always literal: each is quoted (a `"` doubled), all must match, and
//! the last one is a prefix (from two characters on: a one-letter prefix would expand to most
//! of the vocabulary). The owner is a phrase of the same expression (`owner_id : "N"`), so the
//! index itself keeps to the caller's messages.
//!
//! Ranking: the index walks the owner's matches newest first and stops after
//! [`RANKED_CANDIDATES`]. A match set that fits is ranked by BM25 computed here over it (term
//! frequency from `highlight()`'s marks, length normalised by the set's average): FTS5's own
//! `bm25()` would first count every row of the whole table that holds each word (its IDF),
//! which for a common word is most of a million rows, about 30 ms. A larger set (a common word)
//! stays newest first: what a person looking for a common word most likely wants. Title hits
//! (ranked by FTS5's bm25: few rows) come before message hits.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::conversations::fallback_title;
use crate::{
    api::{Role, SearchHit},
    store::OwnerId,
};

/// Bracket matched words in `highlight()`'s output: private-use characters a message does not hold.
const MARK_START: char = '\u{E000}';
const MARK_END: char = '\u{E001}';

/// The most message matches ranked; see the module header.
const RANKED_CANDIDATES: usize = 1000;
/// BM25's usual constants: term-frequency saturation and length normalisation.
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;
/// Several matches of one conversation are worth seeing, not fifty.
const HITS_PER_CONVERSATION: usize = 3;
/// Words of a snippet, and how many of them come before the first match.
const SNIPPET_WORDS: usize = 12;
const SNIPPET_WORDS_BEFORE: usize = 4;
/// A snippet of long "words" (links, code) is cut at this many bytes.
const MAX_SNIPPET_BYTES: usize = 240;

/// The FTS5 expression for `query`'s words in `column`, scoped to `owner`; `None` when the
/// query holds no word (only punctuation, say), which matches nothing.
pub(super) fn match_expression(owner: OwnerId, column: &str, query: &str) -> Option<String> {
    let words: Vec<&str> = query
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .collect();
    let (last, before) = words.split_last()?;
    let mut expression = format!("owner_id : \"{}\"", owner.0);
    for word in before {
        expression.push_str(&format!(" AND {column} : {}", quote(word)));
    }
    let prefix = if last.chars().count() >= 2 { " *" } else { "" };
    expression.push_str(&format!(" AND {column} : {}{prefix}", quote(last)));
    Some(expression)
}

/// A literal FTS5 string: no operator, column or syntax of the caller's gets through.
fn quote(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

/// The owner's best matches for `query`, at most `limit`.
pub(super) fn search(
    db: &Connection,
    owner: OwnerId,
    query: &str,
    limit: usize,
) -> rusqlite::Result<Vec<SearchHit>> {
    let (Some(titles), Some(messages)) = (
        match_expression(owner, "title", query),
        match_expression(owner, "content", query),
    ) else {
        return Ok(Vec::new());
    };
    let mut hits = title_hits(db, &titles, limit)?;
    let left = limit.saturating_sub(hits.len());
    if left > 0 {
        hits.extend(message_hits(db, owner, &messages, left)?);
    }
    Ok(hits)
}

fn title_hits(db: &Connection, expression: &str, limit: usize) -> rusqlite::Result<Vec<SearchHit>> {
    let mut query = db.prepare_cached(
        "SELECT s.id, highlight(title_search, 1, ?2, ?3), s.last_active_ms
         FROM title_search JOIN sessions AS s ON s.rowid = title_search.rowid
         WHERE title_search MATCH ?1 AND s.deleted_at_ms IS NULL
         ORDER BY rank LIMIT ?4",
    )?;
    let rows = query.query_map(
        params![
            expression,
            MARK_START.to_string(),
            MARK_END.to_string(),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |row| {
            let highlighted: String = row.get(1)?;
            let (snippet, marks) = snippet(&highlighted);
            Ok(SearchHit {
                conversation_id: row.get(0)?,
                title: highlighted.replace([MARK_START, MARK_END], ""),
                message_id: None,
                role: None,
                snippet,
                marks,
                at_ms: row.get(2)?,
            })
        },
    )?;
    rows.collect()
}

/// The matching messages with their marked text, best first (see the module header).
fn ranked_messages(db: &Connection, expression: &str) -> rusqlite::Result<Vec<(i64, String)>> {
    let newest = db
        .prepare_cached(
            "SELECT rowid, highlight(message_search, 1, ?2, ?3) FROM message_search
             WHERE message_search MATCH ?1 ORDER BY rowid DESC LIMIT ?4",
        )?
        .query_map(
            params![
                expression,
                MARK_START.to_string(),
                MARK_END.to_string(),
                i64::try_from(RANKED_CANDIDATES + 1).unwrap_or(i64::MAX)
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .collect::<rusqlite::Result<Vec<(i64, String)>>>()?;
    if newest.len() > RANKED_CANDIDATES {
        return Ok(newest);
    }
    let lengths: Vec<usize> = newest
        .iter()
        .map(|(_, text)| {
            text.split(|ch: char| !ch.is_alphanumeric())
                .filter(|word| !word.is_empty())
                .count()
                .max(1)
        })
        .collect();
    let average = lengths.iter().sum::<usize>() as f64 / lengths.len().max(1) as f64;
    let mut scored: Vec<(f64, (i64, String))> = newest
        .into_iter()
        .zip(lengths)
        .map(|(candidate, length)| {
            let frequency = candidate.1.matches(MARK_START).count() as f64;
            let norm = 1.0 - BM25_B + BM25_B * length as f64 / average.max(1.0);
            let score = frequency * (BM25_K1 + 1.0) / (frequency + BM25_K1 * norm);
            (score, candidate)
        })
        .collect();
    // Stable: equal scores stay newest first.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(scored.into_iter().map(|(_, candidate)| candidate).collect())
}

fn message_hits(
    db: &Connection,
    owner: OwnerId,
    expression: &str,
    limit: usize,
) -> rusqlite::Result<Vec<SearchHit>> {
    let mut found = db.prepare_cached(
        "SELECT m.session_id, m.role, m.created_at_ms FROM messages AS m
         JOIN sessions AS s ON s.id = m.session_id
         WHERE m.id = ?1 AND s.owner_id = ?2 AND s.deleted_at_ms IS NULL",
    )?;
    let mut per_conversation: HashMap<String, usize> = HashMap::new();
    let mut titles: HashMap<String, String> = HashMap::new();
    let mut hits = Vec::new();
    for (id, highlighted) in ranked_messages(db, expression)? {
        if hits.len() == limit {
            break;
        }
        let Some((conversation_id, role, at_ms)) = found
            .query_row(params![id, owner.0], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .optional()?
        else {
            continue;
        };
        let seen = per_conversation.entry(conversation_id.clone()).or_default();
        if *seen == HITS_PER_CONVERSATION {
            continue;
        }
        *seen += 1;
        let (snippet, marks) = snippet(&highlighted);
        let title = match titles.get(&conversation_id) {
            Some(title) => title.clone(),
            None => {
                let title = conversation_title(db, &conversation_id)?;
                titles.insert(conversation_id.clone(), title.clone());
                title
            }
        };
        hits.push(SearchHit {
            conversation_id,
            title,
            message_id: Some(id),
            role: Some(if role == "user" {
                Role::User
            } else {
                Role::Assistant
            }),
            snippet,
            marks,
            at_ms,
        });
    }
    Ok(hits)
}

/// The title the list shows for the conversation.
fn conversation_title(db: &Connection, id: &str) -> rusqlite::Result<String> {
    let (title, first): (Option<String>, Option<String>) = db
        .prepare_cached(
            "SELECT s.title, (SELECT substr(content, 1, 1000) FROM messages
             WHERE session_id = s.id AND role = 'user' ORDER BY id LIMIT 1)
             FROM sessions AS s WHERE s.id = ?1",
        )?
        .query_row(params![id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(title.unwrap_or_else(|| first.as_deref().map(fallback_title).unwrap_or_default()))
}

/// One line of about [`SNIPPET_WORDS`] words around the first match of `highlighted` (text with
/// [`MARK_START`]/[`MARK_END`] around matched words), "…" where cut, and the matched words'
/// byte ranges in it.
pub(super) fn snippet(highlighted: &str) -> (String, Vec<[u32; 2]>) {
    // One line: runs of whitespace become one space; the marks move with the text.
    let mut line = String::with_capacity(highlighted.len());
    let mut marks: Vec<(usize, usize)> = Vec::new();
    let mut open = None;
    let mut space = false;
    for ch in highlighted.chars() {
        match ch {
            MARK_START => {
                if space && !line.is_empty() {
                    line.push(' ');
                }
                space = false;
                open = Some(line.len());
            }
            MARK_END => {
                if let Some(start) = open.take() {
                    marks.push((start, line.len()));
                }
            }
            ch if ch.is_whitespace() => space = true,
            ch => {
                if space && !line.is_empty() {
                    line.push(' ');
                }
                space = false;
                line.push(ch);
            }
        }
    }
    let words: Vec<(usize, usize)> = line
        .split(' ')
        .scan(0, |at, word| {
            let span = (*at, *at + word.len());
            *at += word.len() + 1;
            Some(span)
        })
        .filter(|(start, end)| start < end)
        .collect();
    let first_match = marks.first().map_or(0, |(start, _)| *start);
    let center = words
        .iter()
        .position(|(_, end)| *end > first_match)
        .unwrap_or(0);
    let to = (center.saturating_sub(SNIPPET_WORDS_BEFORE) + SNIPPET_WORDS).min(words.len());
    let from = to.saturating_sub(SNIPPET_WORDS);
    let (Some(&(start, _)), Some(&(_, mut end))) = (words.get(from), words.get(to.wrapping_sub(1)))
    else {
        return (String::new(), Vec::new());
    };
    let mut cut_end = to < words.len();
    if end - start > MAX_SNIPPET_BYTES {
        end = floor_char_boundary(&line, start + MAX_SNIPPET_BYTES);
        cut_end = true;
    }
    let mut snippet = String::new();
    if from > 0 {
        snippet.push('…');
    }
    let shift = snippet.len();
    snippet.push_str(line.get(start..end).unwrap_or_default());
    if cut_end {
        snippet.push('…');
    }
    let marks = marks
        .into_iter()
        .filter(|&(mark_start, mark_end)| mark_start >= start && mark_end <= end)
        .map(|(mark_start, mark_end)| {
            [
                u32::try_from(mark_start - start + shift).unwrap_or(u32::MAX),
                u32::try_from(mark_end - start + shift).unwrap_or(u32::MAX),
            ]
        })
        .collect();
    (snippet, marks)
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn marked(snippet: &str, marks: &[[u32; 2]]) -> Vec<String> {
        marks
            .iter()
            .map(|[start, end]| snippet[*start as usize..*end as usize].to_owned())
            .collect()
    }

    #[test]
    fn the_callers_words_are_literal_with_the_last_as_a_prefix() {
        let owner = OwnerId(7);
        assert_eq!(
            match_expression(owner, "content", r#"say "hi" NEAR(x) pa"#).unwrap(),
            r#"owner_id : "7" AND content : "say" AND content : """hi""" AND content : "NEAR(x)" AND content : "pa" *"#
        );
        assert_eq!(
            match_expression(owner, "content", "a").unwrap(),
            r#"owner_id : "7" AND content : "a""#
        );
        assert!(match_expression(owner, "content", " * - \" ").is_none());
    }

    #[test]
    fn a_snippet_is_one_line_around_the_first_match() {
        let text = "one two three four five six seven eight\n\nnine \u{E000}Café\u{E001} eleven twelve thirteen fourteen fifteen sixteen seventeen";
        let (snippet, marks) = snippet(text);
        assert_eq!(
            snippet,
            "…six seven eight nine Café eleven twelve thirteen fourteen fifteen sixteen seventeen"
        );
        assert_eq!(marked(&snippet, &marks), ["Café"]);
        let (short, marks) = self::snippet("\u{E000}Hello\u{E001}  \u{E000}world\u{E001}");
        assert_eq!(short, "Hello world");
        assert_eq!(marks, [[0, 5], [6, 11]]);
    }
}
