//! One table of routing cases; the Rust, Python and JavaScript routers must
//! give the same decision and the same reasons for every one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sluice::plugins::CallSettings;
use sluice::plugins::contract::{DocumentFeatures, FieldSignal, Route, RouteContext};

use crate::support::*;

struct Case {
    tags: &'static [&'static str],
    confidence: f32,
    tokens: u32,
    triage: Option<&'static str>,
    budget: f64,
    sample: f64,
    config: &'static [(&'static str, &'static str)],
    /// Per-field confidences (calibrated where the name ends in `*`).
    fields: &'static [(&'static str, f32)],
    /// Parties, governing laws, clause kinds found, risk flags.
    document: Option<(u32, u32, &'static [&'static str], &'static [&'static str])>,
    route: Route,
    /// The fields the router names doubtful.
    doubtful: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 1200,
        triage: Some(r#"{"escalate_to_cloud":false}"#),
        budget: 5.0,
        sample: 0.5,
        config: &[],
        fields: &[],
        document: None,
        route: Route::Local,
        doubtful: &[],
    },
    Case {
        tags: &[],
        confidence: 0.42,
        tokens: 1200,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[],
        fields: &[],
        document: None,
        route: Route::Escalate,
        doubtful: &[],
    },
    Case {
        tags: &["Litigation"],
        confidence: 0.9,
        tokens: 1200,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[],
        fields: &[],
        document: None,
        route: Route::Escalate,
        doubtful: &[],
    },
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 4000,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[],
        fields: &[],
        document: None,
        route: Route::Escalate,
        doubtful: &[],
    },
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 2600,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[("max_input_tokens", "2500.5")],
        fields: &[],
        document: None,
        route: Route::Escalate,
        doubtful: &[],
    },
    Case {
        tags: &["hard"],
        confidence: 0.3,
        tokens: 9000,
        triage: Some(r#"{"escalate_to_cloud":true}"#),
        budget: 5.0,
        sample: 0.5,
        config: &[],
        fields: &[],
        document: None,
        route: Route::Escalate,
        doubtful: &[],
    },
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 100,
        triage: Some("not json"),
        budget: 5.0,
        sample: 0.5,
        config: &[],
        fields: &[],
        document: None,
        route: Route::Local,
        doubtful: &[],
    },
    Case {
        tags: &["hard"],
        confidence: 0.1,
        tokens: 100,
        triage: None,
        budget: 0.0,
        sample: 0.5,
        config: &[],
        fields: &[],
        document: None,
        route: Route::Local,
        doubtful: &[],
    },
    Case {
        tags: &["pii", "Secret"],
        confidence: 0.9,
        tokens: 100,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[("reject_tags", " secret , x")],
        fields: &[],
        document: None,
        route: Route::Reject,
        doubtful: &[],
    },
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 100,
        triage: None,
        budget: 5.0,
        sample: 0.1,
        config: &[("parallel_share", "0.2")],
        fields: &[],
        document: None,
        route: Route::Parallel,
        doubtful: &[],
    },
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 100,
        triage: None,
        budget: 5.0,
        sample: 0.3,
        config: &[("parallel_share", "0.2")],
        fields: &[],
        document: None,
        route: Route::Local,
        doubtful: &[],
    },
    Case {
        tags: &[],
        confidence: 0.75,
        tokens: 100,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[("min_confidence", "0.8"), ("escalate_tags", "")],
        fields: &[],
        document: None,
        route: Route::Escalate,
        doubtful: &[],
    },
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 100,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[("field_thresholds", "governing_law:0.6, parties:0.5")],
        fields: &[
            ("governing_law*", 0.42),
            ("parties*", 0.81),
            ("agreement_date", 0.3),
        ],
        document: Some((2, 1, &["governing_law"], &[])),
        route: Route::Escalate,
        doubtful: &["governing_law"],
    },
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 100,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[
            ("field_thresholds", "governing_law:0.6,parties:0.5"),
            ("require_governing_law", "true"),
            ("max_governing_laws", "1"),
            ("max_parties", "2"),
            (
                "flag_escalations",
                "missing_cap_on_liability:indemnification",
            ),
        ],
        fields: &[("governing_law*", 0.71), ("parties*", 0.66)],
        document: Some((
            2,
            1,
            &["governing_law", "indemnification"],
            &["missing_audit_rights"],
        )),
        route: Route::Local,
        doubtful: &[],
    },
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 100,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[
            ("require_governing_law", "true"),
            ("max_parties", "2"),
            (
                "flag_escalations",
                "missing_cap_on_liability:indemnification, missing_insurance:indemnification",
            ),
        ],
        fields: &[("parties", 0.97)],
        document: Some((
            4,
            0,
            &["indemnification"],
            &["missing_governing_law", "missing_cap_on_liability"],
        )),
        route: Route::Escalate,
        doubtful: &["governing_law", "parties", "risk_flags"],
    },
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 100,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[
            ("max_governing_laws", "1.5"),
            ("require_governing_law", "false"),
        ],
        fields: &[],
        document: Some((2, 3, &["governing_law"], &[])),
        route: Route::Escalate,
        doubtful: &["governing_law"],
    },
    Case {
        tags: &[],
        confidence: 0.9,
        tokens: 100,
        triage: None,
        budget: 5.0,
        sample: 0.5,
        config: &[("require_governing_law", "true"), ("max_parties", "2")],
        fields: &[],
        document: None,
        route: Route::Local,
        doubtful: &[],
    },
];

const ROUTERS: [&str; 3] = [
    "complexity-router",
    "complexity-router-py",
    "complexity-router-js",
];

/// The three routers, loaded (the folder and host must outlive the set's use).
fn routers() -> (
    tempfile::TempDir,
    sluice::plugins::PluginHost,
    Arc<sluice::plugins::PluginSet>,
) {
    let dir = folder(&ROUTERS.map(|n| (n, n)));
    let host = host();
    host.registry().load_dir(dir.path());
    let set = host.registry().snapshot();
    for name in ROUTERS {
        assert!(set.get(name).is_some(), "{name}: {:?}", set.status(name));
    }
    (dir, host, set)
}

#[test]
fn rust_python_and_javascript_routers_agree() {
    let (_dir, host, set) = routers();
    let names = ROUTERS;
    for (i, case) in CASES.iter().enumerate() {
        let ctx = RouteContext {
            tags: case.tags.iter().map(|t| t.to_string()).collect(),
            confidence: case.confidence,
            input_tokens: case.tokens,
            triage_json: case.triage.map(str::to_string),
            budget_left_usd: case.budget,
            sample: case.sample,
            fields: case
                .fields
                .iter()
                .map(|(name, confidence)| FieldSignal {
                    name: name.trim_end_matches('*').to_string(),
                    confidence: *confidence,
                    calibrated: name.ends_with('*'),
                    evidence: true,
                })
                .collect(),
            document: case
                .document
                .map(|(parties, laws, kinds, flags)| DocumentFeatures {
                    clauses: 30,
                    parties,
                    governing_laws: laws,
                    clause_kinds: kinds.iter().map(|k| k.to_string()).collect(),
                    risk_flags: flags.iter().map(|f| f.to_string()).collect(),
                }),
            ..ctx()
        };
        let config: BTreeMap<String, String> = case
            .config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let settings = CallSettings {
            config: Arc::new(config),
            deadline: Duration::from_millis(200),
            ..CallSettings::default()
        };
        let answers: Vec<_> = names
            .iter()
            .map(|name| {
                let routed = host.engine().block_on(set.route(name, &ctx, &settings));
                assert!(
                    routed.fallback.is_none(),
                    "case {i}, {name}: {:?}",
                    routed.fallback
                );
                (
                    routed.decision.route,
                    routed.decision.reasons,
                    routed.decision.doubtful,
                )
            })
            .collect();
        assert_eq!(answers[0].0, case.route, "case {i}: {:?}", answers[0]);
        assert_eq!(answers[0].2, case.doubtful, "case {i}: {:?}", answers[0]);
        assert_eq!(answers[0], answers[1], "case {i}: Rust and Python differ");
        assert_eq!(
            answers[0], answers[2],
            "case {i}: Rust and JavaScript differ"
        );
    }
}

#[test]
fn a_bad_setting_is_a_plugin_failure_in_every_language() {
    let (_dir, host, set) = routers();
    let names = ROUTERS;
    let config = BTreeMap::from([("min_confidence".to_string(), "high".to_string())]);
    let settings = CallSettings {
        config: Arc::new(config),
        deadline: Duration::from_millis(200),
        ..CallSettings::default()
    };
    for name in names {
        let routed = host.engine().block_on(set.route(name, &ctx(), &settings));
        assert!(routed.fallback.is_some(), "{name} accepted a bad setting");
        assert_eq!(routed.decision.route, Route::Local);
    }
}
