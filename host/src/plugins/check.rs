//! One call of a loaded version with its world's example input, as a
//! request would make it: what `sluice plugins check` reports.
//!
//! The first call on a freshly loaded version pays one-time costs (page
//! faults on its memory image, an interpreter's lazy start), so it runs
//! under `FIRST_CALL_ALLOWANCE` times the deadline; the call reported runs
//! under the deadline itself. A plugin that fails its first call is
//! reported at once, so a check ends within twice the deadline.

use std::time::{Duration, Instant};

use crate::plugins::contract::{Candidate, RouteContext, World};
use crate::plugins::{CallSettings, Plugin, PluginError};

/// How many deadlines the first call of a fresh version may take.
pub const FIRST_CALL_ALLOWANCE: u32 = 2;

/// A call's outcome (its answer, printed) and how long it took.
#[derive(Debug)]
pub struct Timed {
    pub outcome: Result<String, PluginError>,
    pub took: Duration,
    /// The deadline it ran under.
    pub deadline: Duration,
}

/// The first call, and the timed call when the first succeeded.
#[derive(Debug)]
pub struct Check {
    pub first: Timed,
    pub timed: Option<Timed>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.timed.as_ref().is_some_and(|t| t.outcome.is_ok())
    }
}

/// Check `plugin` under `settings`.
pub async fn check(plugin: &Plugin, settings: &CallSettings) -> Check {
    let first = CallSettings {
        deadline: settings.deadline * FIRST_CALL_ALLOWANCE,
        ..settings.clone()
    };
    let first = timed(plugin, &first).await;
    let timed = match first.outcome {
        Ok(_) => Some(timed(plugin, settings).await),
        Err(_) => None,
    };
    Check { first, timed }
}

async fn timed(plugin: &Plugin, settings: &CallSettings) -> Timed {
    let started = Instant::now();
    let outcome = example_call(plugin, settings).await;
    Timed {
        outcome,
        took: started.elapsed(),
        deadline: settings.deadline,
    }
}

/// One call with the world's example input; its answer, for printing.
async fn example_call(plugin: &Plugin, settings: &CallSettings) -> Result<String, PluginError> {
    Ok(match plugin.world {
        World::Router => {
            let d = plugin.route(&RouteContext::example(), settings).await?;
            format!("{:?} {:?}", d.route, d.reasons)
        }
        World::Anonymiser => {
            let text = "Contacto: ana.gomez@example.co, C.C. 1.020.304.050";
            let spans = plugin.detect(text, "es", settings).await?;
            format!("{} spans: {spans:?}", spans.len())
        }
        World::Merger => {
            let local = Candidate {
                json: r#"{"document_type":"supply agreement"}"#.into(),
                confidence: 0.8,
                fields: RouteContext::example().fields,
            };
            let cloud = Candidate {
                json: r#"{"document_type":"Supply Agreement"}"#.into(),
                confidence: 0.9,
                fields: Vec::new(),
            };
            let schema = r#"{"type":"object","properties":{"document_type":{"type":"string"}}}"#;
            let d = plugin.merge(&local, &cloud, schema, settings).await?;
            format!(
                "{:?} agreement {:.2} {:?}",
                d.choice, d.agreement, d.reasons
            )
        }
        World::Extractor => {
            let page = b"<html><head><title>Supply agreement</title></head><body><h1>Supply agreement</h1><p>The Supplier shall deliver the goods.</p></body></html>";
            let (bytes, media_type): (&[u8], &str) =
                if plugin.media_types.iter().any(|t| t == "text/html") {
                    (page, "text/html")
                } else {
                    (b"", plugin.media_types.first().map_or("", String::as_str))
                };
            match plugin.extract(bytes, media_type, settings).await? {
                Ok(document) => format!(
                    "reads {}: {} blocks from a {}-byte example",
                    plugin.media_types.join(", "),
                    document.blocks.len(),
                    bytes.len()
                ),
                Err(refusal) => format!(
                    "reads {}: an empty {media_type} document refused: {refusal:?}",
                    plugin.media_types.join(", ")
                ),
            }
        }
    })
}
