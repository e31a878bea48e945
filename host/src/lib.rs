//! sluice: one host between applications, a local Gemma runtime and cloud
//! LLMs, where every request goes through a policy whose decisions (route,
//! anonymise, merge) are made by sandboxed WebAssembly components.
//!
//! Table of contents:
//! - [`api`]: the HTTP server (OpenAI-compatible endpoints, workflows,
//!   admin, metrics, auth, limits).
//! - [`local`]: the in-process Gemma runtime (GGUF and safetensors
//!   backends, schema-constrained decoding, the inference worker, model
//!   fetch).
//! - [`plugins`]: the wasmtime host for policy plugins (contract, sandbox,
//!   loader, registry with atomic swap, folder watch, failure policies).
//! - [`privacy`]: placeholders, the per-request vault, re-identification.
//! - [`cloud`]: the OpenAI-compatible client (retries, breaker, pricing).
//! - [`conversation`]: turns with their roles and the generation
//!   parameters, as every tier receives them.
//! - [`pipeline`]: policies and the pattern executors.
//! - [`audit`]: the hash-chained decision log.
//! - [`calibration`]: per-field calibration of the local model's confidence
//!   against labelled documents.
//!
//! The codemap and the invariants are in `docs/ARCHITECTURE.md`.

pub mod api;
pub mod audit;
pub mod calibration;
pub mod cloud;
pub mod config;
pub mod conversation;
pub mod documents;
pub mod local;
pub mod pipeline;
pub mod plugins;
pub mod privacy;
pub mod replay;
pub mod telemetry;
pub mod watch;

use std::path::PathBuf;

/// Where sluice keeps its caches and models: `$SLUICE_HOME`, else `sluice`
/// under the user's cache folder.
pub fn home_dir() -> PathBuf {
    std::env::var_os("SLUICE_HOME")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("sluice")))
        .unwrap_or_else(|| PathBuf::from(".sluice"))
}

/// RFC 3339 timestamps in serialised records.
pub(crate) mod time_format {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*time))
    }
}

/// A duration written in milliseconds in a configuration file.
pub(crate) fn millis<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::time::Duration, D::Error> {
    let ms: u64 = serde::Deserialize::deserialize(d)?;
    Ok(std::time::Duration::from_millis(ms))
}
