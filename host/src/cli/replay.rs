//! `sluice replay --policy P --router FILE.wasm` (or `--merger FILE.wasm`):
//! a candidate router over the route contexts the policy recorded
//! (`[audit] record_inputs`), or a candidate merger over the recorded pairs
//! of answers, offline; what would change, as a table or as JSON. Where
//! requests carry labels (`label` records, or `--labels FILE`), a router's
//! replay also prints its error recall against them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use sluice::audit::{self, Filter, Kind};
use sluice::pipeline::Policy;
use sluice::plugins::contract::World;
use sluice::plugins::{CallSettings, HostConfig, PluginEngine, loader};

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The policy whose recorded decisions are replayed.
    #[arg(long)]
    policy: String,
    /// The candidate router (a component file), run under the policy's
    /// [router] settings and config.
    #[arg(long, conflicts_with = "merger", required_unless_present = "merger")]
    router: Option<PathBuf>,
    /// The candidate merger, run under the policy's [merger] settings.
    #[arg(long)]
    merger: Option<PathBuf>,
    /// The folder of policies (for the policy's router settings).
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
    /// The audit log (default: $SLUICE_HOME/audit/audit.jsonl).
    #[arg(long)]
    audit: Option<PathBuf>,
    /// RFC 3339 time, inclusive.
    #[arg(long)]
    since: Option<String>,
    /// RFC 3339 time, exclusive.
    #[arg(long)]
    until: Option<String>,
    /// A setting of the candidate, over the policy's [router.config] or [merger.config]
    /// (repeat: --set min_confidence=0.9 --set escalate_tags=hard,review).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Labels kept outside the log, one JSON object per line
    /// (`{"request_id": "…", "verdict": "wrong", "fields": ["parties"]}`);
    /// they override the log's `label` records of the same requests.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Changed decisions listed as examples.
    #[arg(long, default_value_t = 10)]
    examples: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let policy_file = args.policies.join(format!("{}.toml", args.policy));
    let policy =
        Policy::load(&policy_file, &CallSettings::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (file, world, active) = match (&args.router, &args.merger) {
        (Some(file), _) => (file, World::Router, &policy.router),
        (None, Some(file)) => (file, World::Merger, &policy.merger),
        (None, None) => bail!("name a candidate: --router FILE or --merger FILE"),
    };
    let Some(active) = active else {
        bail!("policy {} has no [{world}] to replay", args.policy);
    };
    let engine = PluginEngine::new(HostConfig::default())?;
    let candidate =
        loader::load_file(&engine, file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if candidate.world != world {
        bail!("{} is a {}, not a {world}", file.display(), candidate.world);
    }
    let time = |t: &Option<String>| {
        t.as_deref()
            .map(Filter::time)
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    let filter = Filter {
        policy: Some(args.policy.clone()),
        kind: Some(if world == World::Router {
            Kind::Route
        } else {
            Kind::Merge
        }),
        since: time(&args.since)?,
        until: time(&args.until)?,
        ..Filter::default()
    };
    let path = args.audit.clone().unwrap_or_else(audit::default_path);
    let log = std::io::BufReader::new(
        std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?,
    );
    let mut config = (*active.settings.config).clone();
    for setting in &args.set {
        let (key, value) = setting
            .split_once('=')
            .with_context(|| format!("--set {setting:?}: write KEY=VALUE"))?;
        config.insert(key.trim().to_string(), value.trim().to_string());
    }
    let settings = CallSettings {
        config: std::sync::Arc::new(config),
        ..active.settings.clone()
    };
    let labels = match &args.labels {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            audit::label::from_lines(std::io::BufReader::new(file))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => audit::label::Labels::new(),
    };
    if world == World::Merger && !labels.is_empty() {
        bail!("--labels scores a router's escalations; a merger's replay does not read them");
    }
    let started = std::time::Instant::now();
    let report = match world {
        World::Router => engine.block_on(sluice::replay::routes(
            log,
            &filter,
            &labels,
            &candidate,
            &settings,
            args.examples,
        ))?,
        _ => {
            let schema = policy
                .schema
                .as_ref()
                .map_or(String::new(), |s| s.value.to_string());
            engine.block_on(sluice::replay::merges(
                log,
                &filter,
                &candidate,
                &settings,
                &schema,
                args.examples,
            ))?
        }
    };
    let took = started.elapsed();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "replayed {} of {} {} records of {} with {} ({}) in {:.2} s ({:.0} records/s); {} without recorded inputs",
        report.replayed,
        report.decisions,
        if world == World::Router {
            "route"
        } else {
            "merge"
        },
        args.policy,
        file.display(),
        candidate.short_sha(),
        took.as_secs_f64(),
        report.replayed as f64 / took.as_secs_f64().max(1e-9),
        report.without_inputs
    );
    println!("| | recorded | replayed |");
    println!("|---|---|---|");
    println!(
        "| {} | {:.1}% | {:.1}% |",
        if world == World::Router {
            "local share"
        } else {
            "answers kept local"
        },
        100.0 * report.local_share_recorded,
        100.0 * report.local_share_replayed
    );
    if world == World::Router {
        let (recorded, projected) = (&report.cloud_recorded, &report.cloud_projected);
        println!(
            "| cloud requests | {} | {} |",
            recorded.requests, projected.requests
        );
        println!(
            "| cloud bytes | {:.0} | {:.0} |",
            recorded.bytes, projected.bytes
        );
        println!(
            "| cloud tokens | {:.0} | {:.0} |",
            recorded.tokens, projected.tokens
        );
        println!(
            "| cloud cost (USD) | {:.5} | {:.5} |",
            recorded.cost_usd, projected.cost_usd
        );
        let score = &report.labels;
        if score.labelled > 0 {
            let recall =
                |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.1}%", 100.0 * r));
            println!(
                "| error recall ({} labelled wrong of {}) | {} | {} |",
                score.wrong,
                score.labelled,
                recall(score.error_recall_recorded),
                recall(score.error_recall_replayed)
            );
            println!(
                "| labelled right, sent to the cloud | {} | {} |",
                score.right_to_cloud_recorded, score.right_to_cloud_replayed
            );
        }
    }
    println!(
        "decisions that change: {} ({:.1}%); the candidate failed {} calls (counted local)",
        report.changed,
        100.0 * report.changed_share,
        report.failures
    );
    for change in &report.examples {
        println!(
            "  {} (request {}): {} → {}",
            change.record, change.request_id, change.recorded, change.replayed
        );
    }
    Ok(ExitCode::SUCCESS)
}
