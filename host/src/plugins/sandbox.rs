//! What a plugin runs inside: a store whose WASI context grants nothing (no
//! preopened directories, no environment, no sockets, no name lookups, an
//! empty stdin), a memory cap enforced by a typed limiter, stdout and stderr
//! captured into the host's log with a cap, the plugin's settings for
//! `host.config`, and the instant its current call must end.
//!
//! What each import grants, and why none of them can hold a call past its
//! deadline, is listed in docs/plugins.md ("What the sandbox grants"): the
//! clocks read the real time and their subscriptions wait on the host's
//! timers (which the call's timeout drops); random bytes are capped per
//! call; `host.config` answers nothing for keys over `CONFIG_KEY_CAP`.
//!
//! Nothing here may hand a plugin a capability; widening the sandbox is a
//! design change, not a setting.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::plugins::contract::{self, Level};

/// Per-call limits and settings, from the policy file (or the defaults).
#[derive(Clone, Debug)]
pub struct CallSettings {
    /// Wall-clock budget of one call, enforced by epoch interruption.
    pub deadline: Duration,
    /// Cap on the sum of the plugin's linear memories, in bytes.
    pub memory_limit: usize,
    /// Cap on the bytes handed to the plugin in one call.
    pub max_input_bytes: usize,
    /// Cap on the bytes the plugin may hand back in one call.
    pub max_output_bytes: usize,
    /// The plugin's settings, read through `host.config`.
    pub config: Arc<BTreeMap<String, String>>,
}

impl Default for CallSettings {
    fn default() -> Self {
        CallSettings {
            deadline: Duration::from_millis(25),
            memory_limit: 64 << 20,
            max_input_bytes: 4 << 20,
            max_output_bytes: 1 << 20,
            config: Arc::default(),
        }
    }
}

/// Bytes of a plugin's stdout and stderr kept per call; the rest is dropped and counted.
pub const LOG_CAP_BYTES: usize = 16 << 10;
/// Longest single `host.log` message kept, in bytes.
pub const LOG_MESSAGE_CAP: usize = 2 << 10;
/// Longest `host.config` key looked up; a longer one answers `none` (no
/// policy file has such a key, and the lookup stays cheap).
pub const CONFIG_KEY_CAP: usize = 256;
/// Most random bytes a plugin may ask for in one WASI call.
pub const RANDOM_BYTES_CAP: u64 = 64 << 10;

/// The store data of one plugin instance.
pub struct State {
    plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) config: Arc<BTreeMap<String, String>>,
    output: CapturedOutput,
    logged_bytes: usize,
    /// When the current call (or instantiation) must have ended.
    pub(crate) call_ends: Instant,
}

impl State {
    pub fn new(plugin: Arc<str>, settings: &CallSettings) -> State {
        let output = CapturedOutput::default();
        let wasi = WasiCtxBuilder::new()
            .stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(RANDOM_BYTES_CAP)
            .build();
        State {
            plugin,
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap::new(settings.memory_limit),
            config: settings.config.clone(),
            output,
            logged_bytes: 0,
            call_ends: Instant::now() + settings.deadline,
        }
    }

    /// Prepare a (possibly reused) instance's state for the next call.
    pub fn reset_for_call(&mut self, settings: &CallSettings) {
        self.memory.limit = settings.memory_limit;
        self.config = settings.config.clone();
        self.logged_bytes = 0;
        self.call_ends = Instant::now() + settings.deadline;
    }

    /// Move what the plugin printed during the call to the host log.
    pub fn flush_output(&mut self) {
        let (text, dropped) = self.output.take();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            tracing::info!(plugin = %self.plugin, "{line}");
        }
        if dropped > 0 {
            tracing::warn!(plugin = %self.plugin, dropped, "plugin output over the {LOG_CAP_BYTES}-byte cap was dropped");
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl contract::Host for State {
    fn log(&mut self, level: Level, message: String) {
        if self.logged_bytes >= LOG_CAP_BYTES {
            return;
        }
        self.logged_bytes += message.len();
        let mut end = message.len().min(LOG_MESSAGE_CAP);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let (plugin, text) = (&*self.plugin, &message[..end]);
        match level {
            Level::Trace => tracing::trace!(plugin, "{text}"),
            Level::Debug => tracing::debug!(plugin, "{text}"),
            Level::Info => tracing::info!(plugin, "{text}"),
            Level::Warn => tracing::warn!(plugin, "{text}"),
            Level::Error => tracing::error!(plugin, "{text}"),
        }
    }

    fn config(&mut self, key: String) -> Option<String> {
        if key.len() > CONFIG_KEY_CAP {
            return None;
        }
        self.config.get(&key).cloned()
    }
}

/// The error a plugin's memory growth raises past its cap; matched by type.
#[derive(Debug, thiserror::Error)]
#[error("memory cap of {limit} bytes reached (asked for {requested})")]
pub struct MemoryLimitExceeded {
    pub limit: usize,
    pub requested: usize,
}

/// Caps the sum of a store's linear memories and traps (with a typed error)
/// on the growth that would pass it.
pub struct MemoryCap {
    limit: usize,
    used: usize,
}

impl MemoryCap {
    fn new(limit: usize) -> MemoryCap {
        MemoryCap { limit, used: 0 }
    }
}

/// Most table elements a plugin may grow to (functions, resources).
const TABLE_ELEMENTS_CAP: usize = 200_000;

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let requested = self.used - current.min(self.used) + desired;
        if requested > self.limit {
            return Err(MemoryLimitExceeded {
                limit: self.limit,
                requested,
            }
            .into());
        }
        self.used = requested;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS_CAP)
    }
}

/// A plugin's stdout and stderr: kept up to `LOG_CAP_BYTES`, the rest
/// accepted and dropped so that a chatty plugin is not failed for it.
#[derive(Clone, Default)]
struct CapturedOutput(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: usize,
}

impl CapturedOutput {
    fn take(&self) -> (String, usize) {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&c.kept).into_owned();
        let dropped = c.dropped;
        *c = Captured::default();
        (text, dropped)
    }

    fn push(&self, bytes: &[u8]) {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let room = LOG_CAP_BYTES.saturating_sub(c.kept.len());
        let keep = room.min(bytes.len());
        c.kept.extend_from_slice(&bytes[..keep]);
        c.dropped += bytes.len() - keep;
    }
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[async_trait::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
