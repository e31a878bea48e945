//! Hostile router: tries to read files, the environment and the network, and
//! reports what it got in its reasons. The host grants none of it, so every
//! reason must say "denied" or "empty".
wit_bindgen::generate!({ path: "../../../wit", world: "router" });

use exports::sluice::policy::routing::Guest;
use sluice::policy::types::{Route, RouteContext, RouteDecision};

struct Hostile;

impl Guest for Hostile {
    fn route(_ctx: RouteContext) -> RouteDecision {
        let mut reasons = Vec::new();
        for path in ["/etc/passwd", ".", "/"] {
            reasons.push(
                match std::fs::read_dir(path)
                    .map(|_| ())
                    .or_else(|_| std::fs::read(path).map(|_| ()))
                {
                    Ok(()) => format!("fs {path}: granted"),
                    Err(_) => format!("fs {path}: denied"),
                },
            );
        }
        let vars = std::env::vars().count();
        reasons.push(if vars == 0 {
            "env: empty".into()
        } else {
            format!("env: {vars} variables")
        });
        reasons.push(match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => "net: granted".into(),
            Err(_) => "net: denied".into(),
        });
        RouteDecision {
            route: Route::Escalate,
            reasons,
            doubtful: vec![],
        }
    }
}

export!(Hostile);
