//! One loaded plugin version: what it is (world, contract version, sha256),
//! its instances, and its health. Calls here are raw: they return the
//! plugin's typed error; the per-world fallbacks live in `failure`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::plugins::contract::{
    AnonymiserPre, Candidate, ExtractError, Extracted, ExtractorPre, MergeDecision, MergerPre,
    RouteContext, RouteDecision, RouterPre, Span, World,
};
use crate::plugins::error::PluginError;
use crate::plugins::health::Health;
use crate::plugins::instances::{InstanceMode, Instances};
use crate::plugins::legacy;
use crate::plugins::sandbox::{CallSettings, State};

pub(crate) enum Exports {
    Router(Instances<RouterPre<State>>),
    Anonymiser(Instances<AnonymiserPre<State>>),
    Merger(Instances<MergerPre<State>>),
    Extractor(Instances<ExtractorPre<State>>),
    /// Built for the previous contract: called through the adapter.
    LegacyRouter(Instances<legacy::RouterPre<State>>),
    LegacyAnonymiser(Instances<legacy::AnonymiserPre<State>>),
    LegacyMerger(Instances<legacy::MergerPre<State>>),
}

/// Routers and mergers reuse warm instances: measured at about a tenth of
/// the cost of a fresh one (see docs/plugins.md). Anonymisers and
/// extractors never do: what they read is private.
pub const DEFAULT_MODE: InstanceMode = InstanceMode::Pooled;

pub struct Plugin {
    pub name: String,
    pub world: World,
    /// The contract version it was built against.
    pub contract_version: String,
    /// Why it is deprecated, when it was built for the previous contract.
    pub deprecated: Option<String>,
    /// For an extractor, the media types it reads (asked once, at load).
    pub media_types: Vec<String>,
    /// Digest of the file's bytes: the version's identity.
    pub sha256: String,
    pub path: PathBuf,
    pub loaded_at: SystemTime,
    /// Compile (or cache load) time.
    pub compile_time: Duration,
    pub from_cache: bool,
    pub(crate) exports: Exports,
    pub health: Health,
}

fn strings_len<'a>(items: impl IntoIterator<Item = &'a String>) -> usize {
    items.into_iter().map(String::len).sum()
}

/// Whose fault a failed call is, for the plugin's health.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Blame {
    Plugin,
    /// The input's: a hostile document that traps or exhausts an extractor
    /// says nothing about the extractor, and must not get it quarantined
    /// for every other document.
    Input,
}

/// Bytes an extraction hands back: text, metadata and attachments.
fn extracted_size(document: &Extracted) -> usize {
    let metadata = &document.metadata;
    document.blocks.iter().map(|b| b.text.len()).sum::<usize>()
        + [&metadata.title, &metadata.author, &metadata.created]
            .into_iter()
            .map(|v| v.as_ref().map_or(0, String::len))
            .sum::<usize>()
        + metadata
            .extra
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
        + document
            .attachments
            .iter()
            .map(|a| a.bytes.len() + a.media_type.len() + a.name.as_ref().map_or(0, String::len))
            .sum::<usize>()
}

impl Plugin {
    /// A short form of the version's digest, for logs.
    pub fn short_sha(&self) -> &str {
        &self.sha256[..12.min(self.sha256.len())]
    }

    fn wrong_world(&self, wanted: World) -> PluginError {
        PluginError::WrongWorld {
            found: self.world.to_string(),
            wanted: wanted.to_string(),
        }
    }

    async fn guarded<R>(
        &self,
        settings: &CallSettings,
        input_len: usize,
        call: impl Future<Output = Result<R, PluginError>>,
    ) -> Result<R, PluginError> {
        self.guarded_as(Blame::Plugin, settings, input_len, call)
            .await
    }

    async fn guarded_as<R>(
        &self,
        blame: Blame,
        settings: &CallSettings,
        input_len: usize,
        call: impl Future<Output = Result<R, PluginError>>,
    ) -> Result<R, PluginError> {
        if self.health.is_quarantined() {
            return Err(PluginError::Quarantined);
        }
        if input_len > settings.max_input_bytes {
            return Err(PluginError::InputTooLarge {
                size: input_len,
                limit: settings.max_input_bytes,
            });
        }
        self.health.record_call();
        let result = call.await;
        if let Err(e) = &result
            && blame == Blame::Plugin
            && e.is_plugin_fault()
            && self.health.record_failure(&e.to_string())
        {
            tracing::warn!(plugin = %self.name, version = self.short_sha(), "quarantined after repeated failures (last: {e}); its fallback serves until a new version arrives");
        }
        result
    }

    pub async fn route(
        &self,
        ctx: &RouteContext,
        settings: &CallSettings,
    ) -> Result<RouteDecision, PluginError> {
        self.route_in(DEFAULT_MODE, ctx, settings).await
    }

    /// `route` with a chosen instance mode (for measurements).
    pub async fn route_in(
        &self,
        mode: InstanceMode,
        ctx: &RouteContext,
        settings: &CallSettings,
    ) -> Result<RouteDecision, PluginError> {
        if !matches!(self.exports, Exports::Router(_) | Exports::LegacyRouter(_)) {
            return Err(self.wrong_world(World::Router));
        }
        let input = ctx.request_id.len()
            + ctx.policy.len()
            + ctx.task.len()
            + strings_len(&ctx.tags)
            + ctx.triage_json.as_ref().map_or(0, String::len)
            + ctx.fields.iter().map(|f| f.name.len()).sum::<usize>()
            + ctx.document.as_ref().map_or(0, |d| {
                strings_len(&d.clause_kinds) + strings_len(&d.risk_flags)
            });
        self.guarded(settings, input, async {
            let decision = match &self.exports {
                Exports::Router(instances) => {
                    instances
                        .call(mode, settings, |mut warm| {
                            Box::pin(async move {
                                let routing = warm.bindings.sluice_policy_routing();
                                let result = routing.call_route(&mut warm.store, ctx).await;
                                (warm, result)
                            })
                        })
                        .await?
                }
                Exports::LegacyRouter(instances) => {
                    let ctx = &legacy::route_context(ctx);
                    instances
                        .call(mode, settings, |mut warm| {
                            Box::pin(async move {
                                let routing = warm.bindings.sluice_policy_routing();
                                let result = routing.call_route(&mut warm.store, ctx).await;
                                (warm, result.map(legacy::route_decision))
                            })
                        })
                        .await?
                }
                _ => unreachable!("checked above"),
            };
            let size = strings_len(&decision.reasons) + strings_len(&decision.doubtful);
            if size > settings.max_output_bytes {
                return Err(PluginError::InvalidOutput(format!(
                    "{size} bytes of reasons, over the {}-byte cap",
                    settings.max_output_bytes
                )));
            }
            Ok(decision)
        })
        .await
    }

    /// Find PII spans. Always a fresh instance: nothing survives between requests.
    pub async fn detect(
        &self,
        text: &str,
        lang: &str,
        settings: &CallSettings,
    ) -> Result<Vec<Span>, PluginError> {
        if !matches!(
            self.exports,
            Exports::Anonymiser(_) | Exports::LegacyAnonymiser(_)
        ) {
            return Err(self.wrong_world(World::Anonymiser));
        }
        self.guarded(settings, text.len() + lang.len(), async {
            let spans = match &self.exports {
                Exports::Anonymiser(instances) => {
                    instances
                        .call(InstanceMode::Fresh, settings, |mut warm| {
                            Box::pin(async move {
                                let detection = warm.bindings.sluice_policy_detection();
                                let result =
                                    detection.call_detect(&mut warm.store, text, lang).await;
                                (warm, result)
                            })
                        })
                        .await?
                }
                Exports::LegacyAnonymiser(instances) => {
                    instances
                        .call(InstanceMode::Fresh, settings, |mut warm| {
                            Box::pin(async move {
                                let detection = warm.bindings.sluice_policy_detection();
                                let result =
                                    detection.call_detect(&mut warm.store, text, lang).await;
                                (warm, result.map(legacy::spans))
                            })
                        })
                        .await?
                }
                _ => unreachable!("checked above"),
            };
            let size = spans.len() * std::mem::size_of::<Span>();
            if size > settings.max_output_bytes {
                return Err(PluginError::InvalidOutput(format!(
                    "{} spans, over the {}-byte cap",
                    spans.len(),
                    settings.max_output_bytes
                )));
            }
            for span in &spans {
                let (start, end) = (span.start as usize, span.end as usize);
                let in_text = start < end
                    && end <= text.len()
                    && text.is_char_boundary(start)
                    && text.is_char_boundary(end);
                if !in_text || !(0.0..=1.0).contains(&span.confidence) {
                    return Err(PluginError::InvalidOutput(format!(
                        "span {start}..{end} (confidence {}) is not a valid span of a {}-byte text",
                        span.confidence,
                        text.len()
                    )));
                }
            }
            Ok(spans)
        })
        .await
    }

    pub async fn merge(
        &self,
        local: &Candidate,
        cloud: &Candidate,
        schema: &str,
        settings: &CallSettings,
    ) -> Result<MergeDecision, PluginError> {
        self.merge_in(DEFAULT_MODE, local, cloud, schema, settings)
            .await
    }

    /// `merge` with a chosen instance mode (for measurements).
    pub async fn merge_in(
        &self,
        mode: InstanceMode,
        local: &Candidate,
        cloud: &Candidate,
        schema: &str,
        settings: &CallSettings,
    ) -> Result<MergeDecision, PluginError> {
        if !matches!(self.exports, Exports::Merger(_) | Exports::LegacyMerger(_)) {
            return Err(self.wrong_world(World::Merger));
        }
        self.guarded(
            settings,
            local.json.len() + cloud.json.len() + schema.len(),
            async {
                let decision = match &self.exports {
                    Exports::Merger(instances) => {
                        instances
                            .call(mode, settings, |mut warm| {
                                Box::pin(async move {
                                    let merging = warm.bindings.sluice_policy_merging();
                                    let result = merging
                                        .call_merge(&mut warm.store, local, cloud, schema)
                                        .await;
                                    (warm, result)
                                })
                            })
                            .await?
                    }
                    Exports::LegacyMerger(instances) => {
                        let (local, cloud) = (&legacy::candidate(local), &legacy::candidate(cloud));
                        instances
                            .call(mode, settings, |mut warm| {
                                Box::pin(async move {
                                    let merging = warm.bindings.sluice_policy_merging();
                                    let result = merging
                                        .call_merge(&mut warm.store, local, cloud, schema)
                                        .await;
                                    (warm, result.map(legacy::merge_decision))
                                })
                            })
                            .await?
                    }
                    _ => unreachable!("checked above"),
                };
                let size = strings_len(&decision.reasons) + strings_len(&decision.diverged);
                if size > settings.max_output_bytes {
                    return Err(PluginError::InvalidOutput(format!(
                        "{size} bytes of reasons, over the {}-byte cap",
                        settings.max_output_bytes
                    )));
                }
                if !(0.0..=1.0).contains(&decision.agreement) {
                    return Err(PluginError::InvalidOutput(format!(
                        "agreement {} is outside [0, 1]",
                        decision.agreement
                    )));
                }
                Ok(decision)
            },
        )
        .await
    }

    /// Read a document. Always a fresh instance, like `detect`. The outer
    /// error is the sandbox's (trap, deadline, memory cap); the inner one
    /// the extractor's verdict on the document.
    pub async fn extract(
        &self,
        bytes: &[u8],
        media_type: &str,
        settings: &CallSettings,
    ) -> Result<Result<Extracted, ExtractError>, PluginError> {
        let Exports::Extractor(instances) = &self.exports else {
            return Err(self.wrong_world(World::Extractor));
        };
        let input = bytes.len() + media_type.len();
        self.guarded_as(Blame::Input, settings, input, async {
            let extracted = instances
                .call(InstanceMode::Fresh, settings, |mut warm| {
                    Box::pin(async move {
                        let extraction = warm.bindings.sluice_policy_extraction();
                        let result = extraction
                            .call_extract(&mut warm.store, bytes, media_type)
                            .await;
                        (warm, result)
                    })
                })
                .await?;
            if let Ok(document) = &extracted {
                let size = extracted_size(document);
                if size > settings.max_output_bytes {
                    return Err(PluginError::InvalidOutput(format!(
                        "{size} bytes of text and attachments, over the {}-byte cap",
                        settings.max_output_bytes
                    )));
                }
            }
            Ok(extracted)
        })
        .await
    }

    /// Release warm instances when this version leaves service.
    pub(crate) fn retire(&self) {
        match &self.exports {
            Exports::Router(i) => i.drain(),
            Exports::Anonymiser(i) => i.drain(),
            Exports::Merger(i) => i.drain(),
            Exports::Extractor(i) => i.drain(),
            Exports::LegacyRouter(i) => i.drain(),
            Exports::LegacyAnonymiser(i) => i.drain(),
            Exports::LegacyMerger(i) => i.drain(),
        }
    }
}
