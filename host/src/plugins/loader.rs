//! Turning a file into a serving plugin version, stage by stage: read (size
//! cap), parse (a component, fully validated before compiling), version (the
//! contract it was built for), compile (or take the cached artifact), link
//! (against the host's linker, for its world) and one smoke instantiation
//! under the normal limits. Each stage refuses with a typed `PluginError`.
//!
//! Loading is blocking work: call it from a blocking thread (the watcher's
//! own, or `spawn_blocking`), never from an async task.

use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use sha2::{Digest, Sha256};
use wasmparser::{Chunk, Encoding, Parser, Payload};
use wasmtime::component::Component;

use crate::plugins::contract::{self, AnonymiserPre, ExtractorPre, MergerPre, RouterPre, World};
use crate::plugins::engine::PluginEngine;
use crate::plugins::error::PluginError;
use crate::plugins::health::Health;
use crate::plugins::instances::{InstanceMode, Instances};
use crate::plugins::legacy;
use crate::plugins::plugin::{DEFAULT_MODE, Exports, Plugin};
use crate::plugins::sandbox::State;

/// Load the plugin file at `path`; its name is the file stem.
pub fn load_file(engine: &Arc<PluginEngine>, path: &Path) -> Result<Plugin, PluginError> {
    let bytes = read_file(engine, path)?;
    load_bytes(engine, path, &bytes, digest(&bytes))
}

/// Read a plugin file, refusing one over the size cap before reading it.
pub fn read_file(engine: &PluginEngine, path: &Path) -> Result<Vec<u8>, PluginError> {
    let limit = engine.config.max_file_bytes;
    let size = std::fs::metadata(path)
        .map_err(|e| PluginError::Read(e.to_string()))?
        .len();
    if size > limit {
        return Err(PluginError::Read(format!(
            "{size} bytes is over the {limit}-byte cap"
        )));
    }
    std::fs::read(path).map_err(|e| PluginError::Read(e.to_string()))
}

/// The sha256 of a file's bytes: a plugin version's identity.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Load a plugin from bytes already read and hashed (`sha256` is `digest(bytes)`).
pub fn load_bytes(
    engine: &Arc<PluginEngine>,
    path: &Path,
    bytes: &[u8],
    sha256: String,
) -> Result<Plugin, PluginError> {
    let limit = engine.config.max_file_bytes;
    if bytes.len() as u64 > limit {
        return Err(PluginError::Read(format!(
            "{} bytes is over the {limit}-byte cap",
            bytes.len()
        )));
    }
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    let exports = top_level_exports(bytes)?;
    let declared = contract::declared(&exports)?;

    let started = Instant::now();
    let (component, from_cache) = match engine.cache.get(&engine.engine, &sha256) {
        Some(component) => (component, true),
        None => {
            wasmparser::Validator::new()
                .validate_all(bytes)
                .map_err(|e| PluginError::Parse(e.to_string()))?;
            let component = Component::new(&engine.engine, bytes)
                .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
            engine.cache.put(&sha256, &component);
            (component, false)
        }
    };
    let compile_time = started.elapsed();

    let link = |e: wasmtime::Error| PluginError::Link(format!("{e:#}"));
    let pre = engine.linker.instantiate_pre(&component).map_err(link)?;
    let name: Arc<str> = Arc::from(name);
    let (world, deprecated) = (declared.world, declared.deprecated);
    let exports = match (world, deprecated) {
        (World::Router, false) => Exports::Router(Instances::new(
            engine.clone(),
            name.clone(),
            RouterPre::new(pre).map_err(link)?,
        )),
        (World::Anonymiser, false) => Exports::Anonymiser(Instances::new(
            engine.clone(),
            name.clone(),
            AnonymiserPre::new(pre).map_err(link)?,
        )),
        (World::Merger, false) => Exports::Merger(Instances::new(
            engine.clone(),
            name.clone(),
            MergerPre::new(pre).map_err(link)?,
        )),
        (World::Extractor, false) => Exports::Extractor(Instances::new(
            engine.clone(),
            name.clone(),
            ExtractorPre::new(pre).map_err(link)?,
        )),
        (World::Extractor, true) => {
            return Err(PluginError::Version {
                found: format!("{}@{}", contract::PACKAGE, declared.version),
                speaks: format!(
                    "{} for extractors, which the previous contract did not have",
                    contract::CONTRACT_VERSION
                ),
            });
        }
        (World::Router, true) => Exports::LegacyRouter(Instances::new(
            engine.clone(),
            name.clone(),
            legacy::RouterPre::new(pre).map_err(link)?,
        )),
        (World::Anonymiser, true) => Exports::LegacyAnonymiser(Instances::new(
            engine.clone(),
            name.clone(),
            legacy::AnonymiserPre::new(pre).map_err(link)?,
        )),
        (World::Merger, true) => Exports::LegacyMerger(Instances::new(
            engine.clone(),
            name.clone(),
            legacy::MergerPre::new(pre).map_err(link)?,
        )),
    };
    let defaults = &engine.config.defaults;
    match &exports {
        Exports::Router(i) => i.smoke(defaults, DEFAULT_MODE),
        Exports::Anonymiser(i) => i.smoke(defaults, InstanceMode::Fresh),
        Exports::Merger(i) => i.smoke(defaults, DEFAULT_MODE),
        Exports::Extractor(i) => i.smoke(defaults, InstanceMode::Fresh),
        Exports::LegacyRouter(i) => i.smoke(defaults, DEFAULT_MODE),
        Exports::LegacyAnonymiser(i) => i.smoke(defaults, InstanceMode::Fresh),
        Exports::LegacyMerger(i) => i.smoke(defaults, DEFAULT_MODE),
    }
    .map_err(|e| PluginError::Smoke(Box::new(e)))?;
    let media_types = match &exports {
        Exports::Extractor(instances) => media_types(engine, instances)?,
        _ => Vec::new(),
    };

    Ok(Plugin {
        name: name.to_string(),
        world: declared.world,
        deprecated: declared.deprecation(),
        media_types,
        contract_version: declared.version,
        sha256,
        path: path.to_path_buf(),
        loaded_at: SystemTime::now(),
        compile_time,
        from_cache,
        exports,
        health: Health::new(
            engine.config.quarantine_after,
            engine.config.quarantine_window,
        ),
    })
}

/// Most media types one extractor may declare, and the longest.
const MAX_MEDIA_TYPES: usize = 16;
const MAX_MEDIA_TYPE_LEN: usize = 127;

/// Asks an extractor which media types it reads: once, at load. They must
/// be well-formed `type/subtype` names; they are kept lowercase.
fn media_types(
    engine: &Arc<PluginEngine>,
    instances: &Instances<ExtractorPre<State>>,
) -> Result<Vec<String>, PluginError> {
    let smoke = |problem: String| PluginError::Smoke(Box::new(PluginError::InvalidOutput(problem)));
    let declared = engine
        .block_on(
            instances.call(InstanceMode::Fresh, &engine.config.defaults, |mut warm| {
                Box::pin(async move {
                    let extraction = warm.bindings.sluice_policy_extraction();
                    let result = extraction.call_media_types(&mut warm.store).await;
                    (warm, result)
                })
            }),
        )
        .map_err(|e| PluginError::Smoke(Box::new(e)))?;
    if declared.is_empty() || declared.len() > MAX_MEDIA_TYPES {
        return Err(smoke(format!(
            "media-types answered {} types; an extractor reads 1 to {MAX_MEDIA_TYPES}",
            declared.len()
        )));
    }
    declared
        .into_iter()
        .map(|media_type| {
            let well_formed = media_type.len() <= MAX_MEDIA_TYPE_LEN
                && media_type.split_once('/').is_some_and(|(kind, sub)| {
                    [kind, sub].iter().all(|part| {
                        !part.is_empty()
                            && part
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
                    })
                });
            if well_formed {
                Ok(media_type.to_ascii_lowercase())
            } else {
                Err(smoke(format!(
                    "media-types answered {:?}, which is not a type/subtype media type",
                    media_type
                        .chars()
                        .take(MAX_MEDIA_TYPE_LEN)
                        .collect::<String>()
                )))
            }
        })
        .collect()
}

/// The names a component exports at its top level, skipping nested modules
/// and components without parsing their bodies.
fn top_level_exports(bytes: &[u8]) -> Result<Vec<String>, PluginError> {
    let parse = |e: wasmparser::BinaryReaderError| PluginError::Parse(e.to_string());
    let mut parser = Parser::new(0);
    let mut offset = 0;
    let mut names = Vec::new();
    loop {
        let rest = bytes.get(offset..).unwrap_or_default();
        let (consumed, payload) = match parser.parse(rest, true).map_err(parse)? {
            Chunk::Parsed { consumed, payload } => (consumed, payload),
            Chunk::NeedMoreData(_) => {
                return Err(PluginError::Parse(
                    "the file ends early (truncated?)".into(),
                ));
            }
        };
        offset += consumed;
        match payload {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } => {
                return Err(PluginError::Parse(
                    "this is a core WebAssembly module, not a component; build for wasm32-wasip2 or wrap it with `wasm-tools component new`".into(),
                ));
            }
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                offset += unchecked_range.len();
                if offset > bytes.len() {
                    return Err(PluginError::Parse(
                        "a nested module runs past the end of the file (truncated?)".into(),
                    ));
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    names.push(export.map_err(parse)?.name.name.to_string());
                }
            }
            Payload::End(_) => return Ok(names),
            _ => {}
        }
    }
}
