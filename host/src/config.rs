//! The host's configuration file, `sluice.toml`: found at `--config`, else
//! `$SLUICE_CONFIG`, else `./sluice.toml`; without one, the defaults. Keys
//! that do not exist are errors. Secrets never live here: the cloud key
//! comes from `OPENAI_API_KEY` only, and API keys are stored as digests.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"
//! api_keys = ["<sha256 of the key>"]
//! [cloud]
//! model = "gpt-5.4"
//! timeout_ms = 60000
//! [cloud.retry]
//! max_retries = 2
//! [cloud.breaker]
//! failures = 5
//! [cloud.prices."gpt-5.4"]
//! input_usd_per_mtok = 2.5
//! output_usd_per_mtok = 15.0
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::api::ServerSettings;
use crate::cloud::CloudSettings;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSettings,
    pub cloud: CloudSettings,
}

impl Config {
    /// The file named, else `$SLUICE_CONFIG`, else `./sluice.toml` if it
    /// exists; the defaults when there is none.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let path = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("SLUICE_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("sluice.toml")).filter(|p| p.is_file()));
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the configuration {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid configuration", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_loads_and_typos_are_refused() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sluice.toml");
        let config = Config::load(Some(&shipped)).unwrap();
        assert_eq!(config.cloud.retry.max_retries, 2);
        assert_eq!(config.cloud.breaker.failures, 5);
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "[cloud]\ntimeout = 5\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&typo)).unwrap_err());
        assert!(err.contains("unknown field `timeout`"), "{err}");
        let priced = dir.path().join("priced.toml");
        std::fs::write(
            &priced,
            "[cloud.prices.\"m\"]\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n",
        )
        .unwrap();
        let config = Config::load(Some(&priced)).unwrap();
        assert_eq!(
            crate::cloud::pricing::cost(&config.cloud.prices, "m", 1_000_000, 1_000_000),
            Some(3.0)
        );
    }
}
