//! `complexity-router`: decides local or cloud from what makes a record
//! doubtful: a key field below its calibrated threshold, a document whose
//! structure is hard (no governing law or more than one, many parties, a
//! risk flag with the language that makes it matter), the caller's tags,
//! the input size, the budget and the sampled share.
//!
//! Settings (all optional, read through `host.config`):
//! - `min_confidence` (default 0.7): the record's confidence below it, escalate;
//! - `field_thresholds` (default none): `field:threshold` pairs, such as
//!   `governing_law:0.6`; a field whose confidence is below its threshold
//!   escalates and is named doubtful;
//! - `require_governing_law` (default false): no governing-law clause found, escalate;
//! - `max_governing_laws` (default none): more jurisdictions named, escalate;
//! - `max_parties` (default none): more parties, escalate;
//! - `flag_escalations` (default none): `flag:kind` pairs, such as
//!   `missing_cap_on_liability:indemnification`: the flag raised while the
//!   document holds that kind of clause, escalate;
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

fn parse(key: &str, text: &str) -> f64 {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("setting {key}={text:?} is not a number"))
}

fn number(key: &str, default: f64) -> f64 {
    config(key).map_or(default, |text| parse(key, &text))
}

fn optional(key: &str) -> Option<f64> {
    config(key).map(|text| parse(key, &text))
}

fn list(key: &str, default: &str) -> Vec<String> {
    config(key)
        .unwrap_or_else(|| default.to_string())
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// `a:b` items of a list setting.
fn pairs(key: &str) -> Vec<(String, String)> {
    list(key, "")
        .into_iter()
        .map(|item| match item.split_once(':') {
            Some((a, b)) => (a.trim().to_string(), b.trim().to_string()),
            None => panic!("setting {key} item {item:?} is not name:value"),
        })
        .collect()
}

fn decision(route: Route, reasons: Vec<String>, doubtful: Vec<String>) -> RouteDecision {
    RouteDecision {
        route,
        reasons,
        doubtful,
    }
}

impl Guest for Router {
    fn route(ctx: RouteContext) -> RouteDecision {
        let tags: Vec<String> = ctx.tags.iter().map(|t| t.to_lowercase()).collect();
        let tagged = |wanted: &[String]| tags.iter().find(|t| wanted.contains(t)).cloned();

        if let Some(tag) = tagged(&list("reject_tags", "")) {
            return decision(Route::Reject, vec![format!("tag {tag} is refused")], vec![]);
        }
        if ctx.budget_left_usd <= 0.0 {
            return decision(Route::Local, vec!["cloud budget spent".into()], vec![]);
        }
        let mut reasons = Vec::new();
        let mut doubtful: Vec<String> = Vec::new();
        let mut doubt = |field: &str| {
            if !doubtful.iter().any(|d| d == field) {
                doubtful.push(field.to_string());
            }
        };
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
        for (field, threshold) in pairs("field_thresholds") {
            let threshold = parse("field_thresholds", &threshold);
            let Some(signal) = ctx.fields.iter().find(|f| f.name == field) else {
                continue;
            };
            if f64::from(signal.confidence) < threshold {
                reasons.push(format!(
                    "{field} confidence {:.2} below {threshold:.2}",
                    signal.confidence
                ));
                doubt(&field);
            }
        }
        if let Some(document) = &ctx.document {
            let require_law = config("require_governing_law").is_some_and(|v| v.trim() == "true");
            if require_law && document.governing_laws == 0 {
                reasons.push("no governing law found".into());
                doubt("governing_law");
            }
            if let Some(max) = optional("max_governing_laws")
                && f64::from(document.governing_laws) > max
            {
                reasons.push(format!(
                    "{} governing laws named, over {max}",
                    document.governing_laws
                ));
                doubt("governing_law");
            }
            if let Some(max) = optional("max_parties")
                && f64::from(document.parties) > max
            {
                reasons.push(format!("{} parties, over {max}", document.parties));
                doubt("parties");
            }
            for (flag, kind) in pairs("flag_escalations") {
                if document.risk_flags.contains(&flag) && document.clause_kinds.contains(&kind) {
                    reasons.push(format!("{flag} with {kind} present"));
                    doubt("risk_flags");
                }
            }
        }
        if !reasons.is_empty() {
            return decision(Route::Escalate, reasons, doubtful);
        }
        let share = number("parallel_share", 0.0);
        if ctx.sample < share {
            return decision(
                Route::Parallel,
                vec![format!(
                    "sample {:.2} within parallel share {:.2}",
                    ctx.sample, share
                )],
                vec![],
            );
        }
        decision(Route::Local, vec!["local is confident".into()], vec![])
    }
}

export!(Router);
