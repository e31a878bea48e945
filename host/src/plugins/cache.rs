//! On-disk cache of compiled components, keyed by the source file's sha256
//! and the engine's compatibility hash, so that a restart does not pay for
//! compiling a large (Python, JavaScript) component again.
//!
//! Only files this cache wrote are ever deserialised, and they are written
//! atomically (temporary file, then rename): a torn write is never read back.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::PathBuf;

use wasmtime::Engine;
use wasmtime::component::Component;

pub struct ArtifactCache {
    dir: PathBuf,
    engine_tag: String,
}

impl ArtifactCache {
    pub fn new(dir: PathBuf, engine: &Engine) -> ArtifactCache {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ArtifactCache {
            dir,
            engine_tag: format!("{:016x}", hasher.finish()),
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_tag))
    }

    /// The cached compilation of the file with this digest, if there is a usable one.
    pub fn get(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was produced by `Component::serialize` for an engine
        // with the same compatibility hash, and written by `put` only.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding unusable cached artifact: {e}");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Store a compilation; failures only cost a recompile later, so they are logged, not returned.
    pub fn put(&self, sha256: &str, component: &Component) {
        let result = (|| -> anyhow::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let bytes = component.serialize()?;
            let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
            tmp.write_all(&bytes)?;
            tmp.as_file().sync_all()?;
            tmp.persist(self.path(sha256))?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), "could not cache a compiled plugin: {e}");
        }
    }
}
