//! `docx-extractor`: a Word document (Office Open XML) read from its zip
//! with `zip` and `quick-xml`.
//!
//! `word/document.xml` gives the blocks in reading order: paragraphs, a
//! paragraph in a heading or title style as a heading (the style's
//! canonical name in `word/styles.xml`, `heading 2`, gives its level), a
//! numbered or bulleted paragraph as a list item, a table row as one block
//! with its cells separated by tabs. Deleted text of tracked changes is
//! left out. `docProps/core.xml` gives the title, the author and the
//! creation date; `docProps/app.xml` the page count Word last saw.
//!
//! A zip bomb is refused before it inflates: no part may inflate past
//! `max_part_mib` (default 32), whatever its header claims, and the
//! archive may hold at most 10 000 entries.

wit_bindgen::generate!({ path: "../../wit", world: "extractor" });

use std::collections::HashMap;
use std::io::{Cursor, Read};

use exports::sluice::policy::extraction::Guest;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use sluice::policy::host::config;
use sluice::policy::types::{Block, BlockKind, DocumentMetadata, ExtractError, Extracted};

struct Docx;

const MAX_ENTRIES: usize = 10_000;

fn max_part_bytes() -> u64 {
    config("max_part_mib")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(32)
        << 20
}

type Archive = zip::ZipArchive<Cursor<Vec<u8>>>;

/// One part of the archive, read only as far as the limit allows.
fn part(archive: &mut Archive, name: &str) -> Result<Option<Vec<u8>>, ExtractError> {
    let limit = max_part_bytes();
    let file = match archive.by_name(name) {
        Ok(file) => file,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(malformed(e)),
    };
    if file.size() > limit {
        return Err(too_large(name, limit));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(malformed)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(name, limit));
    }
    Ok(Some(bytes))
}

fn too_large(name: &str, limit: u64) -> ExtractError {
    ExtractError::TooLarge(format!(
        "the DOCX part {name} inflates past {} MiB (a zip bomb?)",
        limit >> 20
    ))
}

fn malformed(e: impl std::fmt::Display) -> ExtractError {
    ExtractError::Malformed(format!("the DOCX cannot be read: {e}"))
}

/// The value of attribute `w:val` (any prefix) of an element.
fn val(element: &BytesStart) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == b"val")
        .and_then(|a| a.unescape_value().ok())
        .map(|v| v.into_owned())
}

/// Style id → heading level, from each style's canonical name (`heading 1`, `Title`).
fn heading_styles(xml: &[u8]) -> HashMap<String, u8> {
    let mut levels = HashMap::new();
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut current: Option<String> = None;
    while let Ok(event) = reader.read_event_into(&mut buf) {
        match event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"style" => {
                    current = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"styleId")
                        .and_then(|a| a.unescape_value().ok())
                        .map(|v| v.into_owned());
                }
                b"name" => {
                    if let (Some(id), Some(name)) = (&current, val(&e)) {
                        let name = name.to_ascii_lowercase();
                        let level = if name == "title" {
                            Some(1)
                        } else {
                            name.strip_prefix("heading ")
                                .and_then(|n| n.trim().parse::<u8>().ok())
                        };
                        if let Some(level) = level {
                            levels.insert(id.clone(), level);
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    levels
}

/// Reads `word/document.xml` into blocks.
#[derive(Default)]
struct Body {
    blocks: Vec<Block>,
    paragraph: String,
    style: Option<String>,
    listed: bool,
    /// Table nesting; inside a table, paragraphs build the current cell.
    tables: usize,
    cell: String,
    row: Vec<String>,
    in_text: bool,
    deleted: usize,
}

impl Body {
    fn push(&mut self, kind: BlockKind, level: u8, text: String) {
        if !text.trim().is_empty() {
            self.blocks.push(Block {
                kind,
                level,
                page: 0,
                text,
            });
        }
    }

    fn end_paragraph(&mut self, headings: &HashMap<String, u8>) {
        let text = std::mem::take(&mut self.paragraph).trim().to_string();
        if self.tables > 0 {
            if !self.cell.is_empty() && !text.is_empty() {
                self.cell.push(' ');
            }
            self.cell.push_str(&text);
        } else {
            let level = self.style.as_ref().and_then(|s| headings.get(s)).copied();
            match (level, self.listed) {
                (Some(level), _) => self.push(BlockKind::Heading, level, text),
                (None, true) => self.push(BlockKind::ListItem, 0, text),
                (None, false) => self.push(BlockKind::Paragraph, 0, text),
            }
        }
        self.style = None;
        self.listed = false;
    }

    fn read(xml: &[u8], headings: &HashMap<String, u8>) -> Result<Vec<Block>, ExtractError> {
        let mut body = Body::default();
        let mut reader = Reader::from_reader(xml);
        let mut buf = Vec::new();
        loop {
            let event = reader.read_event_into(&mut buf).map_err(malformed)?;
            match event {
                Event::Start(e) => match e.local_name().as_ref() {
                    b"p" => {
                        body.paragraph.clear();
                        body.style = None;
                        body.listed = false;
                    }
                    b"t" => body.in_text = body.deleted == 0,
                    b"del" => body.deleted += 1,
                    b"tbl" => body.tables += 1,
                    b"tr" => body.row.clear(),
                    b"tc" => body.cell.clear(),
                    b"numPr" => body.listed = true,
                    _ => {}
                },
                Event::Empty(e) => match e.local_name().as_ref() {
                    b"pStyle" => body.style = val(&e),
                    b"tab" => body.paragraph.push('\t'),
                    b"br" | b"cr" => body.paragraph.push('\n'),
                    b"numPr" => body.listed = true,
                    _ => {}
                },
                Event::Text(text) if body.in_text => {
                    let text = text.unescape().map_err(malformed)?;
                    body.paragraph.push_str(&text);
                }
                Event::End(e) => match e.local_name().as_ref() {
                    b"t" => body.in_text = false,
                    b"del" => body.deleted = body.deleted.saturating_sub(1),
                    b"p" => body.end_paragraph(headings),
                    b"tc" => {
                        let cell = std::mem::take(&mut body.cell);
                        body.row.push(cell);
                    }
                    b"tr" if body.tables == 1 => {
                        let row = std::mem::take(&mut body.row).join("\t");
                        body.push(BlockKind::TableRow, 0, row);
                    }
                    b"tbl" => body.tables = body.tables.saturating_sub(1),
                    _ => {}
                },
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        Ok(body.blocks)
    }
}

/// Text of the first element named `local` in an XML part.
fn element_text(xml: &[u8], local: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut inside = false;
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) if e.local_name().as_ref() == local => inside = true,
            Event::Text(t) if inside => {
                let text = t.unescape().ok()?.trim().to_string();
                return (!text.is_empty()).then_some(text);
            }
            Event::End(e) if e.local_name().as_ref() == local => return None,
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

impl Guest for Docx {
    fn media_types() -> Vec<String> {
        vec!["application/vnd.openxmlformats-officedocument.wordprocessingml.document".into()]
    }

    fn extract(bytes: Vec<u8>, _media_type: String) -> Result<Extracted, ExtractError> {
        if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
            return Err(ExtractError::Encrypted(
                "this is an OLE compound file, not a zip: a password-protected Word document (or a legacy .doc); send it as an unencrypted .docx".into(),
            ));
        }
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(malformed)?;
        if archive.len() > MAX_ENTRIES {
            return Err(ExtractError::TooLarge(format!(
                "the DOCX holds {} entries, over the limit of {MAX_ENTRIES}",
                archive.len()
            )));
        }
        let document = part(&mut archive, "word/document.xml")?.ok_or_else(|| {
            ExtractError::Unsupported(
                "this zip is not a Word document: it has no word/document.xml".into(),
            )
        })?;
        let headings = part(&mut archive, "word/styles.xml")?
            .map(|xml| heading_styles(&xml))
            .unwrap_or_default();
        let blocks = Body::read(&document, &headings)?;
        let core = part(&mut archive, "docProps/core.xml")?.unwrap_or_default();
        let pages = part(&mut archive, "docProps/app.xml")?
            .and_then(|xml| element_text(&xml, b"Pages"))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Ok(Extracted {
            metadata: DocumentMetadata {
                title: element_text(&core, b"title"),
                author: element_text(&core, b"creator"),
                created: element_text(&core, b"created"),
                extra: Vec::new(),
            },
            pages,
            blocks,
            attachments: Vec::new(),
        })
    }
}

export!(Docx);
