//! Instantiating and calling a plugin version: an `InstancePre` per version,
//! and either a fresh store per call or a small lock-free pool of warm
//! instances. A call that fails for any reason discards its instance.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use wasmtime::{Store, Trap};

use crate::plugins::contract::{Anonymiser, AnonymiserPre, Merger, MergerPre, Router, RouterPre};
use crate::plugins::engine::PluginEngine;
use crate::plugins::error::PluginError;
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
    fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Self::Bindings>;
}

macro_rules! world_pre {
    ($pre:ty, $bindings:ty) => {
        impl WorldPre for $pre {
            type Bindings = $bindings;
            fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<$bindings> {
                <$pre>::instantiate(self, store)
            }
        }
    };
}
world_pre!(RouterPre<State>, Router);
world_pre!(AnonymiserPre<State>, Anonymiser);
world_pre!(MergerPre<State>, Merger);

struct Warm<B> {
    store: Store<State>,
    bindings: B,
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

    fn instantiate(&self, settings: &CallSettings) -> Result<Warm<P::Bindings>, PluginError> {
        let mut store = Store::new(&self.engine.engine, State::new(self.name.clone(), settings));
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(PluginEngine::deadline_ticks(settings.deadline));
        store.epoch_deadline_trap();
        match self.pre.instantiate(&mut store) {
            Ok(bindings) => Ok(Warm { store, bindings }),
            Err(e) => {
                store.data_mut().flush_output();
                Err(classify(e, settings))
            }
        }
    }

    /// A smoke instantiation under `settings`, then thrown away.
    pub fn smoke(&self, settings: &CallSettings) -> Result<(), PluginError> {
        self.instantiate(settings).map(drop)
    }

    /// Run `f` on an instance under the deadline and memory cap of `settings`.
    pub fn call<R>(
        &self,
        mode: InstanceMode,
        settings: &CallSettings,
        f: impl FnOnce(&P::Bindings, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let pooled = match mode {
            InstanceMode::Pooled => self.pool.pop(),
            InstanceMode::Fresh => None,
        };
        let mut warm = match pooled {
            Some(warm) => warm,
            None => self.instantiate(settings)?,
        };
        warm.store.data_mut().reset_for_call(settings);
        warm.store
            .set_epoch_deadline(PluginEngine::deadline_ticks(settings.deadline));
        let result = f(&warm.bindings, &mut warm.store);
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
