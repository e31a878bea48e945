//! Hostile router: executes the `unreachable` instruction.
wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{RouteContext, RouteDecision};

struct Hostile;

impl Guest for Hostile {
    fn route(_ctx: RouteContext) -> RouteDecision {
        core::arch::wasm32::unreachable()
    }
}

export!(Hostile);
