//! Hostile router: panics, as buggy Rust code does.
wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{RouteContext, RouteDecision};

struct Hostile;

impl Guest for Hostile {
    fn route(ctx: RouteContext) -> RouteDecision {
        panic!("router gave up on request {}", ctx.request_id)
    }
}

export!(Hostile);
