//! Assembling a [`Pipeline`]: the plugin host on the policies folder, the
//! policies, the local model, the cloud (or local-only mode), the audit log
//! and today's budgets from it; and the watchers that hot-reload plugins and
//! policies.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::audit::AuditLog;
use crate::cloud::{CloudClient, CloudConfig};
use crate::local::{Backend, LocalRuntime};
use crate::pipeline::{Budgets, Divergence, Pipeline, Policies};
use crate::plugins::{CallSettings, HostConfig, PluginHost};
use crate::watch::Watcher;

pub struct Setup {
    /// Policy files and plugin components.
    pub policies_dir: PathBuf,
    pub audit_path: PathBuf,
    pub backend: Backend,
    /// Requests that may wait for the local model behind the running one.
    pub queue: usize,
    /// `None`: local-only mode.
    pub cloud: Option<CloudConfig>,
    pub plugin_host: HostConfig,
    /// Follow changes to the folder (a server does; a one-shot run need not).
    pub watch: bool,
}

/// A started pipeline and what keeps it current.
pub struct Running {
    pub pipeline: Arc<Pipeline>,
    _watchers: Vec<Watcher>,
}

impl Pipeline {
    pub fn start(setup: Setup) -> anyhow::Result<Running> {
        let audit = AuditLog::open(&setup.audit_path)?;
        let host = PluginHost::start(setup.plugin_host)?;
        let registry = host.registry().clone();
        registry.audit_to(audit.clone());
        registry.load_dir(&setup.policies_dir);
        let policies = Policies::load(
            &setup.policies_dir,
            CallSettings::default(),
            Some(audit.clone()),
        );
        let (engine, _) = crate::local::load(&setup.backend).context("loading the local model")?;
        let local = LocalRuntime::start(engine, setup.queue);
        let cloud = setup.cloud.map(|c| Arc::new(CloudClient::new(c)));
        if cloud.is_none() {
            tracing::info!(
                "local-only mode: no cloud is configured (set OPENAI_API_KEY to add one)"
            );
        }
        let mut watchers = Vec::new();
        if setup.watch {
            watchers.push(crate::plugins::watch::watch(
                registry.clone(),
                &setup.policies_dir,
            )?);
            watchers.push(crate::pipeline::policies::watch(policies.clone())?);
        }
        let pipeline = Arc::new(Pipeline {
            plugins: registry,
            policies,
            local,
            cloud,
            budgets: Budgets::from_log(audit.path()),
            divergence: Divergence::default(),
            shadows: Default::default(),
            telemetry: crate::telemetry::Telemetry::from_env()?.map(Arc::new),
            audit,
        });
        Ok(Running {
            pipeline,
            _watchers: watchers,
        })
    }
}
