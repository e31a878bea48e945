//! `sluice audit …`: verify the chain of a log, or query it.

use std::path::PathBuf;
use std::process::ExitCode;

use sluice::audit::{self, Filter, Kind};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The log (default: $SLUICE_HOME/audit/audit.jsonl).
    file: Option<PathBuf>,
    /// The head hash you kept from an earlier run: also catch a log rewritten
    /// from some point on, or cut short.
    #[arg(long)]
    head: Option<String>,
}

#[derive(clap::Args)]
pub struct QueryArgs {
    /// The log (default: $SLUICE_HOME/audit/audit.jsonl).
    file: Option<PathBuf>,
    #[arg(long)]
    policy: Option<String>,
    /// The decision, such as `local`, `escalate`, `cloud`, `degraded`.
    #[arg(long)]
    route: Option<String>,
    /// route, anonymise, merge, fallback, budget, answer, reload, rejection.
    #[arg(long)]
    kind: Option<String>,
    #[arg(long)]
    request: Option<String>,
    /// RFC 3339 time, inclusive (2026-11-21T10:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// RFC 3339 time, exclusive.
    #[arg(long)]
    until: Option<String>,
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let path = args.file.clone().unwrap_or_else(audit::default_path);
    let verified = match &args.head {
        Some(head) => audit::verify::verify_against(&path, head)?,
        None => audit::verify(&path)?,
    };
    println!("{}: {} records verify", path.display(), verified.records);
    println!("head: {}", verified.head);
    match verified.tamper {
        None => Ok(ExitCode::SUCCESS),
        Some(tamper) => {
            println!("BROKEN: {tamper}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn query(args: &QueryArgs) -> anyhow::Result<ExitCode> {
    let path = args.file.clone().unwrap_or_else(audit::default_path);
    let time = |t: &Option<String>| {
        t.as_deref()
            .map(Filter::time)
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    let kind = args
        .kind
        .as_deref()
        .map(|k| Kind::parse(k).map_err(|e| anyhow::anyhow!("--kind {e}")))
        .transpose()?;
    let filter = Filter {
        policy: args.policy.clone(),
        decision: args.route.clone(),
        kind,
        request_id: args.request.clone(),
        since: time(&args.since)?,
        until: time(&args.until)?,
    };
    let file = std::fs::File::open(&path)
        .map_err(|e| anyhow::anyhow!("opening the audit log {}: {e}", path.display()))?;
    let mut found = 0;
    for item in filter.scan(std::io::BufReader::new(file)) {
        let (_, line) = item?;
        println!("{line}");
        found += 1;
    }
    eprintln!("{found} records");
    Ok(ExitCode::SUCCESS)
}
