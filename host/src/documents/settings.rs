//! A policy's `[extract]` table: the limits documents are read under
//! (higher than a decision's: documents are large and parsing is work),
//! which extractor reads which media type, and settings every extractor
//! reads through `host.config`.
//!
//! ```toml
//! [extract]
//! deadline_ms = 10000        # the whole document, attachments included (default 10000)
//! memory_mib = 256           # per extractor call (default and most 256)
//! max_input_kib = 32768      # the largest file read (default 32 MiB)
//! max_output_kib = 16384     # text and attachments one call may hand back (default 16 MiB)
//! max_depth = 3              # attachments inside attachments (default 3)
//! max_attachments = 32       # in the whole document (default 32)
//! [extract.plugins]          # default: the loaded extractor that declares the type
//! "application/pdf" = "pdf-extractor"
//! [extract.config]
//! max_parts = 1000           # e-mail: MIME parts allowed
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::plugins::sandbox::CallSettings;
use crate::plugins::settings::{PluginSettings, SettingsError};

#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractTable {
    pub deadline_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub max_input_kib: Option<u64>,
    pub max_output_kib: Option<u64>,
    pub max_depth: Option<u32>,
    pub max_attachments: Option<u32>,
    #[serde(default)]
    pub plugins: BTreeMap<String, String>,
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
}

/// How a policy's documents are read.
#[derive(Clone, Debug)]
pub struct Extraction {
    /// Each extractor call's limits; `deadline` bounds the whole document.
    pub call: CallSettings,
    /// Media type → the extractor that reads it, where the policy chose.
    pub chosen: BTreeMap<String, String>,
    pub max_depth: u32,
    pub max_attachments: u32,
}

impl Extraction {
    /// The limits a policy without `[extract]` reads documents under.
    pub fn defaults() -> CallSettings {
        CallSettings {
            deadline: Duration::from_secs(10),
            memory_limit: 256 << 20,
            max_input_bytes: 32 << 20,
            max_output_bytes: 16 << 20,
            config: Default::default(),
        }
    }

    pub fn from_table(table: &ExtractTable) -> Result<Extraction, SettingsError> {
        let call = PluginSettings {
            plugin: String::new(),
            deadline_ms: table.deadline_ms,
            memory_mib: table.memory_mib,
            max_input_kib: table.max_input_kib,
            max_output_kib: table.max_output_kib,
            config: table.config.clone(),
        }
        .call_settings(&Extraction::defaults())?;
        let chosen = table
            .plugins
            .iter()
            .map(|(media_type, plugin)| {
                super::media_type::declared(media_type)
                    .map(|t| (t, plugin.clone()))
                    .ok_or_else(|| SettingsError {
                        key: format!("plugins.{media_type:?}"),
                        problem: "name a media type such as \"application/pdf\"".into(),
                    })
            })
            .collect::<Result<_, _>>()?;
        let bounded = |key: &str, value: Option<u32>, default: u32, max: u32| match value {
            None => Ok(default),
            Some(v) if v <= max => Ok(v),
            Some(v) => Err(SettingsError {
                key: key.into(),
                problem: format!("{v} is out of range; use 0 to {max}"),
            }),
        };
        Ok(Extraction {
            call,
            chosen,
            max_depth: bounded("max_depth", table.max_depth, 3, 8)?,
            max_attachments: bounded("max_attachments", table.max_attachments, 32, 256)?,
        })
    }
}

impl Default for Extraction {
    fn default() -> Self {
        Extraction::from_table(&ExtractTable::default()).expect("the defaults are in range")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Extraction, String> {
        let table: ExtractTable = toml::from_str(text).map_err(|e| e.to_string())?;
        Extraction::from_table(&table).map_err(|e| e.to_string())
    }

    #[test]
    fn the_extract_table_sets_document_limits_over_higher_defaults() {
        let defaults = parse("").unwrap();
        assert_eq!(defaults.call.deadline, Duration::from_secs(10));
        assert_eq!(defaults.call.memory_limit, 256 << 20);
        assert_eq!((defaults.max_depth, defaults.max_attachments), (3, 32));
        let set = parse(
            "deadline_ms = 2000\nmemory_mib = 128\nmax_depth = 1\n[plugins]\n\"Application/PDF\" = \"my-pdf\"\n[config]\nmax_parts = 50",
        )
        .unwrap();
        assert_eq!(set.call.deadline, Duration::from_millis(2000));
        assert_eq!(set.call.memory_limit, 128 << 20);
        assert_eq!(set.max_depth, 1);
        assert_eq!(
            set.chosen.get("application/pdf").map(String::as_str),
            Some("my-pdf")
        );
        assert_eq!(
            set.call.config.get("max_parts").map(String::as_str),
            Some("50")
        );
        for (text, fragment) in [
            ("memory_mib = 512", "memory_mib: 512 is out of range"),
            ("max_depth = 9", "max_depth: 9 is out of range; use 0 to 8"),
            ("[plugins]\n\"pdf\" = \"x\"", "name a media type"),
            ("deadline = 3", "unknown field `deadline`"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(fragment), "{text}: {error}");
        }
    }
}
