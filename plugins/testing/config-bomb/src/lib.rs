//! Hostile router: asks `host.config` for an 8 MiB key, in a loop. Each
//! call copies the key across the boundary; the loop must still end at the
//! call's deadline.
wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::host;
use sluice::policy::types::{Route, RouteContext, RouteDecision};

struct Hostile;

impl Guest for Hostile {
    fn route(_ctx: RouteContext) -> RouteDecision {
        let key = "k".repeat(8 << 20);
        let mut found = 0u64;
        loop {
            if host::config(&key).is_some() {
                found += 1;
            }
            host::log(host::Level::Info, &key);
            if found == u64::MAX {
                break;
            }
        }
        RouteDecision {
            route: Route::Escalate,
            reasons: vec![format!("found {found}")],
            doubtful: vec![],
        }
    }
}

export!(Hostile);
