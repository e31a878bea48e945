//! A caller's file read into text for a policy, under the policy's
//! `[extract]` limits, and written to the audit log either way: what was
//! read (type, bytes, pages, the extractors' versions, digests of the file
//! and of its text) or why it was refused. Never the text itself.

use crate::audit::record::DocumentRead;
use crate::audit::{Entry, Kind, digest};
use crate::documents::{self, Attached, Document, DocumentError, Upload};
use crate::pipeline::Pipeline;

impl Pipeline {
    /// Read `upload` for request `request_id` of `policy` (a policy not
    /// loaded reads under the default limits: the request itself fails
    /// later, naming the policies there are).
    pub async fn read_document(
        &self,
        request_id: &str,
        policy: &str,
        upload: Upload,
    ) -> Result<Document, DocumentError> {
        let settings = self
            .policies
            .get(policy)
            .map(|p| p.extraction.clone())
            .unwrap_or_default();
        let file_digest = digest(&upload.bytes);
        let plugins = self.plugins.snapshot();
        let started = std::time::Instant::now();
        let read = documents::read(&plugins, &settings, upload).await;
        let took_ms = started.elapsed().as_secs_f64() * 1000.0;
        let entry = entry(request_id, policy, &file_digest, &read, took_ms);
        self.audit
            .append(entry)
            .map_err(|e| DocumentError::Unaudited(format!("{e:#}")))?;
        read
    }
}

fn entry(
    request_id: &str,
    policy: &str,
    file_digest: &str,
    read: &Result<Document, DocumentError>,
    took_ms: f64,
) -> Entry {
    let mut entry = match read {
        Ok(document) => {
            let mut entry = Entry::new(Kind::Extract, "read");
            for extractor in document.extractors() {
                entry = entry.plugin(&extractor.name, Some(&extractor.sha256));
            }
            entry.inputs.insert("text".into(), digest(document.text()));
            let (attachments, skipped) = counts(document);
            entry.document = Some(DocumentRead {
                media_type: document.media_type.clone(),
                bytes: document.bytes as u64,
                text_bytes: document.text_bytes as u64,
                pages: document.pages,
                attachments,
                skipped,
            });
            entry
        }
        Err(error) => {
            Entry::new(Kind::Extract, "refused").reasons([format!("{}: {error}", error.code())])
        }
    };
    entry = entry.request(request_id, policy);
    entry
        .inputs
        .insert("document".into(), file_digest.to_string());
    entry.latency_ms.insert("extract".into(), took_ms);
    entry
}

/// Attachments read and skipped, at every depth.
fn counts(document: &Document) -> (u32, u32) {
    document
        .attachments
        .iter()
        .fold((0, 0), |(read, skipped), attached| match attached {
            Attached::Read(inner) => {
                let (r, s) = counts(inner);
                (read + 1 + r, skipped + s)
            }
            Attached::Skipped { .. } => (read, skipped + 1),
        })
}
