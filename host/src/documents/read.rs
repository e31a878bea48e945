//! Reading a document: its media type (declared, else sniffed), the
//! extractor for it (the policy's choice, else the loaded one that declares
//! the type), one sandboxed call under the policy's document limits, and
//! its attachments read the same way, depth and count bounded. The whole
//! tree shares one deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use futures::future::BoxFuture;

use crate::documents::error::Refusal;
use crate::documents::media_type::{self, TEXT};
use crate::documents::{
    Attached, Block, BlockKind, Document, DocumentError, Extraction, ExtractorRef, Upload,
};
use crate::plugins::Plugin;
use crate::plugins::contract::{Attachment, ExtractError, World};
use crate::plugins::registry::PluginSet;
use crate::plugins::sandbox::CallSettings;

/// Read `upload` with the extractors in `plugins`, under `settings`.
pub async fn read(
    plugins: &PluginSet,
    settings: &Extraction,
    upload: Upload,
) -> Result<Document, DocumentError> {
    let reader = Reader {
        plugins,
        settings,
        started: Instant::now(),
        attachments: AtomicU32::new(0),
    };
    let mut document = reader.read(upload, 0).await?;
    document.render();
    Ok(document)
}

struct Reader<'a> {
    plugins: &'a PluginSet,
    settings: &'a Extraction,
    started: Instant,
    attachments: AtomicU32,
}

impl Reader<'_> {
    fn read(&self, upload: Upload, depth: u32) -> BoxFuture<'_, Result<Document, DocumentError>> {
        Box::pin(async move {
            let limit = self.settings.call.max_input_bytes;
            if upload.bytes.len() > limit {
                return Err(DocumentError::FileTooLarge {
                    size: upload.bytes.len(),
                    limit,
                });
            }
            let media_type = upload
                .media_type
                .as_deref()
                .and_then(media_type::declared)
                .or_else(|| media_type::sniff(&upload.bytes).map(str::to_string))
                .ok_or(DocumentError::Unrecognised)?;
            if media_type == TEXT {
                return plain_text(upload);
            }
            let plugin = self.extractor_for(&media_type)?;
            let remaining = self
                .settings
                .call
                .deadline
                .saturating_sub(self.started.elapsed());
            let call = CallSettings {
                deadline: remaining,
                ..self.settings.call.clone()
            };
            let mut extracted = match plugin.extract(&upload.bytes, &media_type, &call).await {
                Ok(Ok(extracted)) => extracted,
                Ok(Err(refusal)) => return Err(refused(&media_type, refusal)),
                Err(error) => {
                    let deadline = self.settings.call.deadline;
                    return Err(DocumentError::from_call(
                        &media_type,
                        &plugin.name,
                        error,
                        deadline,
                    ));
                }
            };
            let inner = std::mem::take(&mut extracted.attachments);
            let mut document = Document::from_extracted(
                upload.bytes.len(),
                media_type,
                upload.name,
                ExtractorRef {
                    name: plugin.name.clone(),
                    sha256: plugin.sha256.clone(),
                },
                extracted,
            );
            for attachment in inner {
                document
                    .attachments
                    .push(self.attachment(attachment, depth).await);
            }
            Ok(document)
        })
    }

    /// An attachment read, or why it was not: an attachment that cannot be
    /// read never fails the document that carries it.
    async fn attachment(&self, attachment: Attachment, depth: u32) -> Attached {
        let skipped = |why: String| Attached::Skipped {
            name: attachment.name.clone(),
            media_type: attachment.media_type.clone(),
            bytes: attachment.bytes.len(),
            skipped: why,
        };
        if depth + 1 > self.settings.max_depth {
            return skipped(format!(
                "nested deeper than this policy's {} levels of attachments",
                self.settings.max_depth
            ));
        }
        let count = self.attachments.fetch_add(1, Ordering::Relaxed);
        if count >= self.settings.max_attachments {
            return skipped(format!(
                "past this policy's {} attachments per document",
                self.settings.max_attachments
            ));
        }
        if self.started.elapsed() >= self.settings.call.deadline {
            return skipped("the document's time to be read was spent".into());
        }
        let upload = Upload {
            // The type the bytes show outranks the one the sender declared.
            media_type: media_type::sniff(&attachment.bytes)
                .map(str::to_string)
                .or_else(|| media_type::declared(&attachment.media_type)),
            name: attachment.name.clone(),
            bytes: attachment.bytes.clone(),
        };
        match self.read(upload, depth + 1).await {
            Ok(document) => Attached::Read(Box::new(document)),
            Err(error) => skipped(error.to_string()),
        }
    }

    fn extractor_for(&self, media_type: &str) -> Result<&Arc<Plugin>, DocumentError> {
        let extractors = || {
            self.plugins
                .plugins()
                .filter(|p| p.world == World::Extractor)
        };
        let found = match self.settings.chosen.get(media_type) {
            Some(name) => self.plugins.get(name),
            None => extractors().find(|p| p.media_types.iter().any(|t| t == media_type)),
        };
        found.ok_or_else(|| {
            let mut readable: Vec<&str> = extractors()
                .flat_map(|p| p.media_types.iter().map(String::as_str))
                .chain([TEXT])
                .collect();
            readable.sort_unstable();
            readable.dedup();
            DocumentError::NoExtractor {
                media_type: media_type.to_string(),
                readable: readable.join(", "),
            }
        })
    }
}

fn plain_text(upload: Upload) -> Result<Document, DocumentError> {
    let bytes = upload.bytes.len();
    let body = upload
        .bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .map(<[u8]>::to_vec)
        .unwrap_or(upload.bytes);
    let text = String::from_utf8(body).map_err(|_| DocumentError::NotUtf8)?;
    Ok(Document {
        text: String::new(),
        name: upload.name,
        media_type: TEXT.to_string(),
        bytes,
        text_bytes: 0,
        pages: 0,
        metadata: Default::default(),
        extractor: None,
        blocks: vec![Block {
            kind: BlockKind::Paragraph,
            level: 0,
            page: 0,
            text,
        }],
        attachments: Vec::new(),
    })
}

fn refused(media_type: &str, refusal: ExtractError) -> DocumentError {
    let (refusal, message) = match refusal {
        ExtractError::Encrypted(m) => (Refusal::Encrypted, m),
        ExtractError::Malformed(m) => (Refusal::Malformed, m),
        ExtractError::NoText(m) => (Refusal::NoText, m),
        ExtractError::TooLarge(m) => (Refusal::TooLarge, m),
        ExtractError::Unsupported(m) => (Refusal::Unsupported, m),
    };
    DocumentError::Refused {
        refusal,
        media_type: media_type.to_string(),
        message: message.chars().take(500).collect(),
    }
}
