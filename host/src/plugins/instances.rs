//! Instantiating and calling a plugin version: an `InstancePre` per version,
//! and either a fresh store per call or a small lock-free pool of warm
//! instances. A call that fails for any reason discards its instance.
//!
//! Every call (and every instantiation) is a future bounded by its deadline
//! whatever the plugin does:
//! - running its own code, it meets the epoch callback, which yields to the
//!   executor every tick and interrupts it once the deadline has passed
//!   (`Trap::Interrupt`);
//! - waiting inside a WASI import (a clock subscription, a poll), it is
//!   dropped by the call's timeout;
//! - a panic anywhere inside the call, host functions included, is caught
//!   here and becomes the plugin's `PluginError::Panic`.
//!
//! All three end as the plugin's typed error, so the world's fallback, the
//! health count and the audit record follow as for any other failure.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::plugins::contract::{
    Anonymiser, AnonymiserPre, Extractor, ExtractorPre, Merger, MergerPre, Router, RouterPre,
};
use crate::plugins::engine::PluginEngine;
use crate::plugins::error::PluginError;
use crate::plugins::legacy;
use crate::plugins::sandbox::{CallSettings, MemoryLimitExceeded, State};

/// How a call gets its instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceMode {
    /// A new store and instance for every call: nothing survives between calls.
    Fresh,
    /// Reuse a warm instance from a pool; one that trapped is never reused.
    Pooled,
}

/// A world's pre-linked component, ready to instantiate.
pub trait WorldPre: Send + Sync + 'static {
    type Bindings: Send + Sync + 'static;
    fn instantiate<'a>(
        &'a self,
        store: &'a mut Store<State>,
    ) -> BoxFuture<'a, wasmtime::Result<Self::Bindings>>;
}

macro_rules! world_pre {
    ($pre:ty, $bindings:ty) => {
        impl WorldPre for $pre {
            type Bindings = $bindings;
            fn instantiate<'a>(
                &'a self,
                store: &'a mut Store<State>,
            ) -> BoxFuture<'a, wasmtime::Result<$bindings>> {
                Box::pin(self.instantiate_async(store))
            }
        }
    };
}
world_pre!(RouterPre<State>, Router);
world_pre!(AnonymiserPre<State>, Anonymiser);
world_pre!(MergerPre<State>, Merger);
world_pre!(ExtractorPre<State>, Extractor);
world_pre!(legacy::RouterPre<State>, legacy::Router);
world_pre!(legacy::AnonymiserPre<State>, legacy::Anonymiser);
world_pre!(legacy::MergerPre<State>, legacy::Merger);

/// An instance and its store. A call takes it and hands it back with its
/// result; a call dropped at its deadline drops it too.
pub struct Warm<B> {
    pub store: Store<State>,
    pub bindings: B,
}

/// The instances of one plugin version.
pub struct Instances<P: WorldPre> {
    engine: Arc<PluginEngine>,
    name: Arc<str>,
    pre: P,
    pool: ArrayQueue<Warm<P::Bindings>>,
}

impl<P: WorldPre> Instances<P> {
    pub fn new(engine: Arc<PluginEngine>, name: Arc<str>, pre: P) -> Instances<P> {
        let pool = ArrayQueue::new(engine.config.pool_size.max(1));
        Instances {
            engine,
            name,
            pre,
            pool,
        }
    }

    async fn instantiate(&self, settings: &CallSettings) -> Result<Warm<P::Bindings>, PluginError> {
        let mut store = Store::new(&self.engine.engine, State::new(self.name.clone(), settings));
        store.limiter(|state| &mut state.memory);
        // Yield to the executor every tick; interrupt once the call's time is up.
        store.epoch_deadline_callback(|store| {
            Ok(if Instant::now() >= store.data().call_ends {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store.set_epoch_deadline(1);
        let instantiated = bounded(settings.deadline, self.pre.instantiate(&mut store)).await;
        store.data_mut().flush_output();
        match instantiated {
            Ok(Ok(bindings)) => Ok(Warm { store, bindings }),
            Ok(Err(e)) => Err(classify(e, settings)),
            Err(stopped) => Err(stopped.into_error(settings)),
        }
    }

    /// A smoke instantiation under `settings`, on the calling thread. Pooled
    /// versions keep the instance warm for their first call.
    pub fn smoke(&self, settings: &CallSettings, mode: InstanceMode) -> Result<(), PluginError> {
        let warm = self.engine.block_on(self.instantiate(settings))?;
        if mode == InstanceMode::Pooled {
            let _ = self.pool.push(warm);
        }
        Ok(())
    }

    /// Run `f` on an instance under the deadline and memory cap of `settings`.
    pub async fn call<'c, R>(
        &self,
        mode: InstanceMode,
        settings: &CallSettings,
        f: impl FnOnce(Warm<P::Bindings>) -> BoxFuture<'c, (Warm<P::Bindings>, wasmtime::Result<R>)>,
    ) -> Result<R, PluginError> {
        let pooled = match mode {
            InstanceMode::Pooled => self.pool.pop(),
            InstanceMode::Fresh => None,
        };
        let mut warm = match pooled {
            Some(warm) => warm,
            None => self.instantiate(settings).await?,
        };
        warm.store.data_mut().reset_for_call(settings);
        warm.store.set_epoch_deadline(1);
        let (mut warm, result) = match bounded(settings.deadline, f(warm)).await {
            Ok(called) => called,
            Err(stopped) => return Err(stopped.into_error(settings)),
        };
        warm.store.data_mut().flush_output();
        match result {
            Ok(value) => {
                if mode == InstanceMode::Pooled {
                    // A full pool just drops the extra instance.
                    let _ = self.pool.push(warm);
                }
                Ok(value)
            }
            Err(e) => Err(classify(e, settings)),
        }
    }

    /// Drop every warm instance (a version leaving service).
    pub fn drain(&self) {
        while self.pool.pop().is_some() {}
    }
}

/// Why a bounded future ended without an outcome.
enum Stopped {
    /// Still waiting inside a host call at its deadline.
    Deadline,
    Panic(String),
}

impl Stopped {
    fn into_error(self, settings: &CallSettings) -> PluginError {
        match self {
            Stopped::Deadline => PluginError::Timeout(settings.deadline),
            Stopped::Panic(message) => PluginError::Panic(message),
        }
    }
}

/// `future` under `deadline`, with any panic inside it caught. The epoch
/// callback stops a plugin that runs; this timeout stops one that waits.
async fn bounded<T>(
    deadline: Duration,
    future: impl std::future::Future<Output = T>,
) -> Result<T, Stopped> {
    match tokio::time::timeout(deadline, AssertUnwindSafe(future).catch_unwind()).await {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(panic)) => Err(Stopped::Panic(panic_message(&*panic))),
        Err(_elapsed) => Err(Stopped::Deadline),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}

/// Turn a wasmtime error into a typed plugin error, by type, never by text.
fn classify(error: wasmtime::Error, settings: &CallSettings) -> PluginError {
    if let Some(limit) = error.downcast_ref::<MemoryLimitExceeded>() {
        return PluginError::MemoryLimit {
            limit: limit.limit,
            requested: limit.requested,
        };
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        if *trap == Trap::Interrupt {
            return PluginError::Timeout(settings.deadline);
        }
        return PluginError::Trap {
            trap: *trap,
            detail: None,
        };
    }
    PluginError::Failed(format!("{error:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_or_a_wait_inside_a_call_ends_it_with_a_typed_error() {
        let settings = CallSettings::default();
        let panicked: Result<(), Stopped> =
            bounded(settings.deadline, async { panic!("host function bug") }).await;
        let error = panicked.unwrap_err().into_error(&settings);
        assert!(
            matches!(&error, PluginError::Panic(m) if m == "host function bug"),
            "{error:?}"
        );

        let started = std::time::Instant::now();
        let waited = bounded(settings.deadline, std::future::pending::<()>()).await;
        let error = waited.unwrap_err().into_error(&settings);
        assert!(matches!(error, PluginError::Timeout(d) if d == settings.deadline));
        assert!(started.elapsed() < settings.deadline + Duration::from_millis(50));
    }
}
