//! The plugin host: loads WebAssembly components that implement the
//! `sluice:policy` worlds (router, anonymiser, merger), runs every call in a
//! sandbox under a deadline and a memory cap, hot-swaps new versions, and
//! applies each world's failure policy when a plugin misbehaves.
//!
//! It owns the wasmtime engine and everything that touches guest code. It must
//! never let a plugin failure escape as a panic, never change the serving
//! version on a bad file, and never take a write lock on the call path.
//!
//! Calls are async: a call is a future that its deadline can drop, wherever
//! the plugin is (see `instances`).
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use sluice::plugins::{PluginHost, HostConfig, CallSettings, contract::RouteContext};
//! let host = PluginHost::start(HostConfig::default())?;
//! host.registry().load_dir(std::path::Path::new("policies"));
//! let set = host.registry().snapshot();            // one version of every plugin for this request
//! let ctx = RouteContext::example();
//! let routed = set.route("complexity-router", &ctx, &CallSettings::default()).await;
//! println!("{:?} {:?}", routed.decision.route, routed.fallback);
//! # Ok(()) }
//! ```

pub mod cache;
pub mod check;
pub mod contract;
pub mod engine;
pub mod error;
pub mod failure;
pub mod health;
pub mod instances;
pub mod legacy;
pub mod loader;
pub mod plugin;
pub mod registry;
pub mod sandbox;
pub mod settings;
pub mod watch;

pub use engine::{HostConfig, PluginEngine, PluginHost};
pub use error::{PluginError, Stage};
pub use failure::{Merged, Routed};
pub use instances::InstanceMode;
pub use plugin::Plugin;
pub use registry::{PluginSet, PluginStatus, Registry};
pub use sandbox::CallSettings;
pub use settings::PluginSettings;
