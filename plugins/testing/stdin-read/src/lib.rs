//! Hostile router: reads its standard input to the end, again and again.
//! The host grants an empty stdin, so every read must end at once; a host
//! that handed the plugin a real stdin would block here.
wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use std::io::Read;

use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{Route, RouteContext, RouteDecision};

struct Hostile;

impl Guest for Hostile {
    fn route(_ctx: RouteContext) -> RouteDecision {
        let mut total = 0;
        loop {
            let mut buf = Vec::new();
            match std::io::stdin().read_to_end(&mut buf) {
                Ok(n) => total += n,
                Err(_) => break,
            }
            if total > 0 {
                break;
            }
        }
        RouteDecision {
            route: Route::Escalate,
            reasons: vec![format!("read {total} bytes")],
            doubtful: vec![],
        }
    }
}

export!(Hostile);
