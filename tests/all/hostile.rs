//! Hostile plugins: the host stays up, the caller gets the world's fallback
//! within deadline + 50 ms, the next call to a good plugin succeeds, and the
//! error is typed.

use std::time::{Duration, Instant};

use sluice::plugins::contract::Route;
use sluice::plugins::{CallSettings, PluginError, Stage};
use wasmtime::Trap;

use crate::support::*;

/// Load `name`, route once through the failure policy, and check the fallback.
fn check(name: &str, settings: CallSettings, expect: impl Fn(&PluginError) -> bool) {
    let dir = folder(&[(name, "hostile"), ("complexity-router", "good")]);
    let host = host();
    host.registry().load_dir(dir.path());
    let set = host.registry().snapshot();
    assert!(
        set.get("hostile").is_some(),
        "{name} should load: {:?}",
        set.status("hostile")
    );

    let started = Instant::now();
    let routed = set.route("hostile", &ctx(), &settings);
    let took = started.elapsed();
    let reason = routed
        .fallback
        .as_ref()
        .unwrap_or_else(|| panic!("{name} should have failed, got {:?}", routed.decision));
    assert!(
        expect(&reason.error),
        "{name}: unexpected error {:?}",
        reason.error
    );
    assert_eq!(
        routed.decision.route,
        Route::Local,
        "a failed router routes local"
    );
    assert!(
        took <= settings.deadline + Duration::from_millis(50),
        "{name}: fallback after {took:?}"
    );

    let good = set.route("good", &ctx(), &CallSettings::default());
    assert!(
        good.fallback.is_none(),
        "the next call to a good plugin must succeed: {:?}",
        good.fallback
    );
    assert_eq!(good.decision.route, Route::Local);
}

#[test]
fn infinite_loop_is_interrupted_at_its_deadline() {
    check(
        "testing/iloop",
        CallSettings::default(),
        |e| matches!(e, PluginError::Timeout(d) if *d == Duration::from_millis(25)),
    );
}

#[test]
fn memory_bomb_hits_the_limiter() {
    check(
        "testing/memory-bomb",
        CallSettings::default(),
        |e| matches!(e, PluginError::MemoryLimit { limit, .. } if *limit == 64 << 20),
    );
}

#[test]
fn unreachable_is_a_typed_trap() {
    check("testing/unreachable", CallSettings::default(), |e| {
        matches!(
            e,
            PluginError::Trap {
                trap: Trap::UnreachableCodeReached,
                ..
            }
        )
    });
}

#[test]
fn rust_panic_is_a_typed_trap() {
    check("testing/panic", CallSettings::default(), |e| {
        matches!(
            e,
            PluginError::Trap {
                trap: Trap::UnreachableCodeReached,
                ..
            }
        )
    });
}

#[test]
fn hundred_megabyte_answer_is_stopped_by_the_default_limits() {
    // Writing 100 MB takes longer than the 25 ms deadline on a slow machine,
    // and needs more than the 64 MiB cap: whichever comes first stops it.
    check("testing/output-flood", CallSettings::default(), |e| {
        matches!(e, PluginError::MemoryLimit { .. } | PluginError::Timeout(_))
    });
}

#[test]
fn hundred_megabyte_answer_is_refused_by_the_output_cap_when_memory_allows_it() {
    let roomy = CallSettings {
        memory_limit: 256 << 20,
        deadline: Duration::from_secs(5),
        ..CallSettings::default()
    };
    check(
        "testing/output-flood",
        roomy,
        |e| matches!(e, PluginError::InvalidOutput(m) if m.contains("over the 1048576-byte cap")),
    );
}

#[test]
fn sandbox_grants_no_files_environment_or_network() {
    let dir = folder(&[("testing/sneaky", "sneaky")]);
    let host = host();
    host.registry().load_dir(dir.path());
    let routed = host.registry().snapshot().route(
        "sneaky",
        &ctx(),
        &CallSettings {
            deadline: Duration::from_secs(2),
            ..CallSettings::default()
        },
    );
    assert!(routed.fallback.is_none(), "{:?}", routed.fallback);
    let reasons = routed.decision.reasons;
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    for reason in &reasons {
        assert!(
            reason.ends_with(": denied") || reason == "env: empty",
            "the sandbox leaked: {reason} (all: {reasons:?})"
        );
    }
}

/// Files the loader must refuse, with the stage that refuses them.
#[test]
fn bad_files_are_refused_at_their_stage() {
    let cases: &[(&str, Stage, &str)] = &[
        (
            "testing/wrong-version",
            Stage::Version,
            "built for sluice:policy@2.0.0, this host speaks 0.1.x",
        ),
        ("testing/truncated", Stage::Parse, ""),
        (
            "testing/core-module",
            Stage::Parse,
            "core WebAssembly module, not a component",
        ),
        ("testing/garbage", Stage::Parse, ""),
        (
            "testing/wants-http",
            Stage::Link,
            "wasi:http/outgoing-handler",
        ),
    ];
    let host = host();
    for (name, stage, fragment) in cases {
        let err = sluice::plugins::loader::load_file(host.engine(), &built(name))
            .err()
            .unwrap_or_else(|| panic!("{name} loaded"));
        assert_eq!(err.stage(), Some(*stage), "{name}: {err}");
        assert!(err.to_string().contains(fragment), "{name}: {err}");
    }
}

#[test]
fn repeated_failures_quarantine_until_a_new_version_arrives() {
    let dir = folder(&[("testing/unreachable", "router")]);
    let config = sluice::plugins::HostConfig {
        quarantine_after: 3,
        ..config()
    };
    let host = sluice::plugins::PluginHost::start(config).unwrap();
    host.registry().load_dir(dir.path());
    let set = host.registry().snapshot();
    for _ in 0..3 {
        let routed = set.route("router", &ctx(), &CallSettings::default());
        assert!(matches!(
            routed.fallback.unwrap().error,
            PluginError::Trap { .. }
        ));
    }
    let routed = set.route("router", &ctx(), &CallSettings::default());
    assert!(
        matches!(routed.fallback.unwrap().error, PluginError::Quarantined),
        "the fourth call is not made"
    );
    assert_eq!(set.get("router").unwrap().health.calls(), 3);
    assert!(matches!(
        set.status("router"),
        sluice::plugins::PluginStatus::Quarantined { .. }
    ));

    std::fs::copy(built("complexity-router"), dir.path().join("router.wasm")).unwrap();
    host.registry().sync_path(&dir.path().join("router.wasm"));
    let routed = host
        .registry()
        .snapshot()
        .route("router", &ctx(), &CallSettings::default());
    assert!(
        routed.fallback.is_none(),
        "a new version ends the quarantine: {:?}",
        routed.fallback
    );
}
