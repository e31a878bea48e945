//! Hostile router: subscribes to a monotonic-clock instant a day away and
//! waits on it with `wasi:io/poll.poll`, next to a pollable that is never
//! ready either.
wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use ::wasi::clocks::monotonic_clock;
use ::wasi::io::poll;
use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{Route, RouteContext, RouteDecision};

struct Hostile;

const DAY_NS: u64 = 86_400 * 1_000_000_000;

impl Guest for Hostile {
    fn route(_ctx: RouteContext) -> RouteDecision {
        let far = monotonic_clock::subscribe_instant(monotonic_clock::now() + DAY_NS);
        let farther = monotonic_clock::subscribe_duration(2 * DAY_NS);
        let ready = poll::poll(&[&far, &farther]);
        RouteDecision {
            route: Route::Escalate,
            reasons: vec![format!("ready: {ready:?}")],
            doubtful: vec![],
        }
    }
}

export!(Hostile);
