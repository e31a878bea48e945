//! Each world's failure policy, applied whatever went wrong (missing plugin,
//! quarantine, trap, timeout, memory cap, invalid answer):
//! - a router that fails routes **local**;
//! - an anonymiser that fails **fails closed**: the caller gets `FailClosed`
//!   and must not send anything to the cloud;
//! - a merger that fails keeps the **local** answer and flags it for review.

use crate::plugins::contract::{
    Candidate, Choice, MergeDecision, Route, RouteContext, RouteDecision, Span,
};
use crate::plugins::error::PluginError;
use crate::plugins::registry::PluginSet;
use crate::plugins::sandbox::CallSettings;

/// A routing decision, and why the fallback was used if it was.
#[derive(Debug)]
pub struct Routed {
    pub decision: RouteDecision,
    /// The version (sha256) that decided; none when the fallback did.
    pub version: Option<String>,
    pub fallback: Option<FallbackReason>,
}

/// A merge decision; `review` is set when a person should look.
#[derive(Debug)]
pub struct Merged {
    pub decision: MergeDecision,
    pub version: Option<String>,
    pub review: bool,
    pub fallback: Option<FallbackReason>,
}

/// Why a fallback was used: the plugin's name and its typed error.
#[derive(Debug)]
pub struct FallbackReason {
    pub plugin: String,
    pub error: PluginError,
}

impl std::fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plugin {} {}", self.plugin, self.error)
    }
}

/// The anonymiser could not run: nothing may go to the cloud.
#[derive(Debug, thiserror::Error)]
#[error("anonymiser {0}; failing closed, nothing is sent to the cloud")]
pub struct FailClosed(pub FallbackReason);

impl PluginSet {
    pub async fn route(&self, name: &str, ctx: &RouteContext, settings: &CallSettings) -> Routed {
        let result = match self.get(name) {
            Some(p) => p.route(ctx, settings).await.map(|d| (d, p.sha256.clone())),
            None => Err(PluginError::Missing),
        };
        match result {
            Ok((decision, version)) => Routed {
                decision,
                version: Some(version),
                fallback: None,
            },
            Err(error) => {
                let reason = FallbackReason {
                    plugin: name.to_string(),
                    error,
                };
                tracing::warn!("{reason}; routing local");
                Routed {
                    decision: RouteDecision {
                        route: Route::Local,
                        reasons: vec![format!("fallback: {reason}")],
                        doubtful: Vec::new(),
                    },
                    version: None,
                    fallback: Some(reason),
                }
            }
        }
    }

    pub async fn detect(
        &self,
        name: &str,
        text: &str,
        lang: &str,
        settings: &CallSettings,
    ) -> Result<Vec<Span>, FailClosed> {
        let result = match self.get(name) {
            Some(p) => p.detect(text, lang, settings).await,
            None => Err(PluginError::Missing),
        };
        result.map_err(|error| {
            let reason = FallbackReason {
                plugin: name.to_string(),
                error,
            };
            tracing::warn!("{reason}; failing closed");
            FailClosed(reason)
        })
    }

    pub async fn merge(
        &self,
        name: &str,
        local: &Candidate,
        cloud: &Candidate,
        schema: &str,
        settings: &CallSettings,
    ) -> Merged {
        let result = match self.get(name) {
            Some(p) => {
                (p.merge(local, cloud, schema, settings).await).map(|d| (d, p.sha256.clone()))
            }
            None => Err(PluginError::Missing),
        };
        match result {
            Ok((decision, version)) => {
                let review = decision.choice == Choice::Review;
                Merged {
                    decision,
                    version: Some(version),
                    review,
                    fallback: None,
                }
            }
            Err(error) => {
                let reason = FallbackReason {
                    plugin: name.to_string(),
                    error,
                };
                tracing::warn!("{reason}; keeping the local answer, flagged for review");
                Merged {
                    decision: MergeDecision {
                        choice: Choice::Local,
                        agreement: 0.0,
                        diverged: vec![],
                        reasons: vec![format!("fallback: {reason}")],
                    },
                    version: None,
                    review: true,
                    fallback: Some(reason),
                }
            }
        }
    }
}
