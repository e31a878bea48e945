//! `email-extractor`: an RFC 5322 message (`message/rfc822`) read with
//! mail-parser: every charset and transfer encoding decoded, HTML-only
//! bodies turned into text.
//!
//! Blocks: the subject as a heading, the sender, recipients and date as one
//! paragraph, then each body's paragraphs. Attachments (a forwarded message
//! among them) go back to the host as nested documents, which it extracts
//! with the extractor for their media type.
//!
//! Setting `max_parts` (default 1000): a message with more MIME parts is
//! refused as too large.

wit_bindgen::generate!({ path: "../../wit", world: "extractor" });

use exports::sluice::policy::extraction::Guest;
use mail_parser::{Address, MessageParser, MimeHeaders};
use sluice::policy::host::config;
use sluice::policy::types::{
    Attachment, Block, BlockKind, DocumentMetadata, ExtractError, Extracted,
};

struct Email;

fn max_parts() -> usize {
    config("max_parts")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1000)
}

/// `Name <address>, ...` as a header writes it.
fn addresses(address: Option<&Address>) -> Option<String> {
    let list: Vec<String> = address?
        .iter()
        .map(|a| match (a.name(), a.address()) {
            (Some(name), Some(address)) => format!("{name} <{address}>"),
            (Some(name), None) => name.to_string(),
            (None, Some(address)) => address.to_string(),
            (None, None) => String::new(),
        })
        .filter(|a| !a.is_empty())
        .collect();
    (!list.is_empty()).then(|| list.join(", "))
}

fn paragraph(text: &str) -> Block {
    Block {
        kind: BlockKind::Paragraph,
        level: 0,
        page: 0,
        text: text.to_string(),
    }
}

/// A body's paragraphs: runs of lines between blank lines.
fn paragraphs(body: &str) -> impl Iterator<Item = Block> + '_ {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(paragraph)
        .collect::<Vec<_>>()
        .into_iter()
}

impl Guest for Email {
    fn media_types() -> Vec<String> {
        vec!["message/rfc822".into()]
    }

    fn extract(bytes: Vec<u8>, _media_type: String) -> Result<Extracted, ExtractError> {
        let message = MessageParser::default().parse(&bytes).ok_or_else(|| {
            ExtractError::Malformed("the e-mail has no headers and no body to read".into())
        })?;
        if message.headers().is_empty() {
            // A message without headers (a digest's part, a pasted body) is
            // all body, as Python's email package reads it.
            let body = String::from_utf8_lossy(&bytes);
            let blocks: Vec<Block> = paragraphs(&body).collect();
            if blocks.is_empty() {
                return Err(ExtractError::NoText(
                    "the e-mail has no headers and no text".into(),
                ));
            }
            return Ok(Extracted {
                metadata: DocumentMetadata {
                    title: None,
                    author: None,
                    created: None,
                    extra: Vec::new(),
                },
                pages: 0,
                blocks,
                attachments: Vec::new(),
            });
        }
        let limit = max_parts();
        if message.parts.len() > limit {
            return Err(ExtractError::TooLarge(format!(
                "the e-mail has {} MIME parts, over the limit of {limit}",
                message.parts.len()
            )));
        }

        let from = addresses(message.from());
        let date = message.date().map(|d| d.to_rfc3339());
        let mut extra = Vec::new();
        for (name, value) in [
            ("to", addresses(message.to())),
            ("cc", addresses(message.cc())),
        ] {
            if let Some(value) = value {
                extra.push((name.to_string(), value));
            }
        }
        let subject = message.subject().map(str::trim).filter(|s| !s.is_empty());

        let mut blocks = Vec::new();
        if let Some(subject) = subject {
            blocks.push(Block {
                kind: BlockKind::Heading,
                level: 1,
                page: 0,
                text: subject.to_string(),
            });
        }
        let header_lines: Vec<String> = [("From", &from), ("Date", &date)]
            .into_iter()
            .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}: {v}")))
            .chain(extra.iter().map(|(name, value)| {
                format!("{}: {value}", if name == "to" { "To" } else { "Cc" })
            }))
            .collect();
        if !header_lines.is_empty() {
            blocks.push(paragraph(&header_lines.join("\n")));
        }
        for index in 0..message.text_body_count() {
            if let Some(body) = message.body_text(index) {
                blocks.extend(paragraphs(&body));
            }
        }

        let attachments = message
            .attachments()
            .map(|part| {
                let media_type = part.content_type().map_or_else(
                    || "application/octet-stream".to_string(),
                    |t| match t.subtype() {
                        Some(sub) => format!("{}/{}", t.ctype(), sub).to_ascii_lowercase(),
                        None => t.ctype().to_ascii_lowercase(),
                    },
                );
                let media_type = if part.is_message() {
                    "message/rfc822".to_string()
                } else {
                    media_type
                };
                Attachment {
                    name: part.attachment_name().map(str::to_string),
                    media_type,
                    bytes: part.contents().to_vec(),
                }
            })
            .collect();

        Ok(Extracted {
            metadata: DocumentMetadata {
                title: subject.map(str::to_string),
                author: from,
                created: date,
                extra,
            },
            pages: 0,
            blocks,
            attachments,
        })
    }
}

export!(Email);
