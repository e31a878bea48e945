//! The adapter that keeps plugins built for the previous contract
//! (`sluice:policy@0.1.x`, kept in `wit/0.1/`) loading: its bindings, its
//! host interface (the same log and config as today's), and the conversions
//! between its values and today's. A 0.1 router never sees the per-field
//! signals or the document's features, and names no doubtful fields; a 0.1
//! merger never sees the candidates' fields. Such a plugin is marked
//! deprecated in `GET /admin/plugins` and in the log.

use crate::plugins::contract::{self, Candidate, MergeDecision, RouteContext, RouteDecision, Span};
use crate::plugins::sandbox::State;

mod router {
    wasmtime::component::bindgen!({
        path: "../wit/0.1",
        world: "router",
        exports: { default: async },
    });
}
mod anonymiser {
    wasmtime::component::bindgen!({
        path: "../wit/0.1",
        world: "anonymiser",
        exports: { default: async },
        with: {
            "sluice:policy/types": super::router::sluice::policy::types,
            "sluice:policy/host": super::router::sluice::policy::host,
        },
    });
}
mod merger {
    wasmtime::component::bindgen!({
        path: "../wit/0.1",
        world: "merger",
        exports: { default: async },
        with: {
            "sluice:policy/types": super::router::sluice::policy::types,
            "sluice:policy/host": super::router::sluice::policy::host,
        },
    });
}

pub use anonymiser::{Anonymiser, AnonymiserPre};
pub use merger::{Merger, MergerPre};
pub use router::sluice::policy::host::add_to_linker as add_host_to_linker;
pub use router::{Router, RouterPre};

use router::sluice::policy::{host, types};

impl host::Host for State {
    fn log(&mut self, level: host::Level, message: String) {
        let level = match level {
            host::Level::Trace => contract::Level::Trace,
            host::Level::Debug => contract::Level::Debug,
            host::Level::Info => contract::Level::Info,
            host::Level::Warn => contract::Level::Warn,
            host::Level::Error => contract::Level::Error,
        };
        contract::Host::log(self, level, message)
    }

    fn config(&mut self, key: String) -> Option<String> {
        contract::Host::config(self, key)
    }
}

/// Today's context, less what 0.1 did not have.
pub fn route_context(ctx: &RouteContext) -> types::RouteContext {
    types::RouteContext {
        request_id: ctx.request_id.clone(),
        policy: ctx.policy.clone(),
        task: ctx.task.clone(),
        tags: ctx.tags.clone(),
        input_tokens: ctx.input_tokens,
        triage_json: ctx.triage_json.clone(),
        confidence: ctx.confidence,
        budget_left_usd: ctx.budget_left_usd,
        sample: ctx.sample,
    }
}

pub fn route_decision(decision: types::RouteDecision) -> RouteDecision {
    RouteDecision {
        route: match decision.route {
            types::Route::Local => contract::Route::Local,
            types::Route::Escalate => contract::Route::Escalate,
            types::Route::Parallel => contract::Route::Parallel,
            types::Route::DraftRefine => contract::Route::DraftRefine,
            types::Route::Reject => contract::Route::Reject,
        },
        reasons: decision.reasons,
        doubtful: Vec::new(),
    }
}

pub fn spans(spans: Vec<types::Span>) -> Vec<Span> {
    spans
        .into_iter()
        .map(|s| Span {
            start: s.start,
            end: s.end,
            kind: match s.kind {
                types::PiiKind::Person => contract::PiiKind::Person,
                types::PiiKind::Organisation => contract::PiiKind::Organisation,
                types::PiiKind::Email => contract::PiiKind::Email,
                types::PiiKind::Phone => contract::PiiKind::Phone,
                types::PiiKind::NationalId => contract::PiiKind::NationalId,
                types::PiiKind::TaxId => contract::PiiKind::TaxId,
                types::PiiKind::BankAccount => contract::PiiKind::BankAccount,
                types::PiiKind::Card => contract::PiiKind::Card,
                types::PiiKind::Address => contract::PiiKind::Address,
                types::PiiKind::Date => contract::PiiKind::Date,
                types::PiiKind::IpAddress => contract::PiiKind::IpAddress,
                types::PiiKind::Other => contract::PiiKind::Other,
            },
            confidence: s.confidence,
        })
        .collect()
}

pub fn candidate(candidate: &Candidate) -> types::Candidate {
    types::Candidate {
        json: candidate.json.clone(),
        confidence: candidate.confidence,
    }
}

pub fn merge_decision(decision: types::MergeDecision) -> MergeDecision {
    MergeDecision {
        choice: match decision.choice {
            types::Choice::Local => contract::Choice::Local,
            types::Choice::Cloud => contract::Choice::Cloud,
            types::Choice::Review => contract::Choice::Review,
        },
        agreement: decision.agreement,
        diverged: decision.diverged,
        reasons: decision.reasons,
    }
}
