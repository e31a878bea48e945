//! `sluice run --policy NAME FILE`: one document (text, PDF, DOCX, e-mail
//! or HTML, read by the policy's extractors like an upload) through a
//! policy; prints the result and the decision trace.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sluice::documents::Upload;
use sluice::pipeline::{Pipeline, Request};

#[derive(clap::Args)]
pub struct RunArgs {
    /// The policy, by name (a file policies/<name>.toml).
    #[arg(long)]
    policy: String,
    /// The document: UTF-8 text, or a file an extractor reads (its type
    /// from its bytes, or --media-type).
    file: PathBuf,
    /// The file's media type, when its bytes do not show it.
    #[arg(long)]
    media_type: Option<String>,
    /// Tags the router may read (repeat or comma-separate: --tag hard).
    #[arg(long = "tag", value_delimiter = ',')]
    tags: Vec<String>,
    /// The request id (decides the parallel-merge sample); default: random.
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    stack: super::StackArgs,
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let config = args.stack.config()?;
    let running = Pipeline::start(args.stack.setup(&config, 1, false))?;
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("run-{:016x}", rand::random::<u64>()));
    let upload = Upload {
        bytes,
        media_type: args.media_type.clone(),
        name: args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let read = runtime
        .block_on(running.pipeline.read_document(&id, &args.policy, upload))
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    if let Some(extractor) = &read.extractor {
        eprintln!(
            "read {} ({}, {} bytes, {} pages) with {} {}: {} bytes of text",
            args.file.display(),
            read.media_type,
            read.bytes,
            read.pages,
            extractor.name,
            &extractor.sha256[..12],
            read.text_bytes
        );
    }
    let request = Request {
        tags: args.tags.clone(),
        ..Request::document_for(&id, &args.policy, read.text())
    };
    let outcome = runtime.block_on(running.pipeline.run(request))?;
    println!("{}", serde_json::to_string_pretty(&outcome.result)?);
    eprintln!(
        "policy {} · route {} · answered by {:?}{} · decision {}",
        outcome.policy,
        outcome.route,
        outcome.answered_by,
        outcome
            .degraded
            .as_ref()
            .map(|d| format!(" · DEGRADED: {d}"))
            .unwrap_or_default(),
        outcome.decision_id
    );
    for step in &outcome.trace {
        eprintln!(
            "  {:<10} {:<14} {:>9.1} ms  {}",
            step.stage,
            step.decision,
            step.ms,
            step.reasons.join("; ")
        );
    }
    if outcome.cloud.calls > 0 {
        eprintln!(
            "  cloud: {} calls, {} bytes sent, {} + {} tokens, ${:.5}",
            outcome.cloud.calls,
            outcome.cloud.bytes,
            outcome.cloud.prompt_tokens,
            outcome.cloud.completion_tokens,
            outcome.cloud.cost_usd
        );
    }
    Ok(ExitCode::SUCCESS)
}
