//! A well-behaved router that always escalates: the second version in the
//! hot-swap tests, so that every answer shows which version gave it. It is
//! built for the previous contract (`wit/0.1/`, `sluice:policy@0.1.0`), so
//! those tests also prove that such a plugin loads and is called through the
//! host's adapter.

wit_bindgen::generate!({ path: "../../../wit/0.1", world: "router" });

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
