//! The command line's subcommands, one file each.

pub mod audit;
pub mod calibrate;
pub mod local;
pub mod plugins;
pub mod replay;
pub mod run;
pub mod serve;

use std::path::PathBuf;

use sluice::cloud::CloudConfig;
use sluice::config::Config;
use sluice::local::Backend;
use sluice::pipeline::Setup;
use sluice::plugins::HostConfig;

/// Where the commands that run policies find them, log, and read their
/// configuration.
#[derive(clap::Args)]
pub struct StackArgs {
    /// The folder of policies and plugins.
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
    /// The audit log (default: $SLUICE_HOME/audit/audit.jsonl).
    #[arg(long)]
    audit: Option<PathBuf>,
    /// The configuration file (default: $SLUICE_CONFIG, else ./sluice.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

impl StackArgs {
    pub fn config(&self) -> anyhow::Result<Config> {
        Config::load(self.config.as_deref())
    }

    /// The pipeline's setup: the embedded model, `queue` requests waiting
    /// for it, the cloud from the environment, watchers if `watch`.
    pub fn setup(&self, config: &Config, queue: usize, watch: bool) -> Setup {
        Setup {
            policies_dir: self.policies.clone(),
            audit_path: self
                .audit
                .clone()
                .unwrap_or_else(sluice::audit::default_path),
            backend: Backend::embedded(),
            queue,
            cloud: CloudConfig::from_env(config.cloud.clone()),
            plugin_host: HostConfig::default(),
            watch,
        }
    }
}
