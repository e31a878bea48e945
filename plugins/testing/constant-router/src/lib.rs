//! A well-behaved router that always escalates: the second version in the
//! hot-swap tests, so that every answer shows which version gave it.

wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{Route, RouteContext, RouteDecision};

struct Constant;

impl Guest for Constant {
    fn route(_ctx: RouteContext) -> RouteDecision {
        RouteDecision {
            route: Route::Escalate,
            reasons: vec!["constant router".into()],
        }
    }
}

export!(Constant);
