//! A plugin's settings as a policy file writes them, turned into the
//! `CallSettings` of every call:
//!
//! ```toml
//! [router]
//! plugin = "complexity-router"   # the file policies/complexity-router.wasm
//! deadline_ms = 25               # default 25
//! memory_mib = 64                # default 64, at most 256
//! [router.config]                # read by the plugin through host.config
//! min_confidence = 0.7
//! escalate_tags = ["hard", "litigation"]   # lists arrive comma-separated
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::plugins::sandbox::CallSettings;

/// The largest memory cap a policy may ask for: the engine reserves this much per instance slot.
pub const MAX_MEMORY_MIB: u64 = 256;
/// The longest deadline a policy may ask for.
pub const MAX_DEADLINE_MS: u64 = 10_000;

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    /// The plugin's name: its file stem in the policies folder.
    pub plugin: String,
    pub deadline_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub max_input_kib: Option<u64>,
    pub max_output_kib: Option<u64>,
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
}

/// A setting out of range or of the wrong shape; names the key and the fix.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct SettingsError {
    pub key: String,
    pub problem: String,
}

fn bounded(
    key: &str,
    value: Option<u64>,
    max: u64,
    unit: &str,
) -> Result<Option<u64>, SettingsError> {
    match value {
        Some(v) if v == 0 || v > max => Err(SettingsError {
            key: key.into(),
            problem: format!("{v} is out of range; use 1 to {max} {unit}"),
        }),
        other => Ok(other),
    }
}

fn config_text(key: &str, value: &toml::Value) -> Result<String, SettingsError> {
    use toml::Value;
    Ok(match value {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|v| config_text(key, v))
            .collect::<Result<Vec<_>, _>>()?
            .join(","),
        Value::Table(_) => {
            return Err(SettingsError {
                key: format!("config.{key}"),
                problem: "a plugin setting is a string, a number, a boolean or a list of them, not a table".into(),
            });
        }
    })
}

impl PluginSettings {
    /// The settings of every call to this plugin, over the host's defaults.
    pub fn call_settings(&self, defaults: &CallSettings) -> Result<CallSettings, SettingsError> {
        let deadline = bounded(
            "deadline_ms",
            self.deadline_ms,
            MAX_DEADLINE_MS,
            "milliseconds",
        )?;
        let memory = bounded("memory_mib", self.memory_mib, MAX_MEMORY_MIB, "MiB")?;
        let input = bounded("max_input_kib", self.max_input_kib, 64 << 10, "KiB")?;
        let output = bounded("max_output_kib", self.max_output_kib, 64 << 10, "KiB")?;
        let config = self
            .config
            .iter()
            .map(|(k, v)| Ok((k.clone(), config_text(k, v)?)))
            .collect::<Result<BTreeMap<_, _>, SettingsError>>()?;
        Ok(CallSettings {
            deadline: deadline.map_or(defaults.deadline, Duration::from_millis),
            memory_limit: memory.map_or(defaults.memory_limit, |m| (m as usize) << 20),
            max_input_bytes: input.map_or(defaults.max_input_bytes, |k| (k as usize) << 10),
            max_output_bytes: output.map_or(defaults.max_output_bytes, |k| (k as usize) << 10),
            config: Arc::new(config),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deadline in ms, memory in MiB, plugin config: or an error fragment.
    type Expected<'a> = Result<(u64, usize, &'a [(&'a str, &'a str)]), &'a str>;

    fn check(toml_text: &str, expect: Expected) {
        let parsed: Result<PluginSettings, _> = toml::from_str(toml_text);
        let result = parsed.map_err(|e| e.to_string()).and_then(|s| {
            s.call_settings(&CallSettings::default())
                .map_err(|e| e.to_string())
        });
        match (result, expect) {
            (Ok(s), Ok((ms, mib, config))) => {
                assert_eq!(
                    (s.deadline, s.memory_limit),
                    (Duration::from_millis(ms), mib << 20),
                    "{toml_text}"
                );
                let want: BTreeMap<String, String> = config
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(*s.config, want, "{toml_text}");
            }
            (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{toml_text}: {e}"),
            (got, want) => panic!("{toml_text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn policy_tables_become_call_settings() {
        check(r#"plugin = "r""#, Ok((25, 64, &[])));
        check(
            "plugin = \"r\"\ndeadline_ms = 40\nmemory_mib = 128",
            Ok((40, 128, &[])),
        );
        check(
            "plugin = \"r\"\n[config]\nmin_confidence = 0.7\nmax_input_tokens = 2000\nescalate_tags = [\"hard\", \"litigation\"]\nstrict = true",
            Ok((
                25,
                64,
                &[
                    ("min_confidence", "0.7"),
                    ("max_input_tokens", "2000"),
                    ("escalate_tags", "hard,litigation"),
                    ("strict", "true"),
                ],
            )),
        );
        check(
            "plugin = \"r\"\nmemory_mib = 512",
            Err("memory_mib: 512 is out of range; use 1 to 256 MiB"),
        );
        check(
            "plugin = \"r\"\ndeadline_ms = 0",
            Err("deadline_ms: 0 is out of range"),
        );
        check(
            "plugin = \"r\"\n[config.nested]\na = 1",
            Err("config.nested: a plugin setting is a string"),
        );
        check(
            "plugin = \"r\"\ndeadline = 3",
            Err("unknown field `deadline`"),
        );
        check("deadline_ms = 3", Err("missing field `plugin`"));
    }
}
