//! Hostile router: sleeps for 30 s in WASI (`std::thread::sleep` becomes a
//! monotonic-clock subscription and a blocking poll). Epoch interruption
//! cannot reach it there; the host's call timeout must.
wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{Route, RouteContext, RouteDecision};

struct Hostile;

impl Guest for Hostile {
    fn route(_ctx: RouteContext) -> RouteDecision {
        std::thread::sleep(std::time::Duration::from_secs(30));
        RouteDecision {
            route: Route::Escalate,
            reasons: vec!["woke up".into()],
            doubtful: vec![],
        }
    }
}

export!(Hostile);
