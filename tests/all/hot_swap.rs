//! Hot swap under load: eight threads call the router without pause while
//! its file is replaced twenty times (two versions that answer differently)
//! with five bad files in between. No call fails, every answer comes from
//! exactly one version, the last good version serves at the end, and every
//! bad file's rejection is recorded with its stage.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sluice::plugins::contract::Route;
use sluice::plugins::{CallSettings, Stage};

use crate::support::*;

#[test]
fn twenty_swaps_under_load_lose_no_call() {
    let dir = folder(&[("complexity-router", "router")]);
    let target = dir.path().join("router.wasm");
    let host = Arc::new(host());
    host.registry().load_dir(dir.path());
    let _watch = sluice::plugins::watch::watch(host.registry().clone(), dir.path()).unwrap();

    let versions = [built("complexity-router"), built("testing/constant-router")];
    let expected: BTreeMap<String, (Route, String)> = BTreeMap::from([
        (
            sha256(&versions[0]),
            (Route::Local, "local is confident".to_string()),
        ),
        (
            sha256(&versions[1]),
            (Route::Escalate, "constant router".to_string()),
        ),
    ]);

    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let (host, stop, expected) = (host.clone(), stop.clone(), expected.clone());
            std::thread::spawn(move || {
                let mut answered: BTreeMap<String, usize> = BTreeMap::new();
                let settings = CallSettings {
                    deadline: Duration::from_millis(500),
                    ..CallSettings::default()
                };
                while !stop.load(Ordering::Relaxed) {
                    let set = host.registry().snapshot();
                    let routed = host
                        .engine()
                        .block_on(set.route("router", &ctx(), &settings));
                    assert!(
                        routed.fallback.is_none(),
                        "a call failed during a swap: {:?}",
                        routed.fallback
                    );
                    let version = routed.version.expect("a version answered");
                    let (route, reason) = &expected[&version];
                    assert_eq!(
                        (&routed.decision.route, &routed.decision.reasons[0]),
                        (route, reason),
                        "answer from {version} mixes versions"
                    );
                    *answered.entry(version).or_default() += 1;
                }
                answered
            })
        })
        .collect();

    let bad = [
        (built("testing/truncated"), Stage::Parse),
        (built("testing/wrong-version"), Stage::Version),
        (built("testing/garbage"), Stage::Parse),
        (built("testing/core-module"), Stage::Parse),
        (built("testing/truncated"), Stage::Parse),
    ];
    let mut bad_files = bad.iter();
    let mut serving = sha256(&versions[0]);
    for swap in 1..=20 {
        let next = &versions[swap % 2];
        rename_over(next, &target);
        let want = sha256(next);
        wait_for(&host, "the new version to serve", |set| {
            set.get("router").is_some_and(|p| p.sha256 == want)
        });
        serving = want;
        std::thread::sleep(Duration::from_millis(20));
        if swap % 4 == 0 {
            let (file, stage) = bad_files.next().unwrap();
            let before = host.registry().rejection_history().len();
            rename_over(file, &target);
            wait_for(&host, "the bad file's rejection", |_| {
                host.registry().rejection_history().len() > before
            });
            let rejection = host.registry().rejection_history().pop().unwrap();
            assert_eq!(
                rejection.stage,
                *stage,
                "{}: {}",
                file.display(),
                rejection.reason
            );
            let set = host.registry().snapshot();
            assert_eq!(
                set.get("router").unwrap().sha256,
                serving,
                "a bad file must not displace the serving version"
            );
            // Put the good version back so the next swap starts from a good file.
            rename_over(next, &target);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for caller in callers {
        for (version, n) in caller.join().expect("a caller panicked") {
            *totals.entry(version).or_default() += n;
        }
    }
    assert_eq!(totals.len(), 2, "both versions answered: {totals:?}");
    assert_eq!(
        host.registry().snapshot().get("router").unwrap().sha256,
        serving,
        "the last good version serves"
    );
    assert_eq!(
        host.registry().rejection_history().len(),
        5,
        "{:?}",
        host.registry().rejection_history()
    );
}
