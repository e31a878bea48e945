//! Typed plugin errors. Load errors name the stage that refused the file;
//! call errors say what the plugin did. Callers match on the variants; a trap
//! or a timeout is recognised by its type, never by its text.

use std::time::Duration;

/// The load stage that refused a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Read,
    Parse,
    Version,
    Compile,
    Link,
    Smoke,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        f.write_str(&s.unwrap_or_default())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read the file: {0}")]
    Read(String),
    #[error("not a valid component: {0}")]
    Parse(String),
    #[error("built for {found}, this host speaks {speaks}; rebuild it against this host's wit/")]
    Version { found: String, speaks: String },
    #[error("compilation failed: {0}")]
    Compile(String),
    #[error("cannot be linked: {0}")]
    Link(String),
    #[error("failed its smoke instantiation: {0}")]
    Smoke(Box<PluginError>),
    #[error("ran past its deadline of {0:?} and was interrupted")]
    Timeout(Duration),
    #[error("trapped: {trap}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Trap {
        trap: wasmtime::Trap,
        detail: Option<String>,
    },
    #[error("exceeded its memory cap of {limit} bytes (asked for {requested})")]
    MemoryLimit { limit: usize, requested: usize },
    #[error("input of {size} bytes is over the {limit}-byte cap")]
    InputTooLarge { size: usize, limit: usize },
    #[error("gave an invalid answer: {0}")]
    InvalidOutput(String),
    #[error("failed: {0}")]
    Failed(String),
    #[error("made the host panic inside its call ({0}); the call was abandoned")]
    Panic(String),
    #[error(
        "is quarantined after repeated failures; its fallback is used until a new version arrives"
    )]
    Quarantined,
    #[error("is not loaded (no file in the policies folder, or its file was rejected)")]
    Missing,
    #[error("is a {found}, not a {wanted}")]
    WrongWorld { found: String, wanted: String },
}

impl PluginError {
    /// The load stage, for errors raised while loading a file.
    pub fn stage(&self) -> Option<Stage> {
        Some(match self {
            PluginError::Read(_) => Stage::Read,
            PluginError::Parse(_) => Stage::Parse,
            PluginError::Version { .. } => Stage::Version,
            PluginError::Compile(_) => Stage::Compile,
            PluginError::Link(_) => Stage::Link,
            PluginError::Smoke(_) => Stage::Smoke,
            _ => return None,
        })
    }

    /// Whether this error counts against the plugin's health (a fault of the
    /// plugin rather than of the caller or the host).
    pub fn is_plugin_fault(&self) -> bool {
        !matches!(
            self,
            PluginError::InputTooLarge { .. }
                | PluginError::Quarantined
                | PluginError::Missing
                | PluginError::WrongWorld { .. }
        )
    }
}
