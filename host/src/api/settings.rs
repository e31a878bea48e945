//! The `[server]` table of `sluice.toml`: where to listen, the API and admin
//! keys (as sha256 digests, never the keys), the limits, and model aliases.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"
//! api_keys = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
//! max_concurrent = 32
//! [server.aliases]
//! "gpt-4o-mini" = "cloud"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// sha256 (hex) of each key that may call `/v1`.
    pub api_keys: Vec<String>,
    /// sha256 (hex) of each key that may call `/admin`.
    pub admin_keys: Vec<String>,
    /// Request bodies larger than this are refused with 413 (default 48 MiB:
    /// a 32 MiB file in base64, inside JSON).
    pub max_body_kib: usize,
    /// Requests being answered at once; past it, 503 with `Retry-After`.
    pub max_concurrent: usize,
    /// How long a request may take before it is answered with 504.
    #[serde(rename = "request_timeout_ms", deserialize_with = "crate::millis")]
    pub request_timeout: Duration,
    /// Model names callers may use, mapped to policy names.
    pub aliases: BTreeMap<String, String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_keys: Vec::new(),
            admin_keys: Vec::new(),
            max_body_kib: 48 << 10,
            max_concurrent: 32,
            request_timeout: Duration::from_secs(180),
            aliases: BTreeMap::new(),
        }
    }
}
