//! A running stack for the tests that need one: a policies folder (the
//! shipped policies and the plugins they use, beside a copy of `schemas/`)
//! with an audit log, the embedded model, a cloud on the fake, and the
//! pipeline over them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sluice::audit::AuditLog;
use sluice::cloud::{CloudClient, CloudConfig, Price};
use sluice::local::{self, Backend, LocalRuntime};
use sluice::pipeline::{Budgets, Divergence, Pipeline, Policies, Request};
use sluice::plugins::{CallSettings, PluginHost};

use crate::fake_cloud::FakeCloud;
use crate::support::{built, host, root};

/// A policies folder (the shipped policies, `extra` ones, the plugins they
/// use) beside a copy of `schemas/`, and an audit log.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new(extra: &[(&str, &str)]) -> Workspace {
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        Workspace::with_policies(&extra)
    }

    /// As [`Workspace::new`], with the extra policies' names and texts owned.
    pub fn with_policies(extra: &[(String, String)]) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        let schemas = dir.path().join("schemas");
        std::fs::create_dir_all(&policies).unwrap();
        std::fs::create_dir_all(&schemas).unwrap();
        for entry in std::fs::read_dir(root().join("schemas")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, schemas.join(path.file_name().unwrap())).unwrap();
        }
        for entry in std::fs::read_dir(root().join("policies")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                std::fs::copy(&path, policies.join(path.file_name().unwrap())).unwrap();
            }
        }
        for plugin in [
            "complexity-router",
            "pii-detector",
            "confidence-merge",
            "pdf-extractor",
            "email-extractor",
            "docx-extractor",
            "html-extractor",
        ] {
            std::fs::copy(built(plugin), policies.join(format!("{plugin}.wasm"))).unwrap();
        }
        for (name, text) in extra {
            std::fs::write(policies.join(format!("{name}.toml")), text).unwrap();
        }
        Workspace { dir }
    }

    /// Put the built plugin `built_name` in the policies folder as `as_name`.
    pub fn add_plugin(&self, built_name: &str, as_name: &str) {
        std::fs::copy(
            built(built_name),
            self.policies().join(format!("{as_name}.wasm")),
        )
        .unwrap();
    }

    pub fn policies(&self) -> PathBuf {
        self.dir.path().join("policies")
    }

    pub fn audit(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }
}

pub fn model() -> LocalRuntime {
    let (engine, _) = local::load(&Backend::embedded()).expect("loading the embedded model");
    LocalRuntime::start(engine, 4)
}

/// A cloud on the fake: short timeout, quick retries, a price so budgets bind.
pub fn cloud_config(fake: &FakeCloud) -> CloudConfig {
    let mut config = CloudConfig::at(&fake.url, "sk-test");
    config.settings.model = "fake".into();
    config.settings.timeout = Duration::from_secs(3);
    config.settings.retry.base_delay = Duration::from_millis(10);
    config.settings.retry.max_delay = Duration::from_millis(50);
    config.settings.breaker.failures = 1000;
    config.settings.prices.insert(
        "fake".into(),
        Price {
            input_usd_per_mtok: 2.5,
            output_usd_per_mtok: 15.0,
        },
    );
    config
}

pub struct Setup {
    pub pipeline: Arc<Pipeline>,
    pub host: PluginHost,
}

pub fn pipeline(ws: &Workspace, local: &LocalRuntime, cloud: Option<CloudConfig>) -> Setup {
    traced_pipeline(ws, local, cloud, None)
}

/// As [`pipeline`], exporting traces to `telemetry`.
pub fn traced_pipeline(
    ws: &Workspace,
    local: &LocalRuntime,
    cloud: Option<CloudConfig>,
    telemetry: Option<Arc<sluice::telemetry::Telemetry>>,
) -> Setup {
    let host = host();
    let audit = AuditLog::open(&ws.audit()).unwrap();
    host.registry().audit_to(audit.clone());
    host.registry().load_dir(&ws.policies());
    let policies = Policies::load(&ws.policies(), CallSettings::default(), Some(audit.clone()));
    assert!(
        policies.rejections().is_empty(),
        "{:?}",
        policies.rejections()
    );
    let pipeline = Arc::new(Pipeline {
        plugins: host.registry().clone(),
        policies,
        local: local.clone(),
        cloud: cloud.map(|c| Arc::new(CloudClient::new(c))),
        audit,
        budgets: Budgets::default(),
        divergence: Divergence::default(),
        shadows: Default::default(),
        telemetry,
    });
    Setup { pipeline, host }
}

/// A triage-escalate policy on the short intent schema whose router is the
/// plugin `router`.
pub fn routed_by(router: &str) -> String {
    format!(
        "pattern = \"triage-escalate\"\nschema = \"../schemas/intent.json\"\ntask = \"intent\"\n\
         [router]\nplugin = \"{router}\"\n[anonymiser]\nplugin = \"pii-detector\"\n"
    )
}

/// A request for `policy` with the router tags given and no caller schema.
pub fn request(id: &str, policy: &str, document: &str, tags: &[&str]) -> Request {
    Request {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..Request::document_for(id, policy, document)
    }
}
