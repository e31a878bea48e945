//! `complexity-router`: decides local or cloud from the triage's confidence,
//! the input size, the caller's tags, the budget and the sampled share.
//!
//! Settings (all optional, read through `host.config`):
//! - `min_confidence` (default 0.7): below it, escalate;
//! - `max_input_tokens` (default 3000): above it, escalate;
//! - `escalate_tags` (default `hard,litigation`): any of them, escalate;
//! - `reject_tags` (default empty): any of them, reject;
//! - `parallel_share` (default 0): a request whose sample falls below it runs local and cloud in parallel.
//!
//! The Python and JavaScript routers in `plugins/` implement the same rules and
//! the same reason strings; the polyglot test holds them to it.

wit_bindgen::generate!({ path: "../../wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::host::config;
use sluice::policy::types::{Route, RouteContext, RouteDecision};

struct Router;

fn number(key: &str, default: f64) -> f64 {
    match config(key) {
        None => default,
        Some(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("setting {key}={text:?} is not a number")),
    }
}

fn list(key: &str, default: &str) -> Vec<String> {
    config(key)
        .unwrap_or_else(|| default.to_string())
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn decision(route: Route, reasons: Vec<String>) -> RouteDecision {
    RouteDecision { route, reasons }
}

impl Guest for Router {
    fn route(ctx: RouteContext) -> RouteDecision {
        let tags: Vec<String> = ctx.tags.iter().map(|t| t.to_lowercase()).collect();
        let tagged = |wanted: &[String]| tags.iter().find(|t| wanted.contains(t)).cloned();

        if let Some(tag) = tagged(&list("reject_tags", "")) {
            return decision(Route::Reject, vec![format!("tag {tag} is refused")]);
        }
        if ctx.budget_left_usd <= 0.0 {
            return decision(Route::Local, vec!["cloud budget spent".into()]);
        }
        let mut reasons = Vec::new();
        if let Some(tag) = tagged(&list("escalate_tags", "hard,litigation")) {
            reasons.push(format!("tag {tag} escalates"));
        }
        let min_confidence = number("min_confidence", 0.7);
        if f64::from(ctx.confidence) < min_confidence {
            reasons.push(format!(
                "confidence {:.2} below {:.2}",
                ctx.confidence, min_confidence
            ));
        }
        let max_tokens = number("max_input_tokens", 3000.0);
        if f64::from(ctx.input_tokens) > max_tokens {
            reasons.push(format!(
                "{} input tokens over {}",
                ctx.input_tokens, max_tokens
            ));
        }
        let triage_asks = ctx
            .triage_json
            .as_deref()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .and_then(|v| v.get("escalate_to_cloud").and_then(|e| e.as_bool()))
            .unwrap_or(false);
        if triage_asks {
            reasons.push("triage asks for the cloud".into());
        }
        if !reasons.is_empty() {
            return decision(Route::Escalate, reasons);
        }
        let share = number("parallel_share", 0.0);
        if ctx.sample < share {
            return decision(
                Route::Parallel,
                vec![format!(
                    "sample {:.2} within parallel share {:.2}",
                    ctx.sample, share
                )],
            );
        }
        decision(Route::Local, vec!["local is confident".into()])
    }
}

export!(Router);
