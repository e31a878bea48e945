//! Hostile router: answers with 100 MB of reasons. The host must refuse
//! output over its cap (or stop the plugin at its memory cap first).
wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{Route, RouteContext, RouteDecision};

struct Hostile;

impl Guest for Hostile {
    fn route(_ctx: RouteContext) -> RouteDecision {
        let reason = "x".repeat(1 << 20);
        RouteDecision {
            route: Route::Escalate,
            reasons: vec![reason; 100],
            doubtful: vec![],
        }
    }
}

export!(Hostile);
