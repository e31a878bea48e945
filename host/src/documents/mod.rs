//! Documents in: a file's bytes become the text a policy reads, on this
//! machine, by sandboxed extractor plugins (world `extractor` of the
//! contract). Only the text goes further; the file never does.
//!
//! - `media_type`: the declared media type, else the one the bytes show.
//! - `settings`: a policy's `[extract]` table.
//! - `read`: picks each document's extractor, runs it under the document
//!   limits, reads attachments in turn, and writes what it read or why it
//!   refused to the audit log.
//! - `error`: why a document was refused, each cause with its status.

pub mod error;
pub mod media_type;
pub mod read;
pub mod settings;

pub use error::DocumentError;
pub use read::read;
pub use settings::Extraction;

use serde::Serialize;

use crate::plugins::contract;

/// A file as a caller sent it.
#[derive(Clone, Debug, Default)]
pub struct Upload {
    pub bytes: Vec<u8>,
    /// The media type declared with it, if any (`Content-Type`, a data URL's).
    pub media_type: Option<String>,
    /// Its file name, if any: reported back, never used to decide its type.
    pub name: Option<String>,
}

/// What a block of text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Heading,
    Paragraph,
    ListItem,
    TableRow,
}

/// One block of a document's text, in reading order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Block {
    pub kind: BlockKind,
    /// A heading's depth, from 1; 0 otherwise.
    pub level: u8,
    /// The page, from 1; 0 where the format has none.
    pub page: u32,
    pub text: String,
}

/// What a document says about itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Other named values, in the order the document gives them; an object
    /// in JSON.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_object")]
    pub extra: Vec<(String, String)>,
}

fn as_object<S: serde::Serializer>(
    pairs: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (name, value) in pairs {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

/// The extractor version that read a document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExtractorRef {
    pub name: String,
    pub sha256: String,
}

/// A document read, with its attachments read in turn.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Document {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub media_type: String,
    /// Bytes of the file.
    pub bytes: usize,
    /// Bytes of its text ([`Document::text`]).
    pub text_bytes: usize,
    pub pages: u32,
    pub metadata: Metadata,
    /// None for plain text, which needs no extractor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extractor: Option<ExtractorRef>,
    #[serde(skip)]
    pub blocks: Vec<Block>,
    #[serde(skip)]
    text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attached>,
}

/// An attachment: read, or why it was not (the document is read all the
/// same; an attachment's bytes never go further either way).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Attached {
    Read(Box<Document>),
    Skipped {
        name: Option<String>,
        media_type: String,
        bytes: usize,
        skipped: String,
    },
}

impl Document {
    /// The text a policy reads: blocks separated by blank lines, a table
    /// row's cells by tabs; then each attachment read, under a line that
    /// names it. Rendered once, when the document has been read.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn into_text(self) -> String {
        self.text
    }

    /// Render the text of the attachments, then this document's own.
    fn render(&mut self) {
        let mut text = self
            .blocks
            .iter()
            .map(|b| b.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n");
        for attached in &mut self.attachments {
            if let Attached::Read(document) = attached {
                document.render();
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(&format!(
                    "Attachment: {} ({})\n\n",
                    document.name.as_deref().unwrap_or("unnamed"),
                    document.media_type
                ));
                text.push_str(&document.text);
            }
        }
        self.text_bytes = text.len();
        self.text = text;
    }

    /// The extractor versions that read this document and its attachments.
    pub fn extractors(&self) -> Vec<&ExtractorRef> {
        let mut all: Vec<&ExtractorRef> = self.extractor.iter().collect();
        for attached in &self.attachments {
            if let Attached::Read(document) = attached {
                for extractor in document.extractors() {
                    if !all.contains(&extractor) {
                        all.push(extractor);
                    }
                }
            }
        }
        all
    }

    fn from_extracted(
        upload_bytes: usize,
        media_type: String,
        name: Option<String>,
        extractor: ExtractorRef,
        extracted: contract::Extracted,
    ) -> Document {
        let metadata = extracted.metadata;
        Document {
            name,
            media_type,
            bytes: upload_bytes,
            text_bytes: 0,
            pages: extracted.pages,
            metadata: Metadata {
                title: metadata.title,
                author: metadata.author,
                created: metadata.created,
                extra: metadata.extra,
            },
            extractor: Some(extractor),
            text: String::new(),
            blocks: extracted
                .blocks
                .into_iter()
                .map(|b| Block {
                    kind: match b.kind {
                        contract::BlockKind::Heading => BlockKind::Heading,
                        contract::BlockKind::Paragraph => BlockKind::Paragraph,
                        contract::BlockKind::ListItem => BlockKind::ListItem,
                        contract::BlockKind::TableRow => BlockKind::TableRow,
                    },
                    level: b.level,
                    page: b.page,
                    text: b.text,
                })
                .collect(),
            attachments: Vec::new(),
        }
    }
}
