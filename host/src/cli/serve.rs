//! `sluice serve`: the HTTP server on the shipped policies, the local model
//! and the cloud (or local-only mode), until Ctrl-C or SIGTERM; then the
//! requests in flight finish and the audit log is synced.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use sluice::api::{self, Api, Keys};
use sluice::pipeline::Pipeline;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Policies, plugins, audit log and configuration (the policies folder
    /// is watched: changes apply live).
    #[command(flatten)]
    stack: super::StackArgs,
    /// Listen here instead of server.listen.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Requests that may wait for the local model; past it, 503.
    #[arg(long, default_value_t = 8)]
    queue: usize,
}

/// A key from the environment, if set: keys in the clear never live in
/// the configuration file.
fn env_key(name: &str) -> Vec<String> {
    std::env::var(name)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .into_iter()
        .collect()
}

pub fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.stack.config()?;
    let mut settings = config.server.clone();
    if let Some(listen) = args.listen {
        settings.listen = listen;
    }
    let keys = Keys::new(
        &settings.api_keys,
        &settings.admin_keys,
        &env_key("SLUICE_API_KEY"),
        &env_key("SLUICE_ADMIN_KEY"),
    )
    .map_err(anyhow::Error::msg)?;
    if keys.is_empty() {
        anyhow::bail!(
            "no API key is configured: set SLUICE_API_KEY, or put a key's sha256 in [server] \
             api_keys of sluice.toml (`sluice key new` makes one)"
        );
    }
    let running = Pipeline::start(args.stack.setup(&config, args.queue, true))?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let policies: Vec<String> = running
            .pipeline
            .policies
            .snapshot()
            .keys()
            .cloned()
            .collect();
        eprintln!(
            "sluice listening on http://{} · policies: {} · cloud: {}",
            listener.local_addr()?,
            policies.join(", "),
            running
                .pipeline
                .cloud
                .as_ref()
                .map_or("none (local-only mode)".to_string(), |c| c
                    .model()
                    .to_string())
        );
        let api = Api::new(running.pipeline.clone(), settings, keys);
        api::serve(listener, api, shutdown()).await?;
        eprintln!("sluice stopped: requests in flight answered, audit log synced");
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    eprintln!("sluice: shutting down; finishing the requests in flight");
}

/// `sluice key new`: a fresh key and the digest the configuration stores.
pub fn new_key() -> anyhow::Result<ExitCode> {
    let key = format!("sk-sluice-{}", hex::encode(rand::random::<[u8; 24]>()));
    println!("key:    {key}");
    println!("sha256: {}", sluice::api::auth::hash_key(&key));
    eprintln!(
        "Put the sha256 in sluice.toml under [server] api_keys (or admin_keys). \
         The key itself is stored nowhere: keep it now."
    );
    Ok(ExitCode::SUCCESS)
}
