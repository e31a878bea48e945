//! Hostile router: never returns. The host must interrupt it at its deadline.
wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{RouteContext, RouteDecision};

struct Hostile;

impl Guest for Hostile {
    fn route(_ctx: RouteContext) -> RouteDecision {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export!(Hostile);
