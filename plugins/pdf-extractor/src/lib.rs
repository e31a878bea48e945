//! `pdf-extractor`: a PDF's text layer, page by page, in the order each
//! page's content stream draws it (pdf-extract on lopdf: fonts' encodings
//! and ToUnicode maps applied).
//!
//! Lines are grouped into paragraphs where the gap between them is wider
//! than a line's; a short paragraph set in a font clearly larger than the
//! page's running text is a heading (level 1 from 1.5 times the running
//! size, else 2). The document information dictionary gives the title, the
//! author and the creation date.
//!
//! Refused: an encrypted PDF that the empty password does not open; a file
//! lopdf cannot read (truncated, broken cross-references); pages with no
//! text layer at all (a scan: no OCR is done). A stream that inflates past
//! the memory cap ends the call in the host.

wit_bindgen::generate!({ path: "../../wit", world: "extractor" });

use exports::sluice::policy::extraction::Guest;
use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};
use sluice::policy::types::{Block, BlockKind, DocumentMetadata, ExtractError, Extracted};

use lopdf::{Document, Object};

struct Pdf;

/// A line of one page as drawn: its text and the font size most of it is set in.
struct Line {
    text: String,
    size: f64,
    /// Whether a gap wider than a line separates it from the line before.
    gap_before: bool,
}

/// Receives each drawn character from pdf-extract and lays them out as
/// lines, like its own plain-text output, keeping font sizes and pages.
#[derive(Default)]
struct Layout {
    pages: Vec<Vec<Line>>,
    line: String,
    sizes: Vec<f64>,
    gap_before: bool,
    last_end: f64,
    last_y: f64,
    first_char: bool,
    flip: Option<Transform>,
}

impl Layout {
    fn end_current_line(&mut self) {
        let text = self.line.trim_end().to_string();
        if !text.trim().is_empty() {
            self.sizes.sort_by(f64::total_cmp);
            let size = self.sizes.get(self.sizes.len() / 2).copied().unwrap_or(0.0);
            if let Some(page) = self.pages.last_mut() {
                page.push(Line {
                    text,
                    size,
                    gap_before: self.gap_before,
                });
            }
        }
        self.line.clear();
        self.sizes.clear();
        self.gap_before = false;
    }
}

impl OutputDev for Layout {
    fn begin_page(
        &mut self,
        _page_num: u32,
        media_box: &MediaBox,
        _art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.pages.push(Vec::new());
        self.flip = Some(Transform::row_major(
            1.,
            0.,
            0.,
            -1.,
            0.,
            media_box.ury - media_box.lly,
        ));
        self.last_end = 100_000.;
        self.last_y = 0.;
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        self.end_current_line();
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), OutputError> {
        let flip = self.flip.unwrap_or_else(Transform::identity);
        let position = trm.post_transform(&flip);
        let scaled = trm.transform_vector(euclid::vec2(font_size, font_size));
        let size = (scaled.x * scaled.y).abs().sqrt();
        let (x, y) = (position.m31, position.m32);
        if self.first_char {
            let moved = (y - self.last_y).abs();
            if moved > size * 1.5 {
                self.end_current_line();
                self.gap_before = true;
            } else if x < self.last_end && moved > size * 0.5 {
                self.end_current_line();
            } else if x > self.last_end + size * 0.1 && !self.line.ends_with(' ') {
                self.line.push(' ');
            }
        }
        // No-break and fixed-width spaces are spaces to a reader.
        let is_space =
            |c: char| c == '\u{a0}' || c == '\u{202f}' || ('\u{2000}'..='\u{200a}').contains(&c);
        if char.chars().any(is_space) {
            self.line
                .extend(char.chars().map(|c| if is_space(c) { ' ' } else { c }));
        } else {
            self.line.push_str(char);
        }
        self.sizes.push(size);
        self.first_char = false;
        self.last_y = y;
        self.last_end = x + width * size;
        Ok(())
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.first_char = true;
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// The blocks of one page: lines joined into paragraphs at each gap; short
/// paragraphs in a larger font than the page's running text are headings.
fn blocks(page: u32, lines: &[Line]) -> Vec<Block> {
    let mut sizes: Vec<f64> = lines.iter().map(|l| l.size).collect();
    sizes.sort_by(f64::total_cmp);
    let body = sizes.get(sizes.len() / 2).copied().unwrap_or(0.0);
    let mut paragraphs: Vec<Vec<&Line>> = Vec::new();
    for line in lines {
        match paragraphs.last_mut() {
            Some(paragraph) if !line.gap_before => paragraph.push(line),
            _ => paragraphs.push(vec![line]),
        }
    }
    paragraphs
        .into_iter()
        .map(|paragraph| {
            let text = paragraph
                .iter()
                .map(|l| l.text.trim())
                .collect::<Vec<_>>()
                .join("\n");
            let smallest = paragraph.iter().map(|l| l.size).fold(f64::MAX, f64::min);
            let heading = body > 0.0 && smallest >= body * 1.2 && text.chars().count() <= 160;
            let (kind, level) = match heading {
                true if smallest >= body * 1.5 => (BlockKind::Heading, 1),
                true => (BlockKind::Heading, 2),
                false => (BlockKind::Paragraph, 0),
            };
            Block {
                kind,
                level,
                page,
                text,
            }
        })
        .collect()
}

/// A PDF text string: UTF-16BE after its byte-order mark, else PDFDocEncoding
/// (Latin-1 for every character a title or a name uses).
fn text_string(bytes: &[u8]) -> String {
    match bytes.strip_prefix(&[0xFE, 0xFF]) {
        Some(utf16) => {
            let units: Vec<u16> = utf16
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        None => bytes.iter().map(|&b| b as char).collect(),
    }
}

fn metadata(doc: &Document) -> DocumentMetadata {
    let info = doc
        .trailer
        .get(b"Info")
        .and_then(Object::as_reference)
        .and_then(|id| doc.get_dictionary(id))
        .ok()
        .or_else(|| doc.trailer.get(b"Info").and_then(Object::as_dict).ok());
    let field = |key: &[u8]| -> Option<String> {
        let value = info?.get(key).ok()?;
        let value = match value {
            Object::Reference(id) => doc.get_object(*id).ok()?,
            other => other,
        };
        let text = text_string(value.as_str().ok()?).trim().to_string();
        (!text.is_empty()).then_some(text)
    };
    let extra = [
        ("subject", &b"Subject"[..]),
        ("producer", b"Producer"),
        ("creator", b"Creator"),
    ]
    .into_iter()
    .filter_map(|(name, key)| field(key).map(|v| (name.to_string(), v)))
    .collect();
    DocumentMetadata {
        title: field(b"Title"),
        author: field(b"Author"),
        created: field(b"CreationDate"),
        extra,
    }
}

fn malformed(e: impl std::fmt::Display) -> ExtractError {
    ExtractError::Malformed(format!("the PDF cannot be read: {e}"))
}

impl Guest for Pdf {
    fn media_types() -> Vec<String> {
        vec!["application/pdf".into()]
    }

    fn extract(bytes: Vec<u8>, _media_type: String) -> Result<Extracted, ExtractError> {
        if !bytes.starts_with(b"%PDF-") {
            return Err(ExtractError::Unsupported(
                "this is not a PDF: it does not begin with %PDF-".into(),
            ));
        }
        let mut doc = Document::load_mem(&bytes).map_err(malformed)?;
        if doc.is_encrypted() && doc.decrypt("").is_err() {
            return Err(ExtractError::Encrypted(
                "the PDF is encrypted with a password; send it decrypted".into(),
            ));
        }
        let pages = doc.get_pages().len() as u32;
        if pages == 0 {
            return Err(ExtractError::Malformed(
                "the PDF has no readable pages: its page tree is empty or broken".into(),
            ));
        }
        let mut layout = Layout::default();
        pdf_extract::output_doc(&doc, &mut layout).map_err(malformed)?;
        let blocks: Vec<Block> = (1..)
            .zip(&layout.pages)
            .flat_map(|(number, lines)| blocks(number, lines))
            .collect();
        if blocks.iter().all(|b| b.text.trim().is_empty()) {
            return Err(ExtractError::NoText(format!(
                "none of the PDF's {pages} pages has a text layer (a scan?); no OCR is done here, so send a PDF with text"
            )));
        }
        Ok(Extracted {
            metadata: metadata(&doc),
            pages,
            blocks,
            attachments: Vec::new(),
        })
    }
}

export!(Pdf);
