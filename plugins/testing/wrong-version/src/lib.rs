//! A well-behaved router built against a future major version of the
//! contract (`sluice:policy@2.0.0`). The host must refuse it at load and name
//! both versions.

wit_bindgen::generate!({ path: "wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{Route, RouteContext, RouteDecision};

struct FromTheFuture;

impl Guest for FromTheFuture {
    fn route(_ctx: RouteContext) -> RouteDecision {
        RouteDecision {
            route: Route::Escalate,
            reasons: vec!["contract 2.0.0".into()],
        }
    }
}

export!(FromTheFuture);
