//! Search benchmark: `GET /api/search`'s store query over 100,000 conversations and 1,000,000
//! messages, p50 and p95 latency for rare, common, two-word and prefix queries (target p95 <= 30 ms).
//!
//! Run with `cargo bench -p ashley-proxy --bench search`. The database is generated once,
//! deterministically, into `target/tmp/search-bench/` and reused on later runs (delete that
//! folder to build it again; building takes a few minutes). Four in five conversations have a
//! title. Owners: one heavy user with
//! 10,000 conversations (100,000 messages) and 999 others sharing the rest. Text: words drawn
//! with a Zipf distribution from a vocabulary of common English words and synthetic rarer ones,
//! a few words with accents. Searches go through the store API (`Store::search`), as the
//! route calls it. Knob: `SEARCH_ITERATIONS` (samples per query, default 20).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

#[path = "../tests/common/random.rs"]
mod random;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use ashley_proxy::store::{OwnerId, SqliteStore, Store as _, StoreOptions};
use random::SplitMix64;

const CONVERSATIONS: u64 = 100_000;
const MESSAGES_PER_CONVERSATION: u64 = 10;
const OWNERS: u64 = 1_000;
const HEAVY_CONVERSATIONS: u64 = 10_000;
/// Bump when the generated data changes, so an old file is not reused.
const DATA_VERSION: &str = "v1";

const COMMON: &[&str] = &[
    "the",
    "be",
    "to",
    "of",
    "and",
    "a",
    "in",
    "that",
    "have",
    "it",
    "for",
    "not",
    "on",
    "with",
    "he",
    "as",
    "you",
    "do",
    "at",
    "this",
    "but",
    "his",
    "by",
    "from",
    "they",
    "we",
    "say",
    "her",
    "she",
    "or",
    "an",
    "will",
    "my",
    "one",
    "all",
    "would",
    "there",
    "their",
    "what",
    "so",
    "up",
    "out",
    "if",
    "about",
    "who",
    "get",
    "which",
    "go",
    "me",
    "when",
    "make",
    "can",
    "like",
    "time",
    "no",
    "just",
    "him",
    "know",
    "take",
    "people",
    "into",
    "year",
    "your",
    "good",
    "some",
    "could",
    "them",
    "see",
    "other",
    "than",
    "then",
    "now",
    "look",
    "only",
    "come",
    "its",
    "over",
    "think",
    "also",
    "back",
    "after",
    "use",
    "two",
    "how",
    "our",
    "work",
    "first",
    "well",
    "way",
    "even",
    "new",
    "want",
    "because",
    "any",
    "these",
    "give",
    "day",
    "most",
    "us",
    "recipe",
    "travel",
    "plan",
    "code",
    "error",
    "python",
    "rust",
    "garden",
    "music",
    "story",
    "email",
    "budget",
    "meeting",
    "weather",
    "health",
    "coffee",
    "book",
    "movie",
    "trip",
    "house",
    "car",
    "café",
    "naïve",
    "résumé",
    "crème",
    "brûlée",
    "über",
    "façade",
    "jalapeño",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ren", "tu", "sa", "vex", "dor", "pli", "qua", "zen", "bra", "fo", "gul",
    "hin", "jes", "mor", "nab", "ost", "pek", "rix", "sul", "tam", "vor", "wib", "yen", "zor",
];
const SYNTHETIC: usize = 30_000;

struct Vocabulary {
    words: Vec<String>,
    /// Cumulative Zipf weights (rank r weighs 1/r).
    cumulative: Vec<f64>,
}

impl Vocabulary {
    fn new() -> Self {
        let mut words: Vec<String> = COMMON.iter().map(|word| (*word).to_owned()).collect();
        for n in 0..SYNTHETIC {
            let mut word = String::new();
            let mut rest = n + 7;
            for _ in 0..3 {
                word.push_str(SYLLABLES[rest % SYLLABLES.len()]);
                rest /= SYLLABLES.len();
            }
            word.push_str(&format!("{}", n % 10));
            words.push(word);
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Self { words, cumulative }
    }

    fn word(&self, random: &mut SplitMix64) -> &str {
        let target = random.unit() * self.cumulative.last().unwrap();
        let index = self.cumulative.partition_point(|&weight| weight < target);
        &self.words[index.min(self.words.len() - 1)]
    }

    fn sentence(&self, random: &mut SplitMix64, min: u64, max: u64) -> String {
        let count = min + random.below((max - min + 1) as usize) as u64;
        let mut text = String::new();
        for n in 0..count {
            if n > 0 {
                text.push(if random.below(12) == 0 { '\n' } else { ' ' });
            }
            let word = self.word(random);
            if n == 0 || random.below(15) == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    text.extend(first.to_uppercase());
                    text.push_str(chars.as_str());
                }
            } else {
                text.push_str(word);
            }
            if random.below(10) == 0 {
                text.push(if random.below(3) == 0 { '?' } else { '.' });
            }
        }
        text
    }
}

fn owner_of(conversation: u64) -> u64 {
    if conversation < HEAVY_CONVERSATIONS {
        1
    } else {
        2 + (conversation - HEAVY_CONVERSATIONS) % (OWNERS - 1)
    }
}

/// Builds the database unless a finished one is there.
fn database() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("search-bench");
    let done = dir.join(format!("complete-{DATA_VERSION}"));
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "building the search database in {} (once) ...",
        dir.display()
    );
    let started = Instant::now();
    // The store makes the schema; rows go in through one connection, in big transactions.
    drop(SqliteStore::open(&dir, StoreOptions::default()).unwrap());
    let db = rusqlite::Connection::open(dir.join("ashley.sqlite3")).unwrap();
    db.pragma_update(None, "synchronous", "OFF").unwrap();
    db.pragma_update(None, "cache_size", -200_000).unwrap();
    let vocabulary = Vocabulary::new();
    let mut random = SplitMix64(13);
    let day_ms: i64 = 86_400_000;
    let start_ms: i64 = 1_700_000_000_000;
    db.execute_batch("BEGIN").unwrap();
    for owner in 1..=OWNERS as i64 {
        db.execute(
            "INSERT INTO owners (id, kind, issuer, subject, created_at_ms, last_seen_ms)
             VALUES (?1, 'user', 'bench', ?1, ?2, ?2)",
            rusqlite::params![owner, start_ms],
        )
        .unwrap();
    }
    {
        let mut session = db
            .prepare(
                "INSERT INTO sessions (id, owner_id, created_at_ms, last_active_ms, title)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .unwrap();
        let mut message = db
            .prepare(
                "INSERT INTO messages (session_id, role, content, persona, created_at_ms, partial,
                 owner_id) VALUES (?1, ?2, ?3, 'ashley', ?4, 0, ?5)",
            )
            .unwrap();
        for conversation in 0..CONVERSATIONS {
            let id = format!("{conversation:040x}");
            let owner = owner_of(conversation) as i64;
            let at = start_ms + (conversation as i64) * (day_ms * 365 / CONVERSATIONS as i64);
            let last = at + MESSAGES_PER_CONVERSATION as i64 * 60_000;
            // Four in five are named (by the model, as after a first exchange).
            let title = (conversation % 5 != 0).then(|| vocabulary.sentence(&mut random, 2, 6));
            session
                .execute(rusqlite::params![id, owner, at, last, title])
                .unwrap();
            for n in 0..MESSAGES_PER_CONVERSATION {
                let (role, text) = if n % 2 == 0 {
                    ("user", vocabulary.sentence(&mut random, 4, 20))
                } else {
                    ("assistant", vocabulary.sentence(&mut random, 10, 40))
                };
                message
                    .execute(rusqlite::params![
                        id,
                        role,
                        text,
                        at + n as i64 * 60_000,
                        owner
                    ])
                    .unwrap();
            }
            if conversation % 10_000 == 9_999 {
                db.execute_batch("COMMIT; BEGIN").unwrap();
                println!("  {} conversations", conversation + 1);
            }
        }
    }
    db.execute_batch("COMMIT").unwrap();
    db.execute_batch(
        "INSERT INTO message_search(message_search) VALUES ('optimize');
         INSERT INTO title_search(title_search) VALUES ('optimize');",
    )
    .unwrap();
    db.pragma_update(None, "wal_checkpoint", "TRUNCATE").ok();
    drop(db);
    std::fs::write(&done, "").unwrap();
    println!("built in {:.0} s", started.elapsed().as_secs_f64());
    dir
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let iterations = std::env::var("SEARCH_ITERATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_usize);
    let dir = database();
    let store = SqliteStore::open(&dir, StoreOptions::default()).unwrap();
    let vocabulary = Vocabulary::new();
    let rare = |rank: usize| vocabulary.words[COMMON.len() + rank].clone();
    let kinds: Vec<(&str, Vec<String>)> = vec![
        (
            "rare word",
            vec![rare(20_000), rare(25_000), rare(29_000), rare(15_000)],
        ),
        (
            "common word",
            vec!["the".into(), "and".into(), "people".into(), "time".into()],
        ),
        (
            "two words",
            vec![
                "the people".into(),
                "good recipe".into(),
                format!("and {}", rare(10_000)),
                "coffee trip".into(),
            ],
        ),
        (
            "prefix",
            vec![
                "pe".into(),
                "the peo".into(),
                "kalo".into(),
                "creme bru".into(),
            ],
        ),
        (
            "accents",
            vec!["cafe".into(), "naive".into(), "Über".into()],
        ),
    ];
    let owners = [
        ("heavy user (100k messages)", OwnerId(1)),
        ("typical user", OwnerId(500)),
    ];
    // Warm the page cache once.
    for (_, queries) in &kinds {
        for query in queries {
            store.search(OwnerId(1), query, 50).await.unwrap();
        }
    }
    println!();
    println!(
        "search through Store::search, {} conversations, {} messages, {iterations} samples per query:",
        CONVERSATIONS,
        CONVERSATIONS * MESSAGES_PER_CONVERSATION
    );
    println!("| owner                      | queries     | hits (first) | p50 ms | p95 ms |");
    println!("|----------------------------|-------------|--------------|--------|--------|");
    let mut all = Vec::new();
    for (owner_name, owner) in owners {
        for (kind, queries) in &kinds {
            let mut samples = Vec::new();
            let mut first_hits = 0;
            for query in queries {
                for n in 0..iterations {
                    let started = Instant::now();
                    let hits = store.search(owner, query, 50).await.unwrap();
                    samples.push(started.elapsed());
                    if n == 0 && query == &queries[0] {
                        first_hits = hits.len();
                    }
                }
            }
            samples.sort();
            println!(
                "| {owner_name:<26} | {kind:<11} | {first_hits:>12} | {:>6.2} | {:>6.2} |",
                percentile(&samples, 0.5),
                percentile(&samples, 0.95)
            );
            all.extend(samples);
        }
    }
    all.sort();
    let p95 = percentile(&all, 0.95);
    println!();
    println!(
        "all queries: p50 {:.2} ms, p95 {p95:.2} ms (target p95 <= 30 ms)",
        percentile(&all, 0.5)
    );
}
