//! Hostile plugins: the host stays up, the caller gets the world's fallback
//! within deadline + 50 ms, the next call to a good plugin succeeds, and the
//! error is typed. That holds for plugins that block inside a WASI call as
//! for plugins that spin, and plugins that wait do not hold up others.

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
    let routed = host
        .engine()
        .block_on(set.route("hostile", &ctx(), &settings));
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

    let good = host
        .engine()
        .block_on(set.route("good", &ctx(), &CallSettings::default()));
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

/// Plugins that wait in WASI rather than spin: epoch interruption cannot
/// reach them there, the call's timeout must.
#[test]
fn plugins_that_block_in_wasi_are_stopped_at_their_deadline() {
    for name in [
        "testing/sleeper",
        "testing/far-poll",
        "testing/stdin-read",
        "testing/config-bomb",
    ] {
        check(
            name,
            CallSettings::default(),
            |e| matches!(e, PluginError::Timeout(d) if *d == Duration::from_millis(25)),
        );
    }
}

/// Sixteen calls waiting in a 2 s WASI sleep on the server's two workers:
/// a good router answers about as many calls meanwhile as it does alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_sleeping_plugins_do_not_starve_the_others() {
    let dir = folder(&[
        ("testing/sleeper", "sleeper"),
        ("complexity-router", "good"),
    ]);
    let host = sluice::plugins::PluginHost::start(sluice::plugins::HostConfig {
        quarantine_after: 1000,
        ..config()
    })
    .unwrap();
    host.registry().load_dir(dir.path());
    let set = host.registry().snapshot();
    let window = Duration::from_millis(1000);
    let good_calls = |set: std::sync::Arc<sluice::plugins::PluginSet>| async move {
        let started = Instant::now();
        let mut answered = 0u32;
        while started.elapsed() < window {
            let routed = set.route("good", &ctx(), &CallSettings::default()).await;
            assert!(routed.fallback.is_none(), "{:?}", routed.fallback);
            answered += 1;
        }
        answered
    };
    let alone = good_calls(set.clone()).await;

    let sleeping = CallSettings {
        deadline: Duration::from_secs(2),
        ..CallSettings::default()
    };
    let sleepers: Vec<_> = (0..16)
        .map(|_| {
            let (set, settings) = (set.clone(), sleeping.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let routed = set.route("sleeper", &ctx(), &settings).await;
                (routed, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let beside = tokio::spawn(good_calls(set.clone())).await.unwrap();
    for sleeper in sleepers {
        let (routed, took) = sleeper.await.unwrap();
        let error = &routed.fallback.expect("the sleeper is stopped").error;
        assert!(matches!(error, PluginError::Timeout(_)), "{error:?}");
        assert!(
            took <= sleeping.deadline + Duration::from_millis(50),
            "{took:?}"
        );
    }
    eprintln!("good router calls in 1 s: {alone} alone, {beside} beside 16 sleepers");
    assert!(
        beside * 2 >= alone,
        "a good router answered {beside} calls beside 16 sleepers, {alone} alone"
    );
}

/// `sluice plugins check` gives a fresh version's first call twice its
/// deadline, and reports a blocking plugin within that.
#[tokio::test]
async fn plugins_check_reports_a_sleeper_within_twice_its_deadline() {
    let host = host();
    let plugin = sluice::plugins::loader::load_file(host.engine(), &built("testing/sleeper"))
        .expect("a sleeper loads: it only sleeps when called");
    let settings = CallSettings::default();
    let checked = sluice::plugins::check::check(&plugin, &settings).await;
    assert!(!checked.passed());
    assert!(
        checked.timed.is_none(),
        "no second call after a failed first"
    );
    let first = &checked.first;
    assert!(
        matches!(first.outcome, Err(PluginError::Timeout(d)) if d == settings.deadline * 2),
        "{:?}",
        first.outcome
    );
    assert!(
        first.took <= settings.deadline + Duration::from_millis(50),
        "{:?}",
        first.took
    );

    let good =
        sluice::plugins::loader::load_file(host.engine(), &built("complexity-router")).unwrap();
    let checked = sluice::plugins::check::check(&good, &settings).await;
    assert!(checked.passed(), "{checked:?}");
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
    let routed = host.engine().block_on(host.registry().snapshot().route(
        "sneaky",
        &ctx(),
        &CallSettings {
            deadline: Duration::from_secs(2),
            ..CallSettings::default()
        },
    ));
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
            "built for sluice:policy@2.0.0, this host speaks 0.2.x (and 0.1.x, deprecated)",
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
    let route = |set: &sluice::plugins::PluginSet| {
        host.engine()
            .block_on(set.route("router", &ctx(), &CallSettings::default()))
    };
    for _ in 0..3 {
        let routed = route(&set);
        assert!(matches!(
            routed.fallback.unwrap().error,
            PluginError::Trap { .. }
        ));
    }
    let routed = route(&set);
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
    let routed = route(&host.registry().snapshot());
    assert!(
        routed.fallback.is_none(),
        "a new version ends the quarantine: {:?}",
        routed.fallback
    );
}
