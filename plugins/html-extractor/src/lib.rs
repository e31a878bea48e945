//! `html-extractor`: an HTML page parsed as a browser would (html5ever,
//! through scraper) and read in document order: `h1`-`h6` as headings,
//! `li` as list items, each `tr` as one row with its cells separated by
//! tabs, every other block element (`p`, `div`, `section`, `blockquote`,
//! `pre`...) as a paragraph. Scripts, styles and templates are skipped;
//! whitespace collapses as it renders, except inside `pre`. The `title`
//! element and `<meta name="author">` give the metadata.
//!
//! The tree is walked without recursion, so nesting depth costs nothing
//! but memory.

wit_bindgen::generate!({ path: "../../wit", world: "extractor" });

use ego_tree::iter::Edge;
use exports::sluice::policy::extraction::Guest;
use scraper::{Html, Node};
use sluice::policy::types::{Block, BlockKind, DocumentMetadata, ExtractError, Extracted};

struct Page;

/// Elements that start and end a block of text.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
];
/// Elements whose content is never text for a reader.
const SKIPPED: &[&str] = &[
    "head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
];

#[derive(Default)]
struct Reader {
    blocks: Vec<Block>,
    text: String,
    /// Open headings, list items and rows, innermost last: what the text being built is.
    kinds: Vec<(BlockKind, u8)>,
    preformatted: usize,
    skipped: usize,
}

impl Reader {
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.text);
        let text = text.trim_matches(|c: char| c == ' ' || c == '\n');
        if text.trim().is_empty() {
            return;
        }
        let (kind, level) = self
            .kinds
            .last()
            .copied()
            .unwrap_or((BlockKind::Paragraph, 0));
        self.blocks.push(Block {
            kind,
            level,
            page: 0,
            text: text.to_string(),
        });
    }

    fn push_text(&mut self, text: &str) {
        if self.preformatted > 0 {
            self.text.push_str(text);
            return;
        }
        for (i, word) in text.split_whitespace().enumerate() {
            let starts_with_space = i > 0 || text.starts_with(char::is_whitespace);
            if starts_with_space && !self.text.is_empty() && !self.text.ends_with([' ', '\t', '\n'])
            {
                self.text.push(' ');
            }
            self.text.push_str(word);
        }
        if text.ends_with(char::is_whitespace) && !text.trim().is_empty() {
            self.text.push(' ');
        }
    }

    fn open(&mut self, name: &str) {
        match name {
            "br" => self.text.push('\n'),
            "td" | "th" => {
                let trimmed = self.text.trim_end_matches(' ').len();
                self.text.truncate(trimmed);
                if !self.text.is_empty() {
                    self.text.push('\t');
                }
            }
            _ if BLOCKS.contains(&name) => {
                // A row collects its cells: nothing inside it flushes it.
                if self
                    .kinds
                    .last()
                    .is_some_and(|(k, _)| *k == BlockKind::TableRow)
                {
                    return;
                }
                self.flush();
                match name {
                    "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                        let level = name[1..].parse().unwrap_or(1);
                        self.kinds.push((BlockKind::Heading, level));
                    }
                    "li" => self.kinds.push((BlockKind::ListItem, 0)),
                    "tr" => self.kinds.push((BlockKind::TableRow, 0)),
                    "pre" => self.preformatted += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn close(&mut self, name: &str) {
        if !BLOCKS.contains(&name) {
            return;
        }
        let closes_kind = match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => Some(BlockKind::Heading),
            "li" => Some(BlockKind::ListItem),
            "tr" => Some(BlockKind::TableRow),
            _ => None,
        };
        let in_row = self
            .kinds
            .last()
            .is_some_and(|(k, _)| *k == BlockKind::TableRow);
        if in_row && closes_kind != Some(BlockKind::TableRow) {
            return;
        }
        self.flush();
        if name == "pre" {
            self.preformatted = self.preformatted.saturating_sub(1);
        }
        if let Some(kind) = closes_kind
            && self.kinds.last().is_some_and(|(k, _)| *k == kind)
        {
            self.kinds.pop();
        }
    }
}

/// The bytes as text: UTF-8 where they are, else Windows-1252 (Latin-1 and
/// the typographic quotes), the usual encoding of pages that declare none.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

impl Guest for Page {
    fn media_types() -> Vec<String> {
        vec!["text/html".into(), "application/xhtml+xml".into()]
    }

    fn extract(bytes: Vec<u8>, _media_type: String) -> Result<Extracted, ExtractError> {
        let html = Html::parse_document(&decode(&bytes));
        let mut reader = Reader::default();
        let mut title = None;
        let mut author = None;
        for edge in html.tree.root().traverse() {
            match edge {
                Edge::Open(node) => match node.value() {
                    Node::Element(element) => {
                        let name = element.name();
                        if name == "title" && title.is_none() {
                            let text: String = node
                                .children()
                                .filter_map(|c| c.value().as_text().map(|t| t.to_string()))
                                .collect();
                            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                            title = (!text.is_empty()).then_some(text);
                        }
                        if name == "meta"
                            && element
                                .attr("name")
                                .is_some_and(|n| n.eq_ignore_ascii_case("author"))
                        {
                            author = element.attr("content").map(str::to_string);
                        }
                        if SKIPPED.contains(&name) {
                            reader.skipped += 1;
                        } else if reader.skipped == 0 {
                            reader.open(name);
                        }
                    }
                    Node::Text(text) if reader.skipped == 0 => reader.push_text(text),
                    _ => {}
                },
                Edge::Close(node) => {
                    if let Node::Element(element) = node.value() {
                        let name = element.name();
                        if SKIPPED.contains(&name) {
                            reader.skipped = reader.skipped.saturating_sub(1);
                        } else if reader.skipped == 0 {
                            reader.close(name);
                        }
                    }
                }
            }
        }
        reader.flush();
        if reader.blocks.is_empty() && title.is_none() {
            return Err(ExtractError::NoText("the HTML page has no text".into()));
        }
        Ok(Extracted {
            metadata: DocumentMetadata {
                title,
                author,
                created: None,
                extra: Vec::new(),
            },
            pages: 0,
            blocks: reader.blocks,
            attachments: Vec::new(),
        })
    }
}

export!(Page);
