//! The audit log: one JSON line per decision, each carrying the sha256 of
//! the line before, so that an edited, deleted, inserted or reordered line
//! is found and named by [`verify`].
//!
//! - [`record`]: what a line says ([`Entry`], filled by the caller) and the
//!   chain fields the log adds ([`Record`]).
//! - [`log`]: the writer ([`AuditLog`]): one `write` per record, `fsync` at
//!   least once a second and on close; it continues an existing chain and
//!   cuts off a last line a crash left half-written.
//! - [`verify`]: checks a log and names the first broken line.
//! - [`query`]: filters records by policy, route, kind, time and request id.
//! - [`label`]: reviewers' verdicts on answers ([`label::Label`]), kept as
//!   `label` records or in a file, for replay to score escalations against.
//!
//! Records hold pseudonyms and digests, never raw text: callers put the
//! sha256 of inputs in [`Entry::inputs`], not the inputs.

pub mod label;
pub mod log;
pub mod query;
pub mod record;
pub mod verify;

pub use log::AuditLog;
pub use query::Filter;
pub use record::{CloudUsage, Entry, Kind, PluginRef, Record};
pub use verify::{Tamper, Verified, verify};

/// Hex sha256 of some bytes: how inputs appear in the log.
pub fn digest(bytes: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// Where the log lives unless configured: `$SLUICE_HOME/audit/audit.jsonl`.
pub fn default_path() -> std::path::PathBuf {
    crate::home_dir().join("audit").join("audit.jsonl")
}
