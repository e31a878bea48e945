//! A process that answers as fast as it can: four threads append `answer`
//! records to the audit log at the path given, and print each request id
//! once its record is written. The audit tests kill it with SIGKILL and
//! check that every id it printed is in the log's verified prefix.

use sluice::audit::{AuditLog, Entry, Kind};
use std::io::Write;

fn main() {
    let path = std::env::args().nth(1).expect("usage: audit-load LOG");
    let log = AuditLog::open(std::path::Path::new(&path)).expect("opening the log");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for n in 0.. {
                    let id = format!("t{t}-{n}");
                    log.append(Entry::new(Kind::Answer, "local").request(&id, "load"))
                        .expect("appending");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{id}").expect("stdout");
                    out.flush().expect("stdout");
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}
