//! A plugin's life in the policies folder: created, overwritten in place,
//! renamed over, deleted and put back, with the status a policy sees at
//! each step; and the artifact cache across restarts.

use std::time::Duration;

use sluice::plugins::contract::Route;
use sluice::plugins::{CallSettings, PluginStatus};

use crate::support::*;

fn route_of(host: &sluice::plugins::PluginHost) -> (Route, bool) {
    let routed = host.engine().block_on(host.registry().snapshot().route(
        "router",
        &ctx(),
        &CallSettings::default(),
    ));
    (routed.decision.route, routed.fallback.is_some())
}

#[test]
fn create_overwrite_rename_delete_and_restore() {
    let dir = folder(&[]);
    let target = dir.path().join("router.wasm");
    let host = host();
    let _watch = sluice::plugins::watch::watch(host.registry().clone(), dir.path()).unwrap();
    let (good, other) = (built("complexity-router"), built("testing/constant-router"));

    assert!(matches!(
        host.registry().snapshot().status("router"),
        PluginStatus::Missing { rejected: None }
    ));
    assert_eq!(
        route_of(&host),
        (Route::Local, true),
        "a missing router falls back to local"
    );

    std::fs::copy(&good, &target).unwrap(); // create
    wait_for(&host, "create", |s| {
        s.get("router").is_some_and(|p| p.sha256 == sha256(&good))
    });
    assert_eq!(route_of(&host), (Route::Local, false));

    std::fs::write(&target, std::fs::read(&other).unwrap()).unwrap(); // overwrite in place
    wait_for(&host, "overwrite", |s| {
        s.get("router").is_some_and(|p| p.sha256 == sha256(&other))
    });
    assert_eq!(route_of(&host), (Route::Escalate, false));

    rename_over(&good, &target); // rename-over
    wait_for(&host, "rename-over", |s| {
        s.get("router").is_some_and(|p| p.sha256 == sha256(&good))
    });

    std::fs::remove_file(&target).unwrap(); // delete
    wait_for(&host, "delete", |s| s.get("router").is_none());
    let routed = host.engine().block_on(host.registry().snapshot().route(
        "router",
        &ctx(),
        &CallSettings::default(),
    ));
    assert_eq!(routed.decision.route, Route::Local);
    let reason = routed.fallback.expect("falls back").to_string();
    assert!(reason.contains("plugin router is not loaded"), "{reason}");

    std::fs::copy(&other, &target).unwrap(); // put back
    wait_for(&host, "restore", |s| {
        matches!(s.status("router"), PluginStatus::Ready { .. })
    });
    assert_eq!(route_of(&host), (Route::Escalate, false));
}

#[test]
fn a_plugin_built_for_the_previous_contract_is_called_through_the_adapter() {
    let dir = folder(&[("testing/constant-router", "router")]);
    let host = host();
    host.registry().load_dir(dir.path());
    let set = host.registry().snapshot();
    let plugin = set.get("router").expect("a 0.1 router loads");
    assert_eq!(plugin.contract_version, "0.1.0");
    let why = plugin.deprecated.clone().expect("marked deprecated");
    assert!(why.contains("adapter"), "{why}");
    let routed = host
        .engine()
        .block_on(set.route("router", &ctx(), &CallSettings::default()));
    assert!(routed.fallback.is_none(), "{:?}", routed.fallback);
    assert_eq!(routed.decision.route, Route::Escalate);
    assert_eq!(routed.decision.reasons, ["constant router"]);
    assert!(routed.decision.doubtful.is_empty());
}

#[test]
fn a_bad_first_file_leaves_a_clear_status() {
    let dir = folder(&[("testing/wrong-version", "router")]);
    let host = host();
    host.registry().load_dir(dir.path());
    match host.registry().snapshot().status("router") {
        PluginStatus::Missing {
            rejected: Some(why),
        } => assert!(
            why.contains("version stage") && why.contains("2.0.0"),
            "{why}"
        ),
        other => panic!("unexpected status {other:?}"),
    }
}

#[test]
fn restart_loads_compiled_artifacts_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let dir = folder(&[
        ("complexity-router", "router"),
        ("confidence-merge", "merge"),
    ]);
    let config = || sluice::plugins::HostConfig {
        cache_dir: cache.path().to_path_buf(),
        ..config()
    };
    let cold = sluice::plugins::PluginHost::start(config()).unwrap();
    cold.registry().load_dir(dir.path());
    assert!(cold.registry().snapshot().plugins().all(|p| !p.from_cache));
    drop(cold);
    let warm = sluice::plugins::PluginHost::start(config()).unwrap();
    warm.registry().load_dir(dir.path());
    let set = warm.registry().snapshot();
    assert_eq!(set.plugins().count(), 2);
    assert!(
        set.plugins().all(|p| p.from_cache),
        "a restart must not compile again"
    );
    assert!(
        warm.engine()
            .block_on(set.route("router", &ctx(), &CallSettings::default()))
            .fallback
            .is_none()
    );
    std::thread::sleep(Duration::from_millis(1));
}

#[tokio::test]
async fn anonymiser_failure_fails_closed_and_merger_failure_keeps_local_for_review() {
    use sluice::plugins::contract::{Candidate, Choice, PiiKind};
    let dir = folder(&[("test-anonymiser", "pii"), ("confidence-merge", "merge")]);
    let host = host();
    host.registry().load_dir(dir.path());
    let set = host.registry().snapshot();
    let settings = CallSettings::default();

    let text = "Escribir a ana.gomez@example.co o al 3001234567";
    let spans = (set.detect("pii", text, "es", &settings).await).expect("detects");
    let kinds: Vec<_> = spans
        .iter()
        .map(|s| (&text[s.start as usize..s.end as usize], s.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("ana.gomez@example.co", PiiKind::Email),
            ("3001234567", PiiKind::NationalId)
        ]
    );
    let closed = set
        .detect("missing-pii", text, "es", &settings)
        .await
        .expect_err("a missing anonymiser fails closed");
    assert!(closed.to_string().contains("failing closed"), "{closed}");

    let local = Candidate {
        json: r#"{"a":"x","b":1}"#.into(),
        confidence: 0.8,
        fields: ctx().fields,
    };
    let cloud = Candidate {
        json: r#"{"a":"y","b":1}"#.into(),
        confidence: 0.9,
        fields: Vec::new(),
    };
    let schema = r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}}"#;
    let merged = set.merge("merge", &local, &cloud, schema, &settings).await;
    assert!(merged.fallback.is_none());
    assert_eq!(
        (merged.decision.choice, merged.decision.diverged.clone()),
        (Choice::Cloud, vec!["a".to_string()])
    );
    let failed = (set.merge("no-such-merger", &local, &cloud, schema, &settings)).await;
    assert_eq!(failed.decision.choice, Choice::Local);
    assert!(failed.review && failed.fallback.is_some());
}
