//! A checking parser for the Prometheus text format, for the tests that read `/metrics`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};

/// A label-less histogram's `le` values in increasing order.
pub fn bucket_bounds(samples: &BTreeMap<String, f64>, histogram: &str) -> Vec<String> {
    let prefix = format!("{histogram}_bucket{{le=\"");
    let mut bounds: Vec<String> = samples
        .keys()
        .filter_map(|series| series.strip_prefix(&prefix)?.strip_suffix("\"}"))
        .map(str::to_owned)
        .collect();
    bounds.sort_by(|a, b| le_value(a).total_cmp(&le_value(b)));
    bounds
}

/// Where a label value (after its opening quote) ends, skipping escaped quotes.
fn closing_quote(value: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, c) in value.char_indices() {
        match c {
            '"' if !escaped => return Some(index),
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
    }
    None
}

fn le_value(le: &str) -> f64 {
    if le == "+Inf" {
        f64::INFINITY
    } else {
        le.parse().unwrap()
    }
}

/// Checks the Prometheus text format (0.0.4) and returns each series, written as its sample line
/// before the value, with its value. Checked: names and labels are well formed, every family has
/// one TYPE line before its samples and its samples are together, values are numbers, and each
/// histogram's buckets are cumulative and end in `+Inf` equal to `_count`.
pub fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let is_name = |name: &str| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut types = BTreeMap::new();
    let mut finished = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut samples = BTreeMap::new();
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (kind, name, rest) = (words.next(), words.next(), words.next());
            if matches!(kind, Some("HELP" | "TYPE")) {
                assert!(name.is_some_and(is_name), "bad {kind:?} line: {line}");
            }
            if kind == Some("TYPE") {
                let kind = rest.unwrap();
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{line}"
                );
                assert!(
                    types
                        .insert(name.unwrap().to_owned(), kind.to_owned())
                        .is_none(),
                    "two TYPE lines: {line}"
                );
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (
                name,
                labels.strip_suffix('}').unwrap_or_else(|| panic!("{line}")),
            ),
            None => (series, ""),
        };
        assert!(is_name(name), "bad name: {line}");
        let mut pairs = Vec::new();
        let mut rest = labels;
        while !rest.is_empty() {
            let (key, tail) = rest
                .split_once("=\"")
                .unwrap_or_else(|| panic!("bad label: {line}"));
            assert!(is_name(key), "bad label name: {line}");
            let end = closing_quote(tail).unwrap_or_else(|| panic!("unclosed label: {line}"));
            pairs.push((key, &tail[..end]));
            rest = &tail[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
        let histogram = |base: &&str| types.get(*base).is_some_and(|kind| kind == "histogram");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(histogram))
            .unwrap_or(name);
        assert!(types.contains_key(family), "no TYPE before {line}");
        if current.as_deref() != Some(family) {
            if let Some(previous) = current.replace(family.to_owned()) {
                finished.insert(previous);
            }
            assert!(
                !finished.contains(family),
                "{family}'s samples are not together"
            );
        }
        if family != name && name.ends_with("_bucket") {
            let le = pairs.iter().find(|(key, _)| *key == "le");
            let le = le.unwrap_or_else(|| panic!("bucket without le: {line}")).1;
            let others: Vec<String> = pairs
                .iter()
                .filter(|(key, _)| *key != "le")
                .map(|(key, value)| format!("{key}=\"{value}\""))
                .collect();
            let braces = if others.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", others.join(","))
            };
            buckets
                .entry(format!("{family}_count{braces}"))
                .or_default()
                .push((le_value(le), value));
        }
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "two samples for {series}"
        );
    }
    for (count, mut bounds) in buckets {
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            bounds.windows(2).all(|pair| pair[0].1 <= pair[1].1),
            "{count}: buckets not cumulative"
        );
        let (last, total) = *bounds.last().unwrap();
        assert_eq!(last, f64::INFINITY, "{count}: no +Inf bucket");
        assert_eq!(samples.get(&count), Some(&total), "+Inf is not {count}");
    }
    samples
}
