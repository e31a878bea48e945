//! The one wasmtime engine every plugin runs on: component model, pooling
//! allocator (on-demand allocation where the address space is too small),
//! epoch interruption driven by a single ticker thread, and the linker that
//! offers plugins the `host` interface and a WASI that grants nothing.
//!
//! Plugins are called asynchronously (WASI linked in its async form), so a
//! call is a future that its deadline can drop wherever the plugin is: in
//! its own code (the epoch callback interrupts it) or waiting inside a WASI
//! import such as a clock subscription (the call's timeout drops it). The
//! engine also owns a one-thread timer runtime, so that blocking callers
//! (the loader's smoke instantiation) get the same deadlines.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::plugins::cache::ArtifactCache;
use crate::plugins::registry::Registry;
use crate::plugins::sandbox::{CallSettings, State};
use crate::plugins::{contract, legacy};

/// How often the epoch advances: the resolution of every plugin deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Bytes of a freed instance's memory (and of each table) reset in place
/// rather than handed back to the kernel: enough for the detector's word
/// tables and its working memory on a 64 KB text.
const KEEP_RESIDENT: usize = 4 << 20;

/// Settings of the plugin host as a whole.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Where compiled components are cached, keyed by the file's sha256.
    pub cache_dir: PathBuf,
    /// Largest plugin file accepted, in bytes.
    pub max_file_bytes: u64,
    /// Limits of the smoke instantiation and the defaults of every call.
    pub defaults: CallSettings,
    /// A plugin that fails this many times ...
    pub quarantine_after: usize,
    /// ... within this window is quarantined until a new version arrives.
    pub quarantine_window: Duration,
    /// How many warm instances a pooled plugin keeps.
    pub pool_size: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            cache_dir: crate::home_dir().join("cache").join("components"),
            max_file_bytes: 128 << 20,
            defaults: CallSettings::default(),
            quarantine_after: 5,
            quarantine_window: Duration::from_secs(60),
            pool_size: 16,
        }
    }
}

/// The engine, its linker and its compiled-artifact cache; shared by every plugin.
pub struct PluginEngine {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<State>,
    pub(crate) cache: ArtifactCache,
    pub(crate) config: HostConfig,
    pub pooling: bool,
    ticking: Arc<AtomicBool>,
    /// Drives the timers of calls made through [`PluginEngine::block_on`].
    timers: Option<tokio::runtime::Runtime>,
}

impl PluginEngine {
    pub fn new(config: HostConfig) -> anyhow::Result<Arc<PluginEngine>> {
        let (engine, pooling) = match Engine::new(&engine_config(true)) {
            Ok(engine) => (engine, true),
            Err(e) => {
                tracing::warn!(
                    "pooling allocator unavailable ({e}); falling back to on-demand instance allocation, which makes each fresh instance slower"
                );
                (
                    Engine::new(&engine_config(false))
                        .map_err(anyhow::Error::from)
                        .context("creating the wasmtime engine")?,
                    false,
                )
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        contract::add_host_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)
            .context("linking the sluice:policy/host interface")?;
        legacy::add_host_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)
            .context("linking the deprecated sluice:policy/host@0.1.0 interface")?;
        let cache = ArtifactCache::new(config.cache_dir.clone(), &engine);
        let ticking = Arc::new(AtomicBool::new(true));
        spawn_ticker(engine.clone(), ticking.clone());
        let timers = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sluice-plugin-timers")
            .enable_time()
            .build()
            .context("starting the plugin timer thread")?;
        Ok(Arc::new(PluginEngine {
            engine,
            linker,
            cache,
            config,
            pooling,
            ticking,
            timers: Some(timers),
        }))
    }

    /// Run a plugin future to completion on the calling thread, from any
    /// thread, inside an async task or not; its timers (deadlines, a
    /// plugin's clock subscriptions) are driven by the engine's timer thread.
    /// For blocking work such as loading; requests await calls instead.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        let _timers = self.timers.as_ref().map(|rt| rt.handle().enter());
        futures::executor::block_on(future)
    }
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
        // Dropping a runtime waits for its threads, which an async context forbids.
        if let Some(timers) = self.timers.take() {
            timers.shutdown_background();
        }
    }
}

fn engine_config(pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.parallel_compilation(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(512)
            .total_core_instances(4096)
            .total_memories(512)
            .total_tables(4096)
            .max_core_instances_per_component(64)
            .max_memories_per_component(8)
            .max_tables_per_component(64)
            .max_memory_size((crate::plugins::settings::MAX_MEMORY_MIB as usize) << 20)
            .table_elements(200_000)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            // Every call runs on its own stack (an async call is a fiber).
            .total_stacks(512)
            .max_unused_warm_slots(64)
            // Every call runs in a fresh instance. Resetting a freed linear
            // memory with `madvise` made the next instance fault its pages
            // back in (and the kernel flush TLBs across cores): most of a
            // small call's time. Instead the pages a call dirtied, up to
            // KEEP_RESIDENT, are found with PAGEMAP_SCAN (Linux 6.7+;
            // elsewhere the lowest KEEP_RESIDENT bytes) and reset with
            // `memset`, and stay mapped.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// One thread advances the engine's epoch every tick for the life of the engine.
fn spawn_ticker(engine: Engine, ticking: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("sluice-epoch".into())
        .spawn(move || {
            while ticking.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// The engine and the registry of loaded plugins, started together.
pub struct PluginHost {
    engine: Arc<PluginEngine>,
    registry: Arc<Registry>,
}

impl PluginHost {
    pub fn start(config: HostConfig) -> anyhow::Result<PluginHost> {
        let engine = PluginEngine::new(config)?;
        let registry = Arc::new(Registry::new(engine.clone()));
        Ok(PluginHost { engine, registry })
    }

    pub fn engine(&self) -> &Arc<PluginEngine> {
        &self.engine
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}
