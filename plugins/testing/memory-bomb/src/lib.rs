//! Hostile router: reserves memory without end, 16 MiB at a time. The host's
//! memory cap must stop it at the first growth past the cap.

wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{Route, RouteContext, RouteDecision};

struct Hostile;

impl Guest for Hostile {
    fn route(_ctx: RouteContext) -> RouteDecision {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(Vec::with_capacity(16 << 20)));
            if hoard.len() == usize::MAX {
                return RouteDecision {
                    route: Route::Escalate,
                    reasons: vec![],
                    doubtful: vec![],
                };
            }
        }
    }
}

export!(Hostile);
