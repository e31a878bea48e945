//! The `sluice:policy` contract as seen from the host: the generated bindings
//! for the four worlds, and how a component's world and contract version are
//! read from the names it exports. Plugins built for the previous contract
//! (0.1.x) load through the adapter in [`super::legacy`], deprecated.

use crate::plugins::error::PluginError;

/// The contract version this host speaks.
pub const CONTRACT_VERSION: &str = "0.2.1";
/// The previous contract, still loaded through an adapter.
pub const DEPRECATED_VERSION: &str = "0.1.0";
/// The contract package name.
pub const PACKAGE: &str = "sluice:policy";

// Exports are called asynchronously: a call is a future that the host can
// drop at its deadline, even while the plugin waits inside a WASI import.
mod router {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "router",
        exports: { default: async },
    });
}
mod anonymiser {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "anonymiser",
        exports: { default: async },
        with: {
            "sluice:policy/types": super::router::sluice::policy::types,
            "sluice:policy/host": super::router::sluice::policy::host,
        },
    });
}
mod merger {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "merger",
        exports: { default: async },
        with: {
            "sluice:policy/types": super::router::sluice::policy::types,
            "sluice:policy/host": super::router::sluice::policy::host,
        },
    });
}

mod extractor {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "extractor",
        exports: { default: async },
        with: {
            "sluice:policy/types": super::router::sluice::policy::types,
            "sluice:policy/host": super::router::sluice::policy::host,
        },
    });
}

pub use anonymiser::{Anonymiser, AnonymiserPre};
pub use extractor::{Extractor, ExtractorPre};
pub use merger::{Merger, MergerPre};
pub use router::sluice::policy::host::{Host, Level, add_to_linker as add_host_to_linker};
pub use router::sluice::policy::types::{
    Attachment, Block, BlockKind, Candidate, Choice, DocumentFeatures, DocumentMetadata,
    ExtractError, Extracted, FieldSignal, MergeDecision, PiiKind, Route, RouteContext,
    RouteDecision, Span,
};
pub use router::{Router, RouterPre};

/// The four kinds of plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum World {
    Router,
    Anonymiser,
    Merger,
    Extractor,
}

impl World {
    pub const ALL: [World; 4] = [
        World::Router,
        World::Anonymiser,
        World::Merger,
        World::Extractor,
    ];

    /// The interface a component of this world exports.
    pub fn interface(self) -> &'static str {
        match self {
            World::Router => "routing",
            World::Anonymiser => "detection",
            World::Merger => "merging",
            World::Extractor => "extraction",
        }
    }

    fn from_interface(name: &str) -> Option<World> {
        World::ALL.into_iter().find(|w| w.interface() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            World::Router => "router",
            World::Anonymiser => "anonymiser",
            World::Merger => "merger",
            World::Extractor => "extractor",
        }
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a component declares about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    pub world: World,
    /// The contract version it was built against, such as `0.2.0`.
    pub version: String,
    /// Built for the previous contract: loaded through the adapter.
    pub deprecated: bool,
}

impl Declared {
    /// Why this plugin is deprecated, for the log and `GET /admin/plugins`.
    pub fn deprecation(&self) -> Option<String> {
        self.deprecated.then(|| {
            format!(
                "built for {PACKAGE}@{}, loaded through an adapter that shows it none of {CONTRACT_VERSION}'s per-field signals; rebuild it against wit/ ({PACKAGE}@{CONTRACT_VERSION})",
                self.version
            )
        })
    }
}

/// Reads the world and contract version from a component's top-level export
/// names (`sluice:policy/routing@0.1.0`) and checks the version against ours.
pub fn declared(export_names: &[String]) -> Result<Declared, PluginError> {
    let prefix = format!("{PACKAGE}/");
    let mut found = None;
    for name in export_names {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        if let Some(world) = World::from_interface(interface) {
            if found.is_some() {
                return Err(PluginError::Parse(format!(
                    "exports more than one {PACKAGE} interface; a plugin implements exactly one world"
                )));
            }
            found = Some(Declared {
                world,
                version: version.to_string(),
                deprecated: false,
            });
        }
    }
    let declared = found.ok_or_else(|| {
        PluginError::Parse(format!(
            "exports none of {PACKAGE}/routing, /detection, /merging or /extraction (it exports: {}); build it against wit/ with world router, anonymiser, merger or extractor",
            if export_names.is_empty() { "nothing".to_string() } else { export_names.join(", ") }
        ))
    })?;
    let mut declared = declared;
    if compatible(DEPRECATED_VERSION, &declared.version) {
        declared.deprecated = true;
    } else if !compatible(CONTRACT_VERSION, &declared.version) {
        return Err(PluginError::Version {
            found: format!(
                "{PACKAGE}@{}",
                if declared.version.is_empty() {
                    "?"
                } else {
                    &declared.version
                }
            ),
            speaks: speaks(),
        });
    }
    Ok(declared)
}

/// `0.2.x (and 0.1.x, deprecated)` for this host: what the error messages
/// say we accept.
pub fn speaks() -> String {
    format!(
        "{} (and {}, deprecated)",
        range(CONTRACT_VERSION),
        range(DEPRECATED_VERSION)
    )
}

/// `0.2.0` → `0.2.x`, `1.4.0` → `1.x`.
fn range(version: &str) -> String {
    let mut parts = version.split('.');
    let (major, minor) = (parts.next().unwrap_or("0"), parts.next().unwrap_or("0"));
    if major == "0" {
        format!("{major}.{minor}.x")
    } else {
        format!("{major}.x")
    }
}

/// Semver compatibility with `ours`: same major, or for 0.x the same minor.
fn compatible(ours: &str, version: &str) -> bool {
    let ours: Vec<&str> = ours.split('.').collect();
    let theirs: Vec<&str> = version.split('.').collect();
    if theirs.len() < 2 || theirs[0] != ours[0] {
        return false;
    }
    ours[0] != "0" || theirs[1] == ours[1]
}

impl RouteContext {
    /// A small, valid context: for smoke calls, docs and benchmarks.
    pub fn example() -> RouteContext {
        RouteContext {
            request_id: "smoke-0001".into(),
            policy: "smoke".into(),
            task: "contract-review".into(),
            tags: vec![],
            input_tokens: 1200,
            triage_json: Some(
                r#"{"document_type":"supply agreement","escalate_to_cloud":false}"#.into(),
            ),
            confidence: 0.9,
            fields: vec![FieldSignal {
                name: "document_type".into(),
                confidence: 0.9,
                calibrated: false,
                evidence: true,
            }],
            document: Some(DocumentFeatures {
                clauses: 24,
                parties: 2,
                governing_laws: 1,
                clause_kinds: vec!["governing_law".into(), "insurance".into()],
                risk_flags: vec!["missing_audit_rights".into()],
            }),
            budget_left_usd: 5.0,
            sample: 0.5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(names: &[&str], expect: Result<(World, &str, bool), &str>) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        match (declared(&names), expect) {
            (Ok(d), Ok((w, v, old))) => {
                assert_eq!((d.world, d.version.as_str(), d.deprecated), (w, v, old))
            }
            (Err(e), Err(fragment)) => assert!(e.to_string().contains(fragment), "{e}"),
            (got, want) => panic!("{names:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn reads_world_and_version_from_exports() {
        check(
            &["sluice:policy/routing@0.2.0"],
            Ok((World::Router, "0.2.0", false)),
        );
        check(
            &["sluice:policy/detection@0.2.7"],
            Ok((World::Anonymiser, "0.2.7", false)),
        );
        check(
            &["other:pkg/x@1.0.0", "sluice:policy/merging@0.1.0"],
            Ok((World::Merger, "0.1.0", true)),
        );
        check(
            &["sluice:policy/routing@2.0.0"],
            Err("built for sluice:policy@2.0.0, this host speaks 0.2.x (and 0.1.x, deprecated)"),
        );
        check(&["sluice:policy/routing@0.3.0"], Err("speaks 0.2.x"));
        check(&["sluice:policy/routing"], Err("sluice:policy@?"));
        check(
            &["wasi:http/incoming-handler@0.2.0"],
            Err("exports none of"),
        );
        check(
            &["sluice:policy/routing@0.2.0", "sluice:policy/merging@0.2.0"],
            Err("more than one"),
        );
    }
}
