//! Tests for the markdown parser (src/markdown/parse.rs).
#![allow(clippy::indexing_slicing)]
use super::*;

#[test]
fn headings_lists_code_tables_and_links_become_blocks() {
    let doc = parse(
        "# Title\n\n- one **bold**\n- two\n\n```rust\nfn main() {}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nSee [docs](https://example.com) and `x`.",
    );
    assert_eq!(doc.blocks.len(), 5, "{doc:#?}");
    assert!(matches!(&doc.blocks[0], Block::Heading { level: 1, text } if text.text == "Title"));
    let Block::List { start: None, items } = &doc.blocks[1] else {
        panic!("{:?}", doc.blocks[1]);
    };
    assert_eq!(items.len(), 2);
    let Block::Paragraph(first) = &items[0][0] else {
        panic!("{:?}", items[0]);
    };
    assert_eq!(first.text, "one bold");
    assert!(first.spans.iter().any(|s| s.style.strong));
    assert_eq!(
        doc.blocks[2],
        Block::Code {
            lang: Some("rust".into()),
            code: "fn main() {}\n".into()
        }
    );
    let Block::Table { header, rows, .. } = &doc.blocks[3] else {
        panic!("{:?}", doc.blocks[3]);
    };
    assert_eq!(header.len(), 2);
    assert_eq!(rows[0][1].text, "2");
    let Block::Paragraph(last) = &doc.blocks[4] else {
        panic!();
    };
    assert_eq!(last.links[0].url, "https://example.com");
    assert_eq!(last.links[0].chars, 4..8);
    assert!(last.spans.iter().any(|s| s.style.code));
}

#[test]
fn an_unfinished_stream_still_gives_its_code_and_list() {
    let doc = parse("1. first\n2. sec");
    assert!(matches!(&doc.blocks[0], Block::List { start: Some(1), items } if items.len() == 2));
    let doc = parse("Code:\n\n```py\nprint(1)");
    assert!(
        matches!(&doc.blocks[1], Block::Code { code, .. } if code.trim_end() == "print(1)"),
        "{doc:?}"
    );
}
