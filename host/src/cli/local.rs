//! `sluice local run`: one document through the local model.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sluice::local::triage::TriageStage;
use sluice::local::{self, Backend, GenerateRequest, LocalRuntime, Sampling};

#[derive(clap::Args)]
pub struct RunArgs {
    /// The document (UTF-8 text).
    file: PathBuf,
    /// Hold the output to this JSON schema (e.g. schemas/contract_triage.json).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Tokens to generate without a schema.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Sample with this temperature instead of decoding greedily.
    #[arg(long)]
    temperature: Option<f32>,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A Gemma 4 checkpoint folder to use instead of the embedded model.
    #[arg(long, requires = "tokenizer")]
    gemma4: Option<PathBuf>,
    /// The tokenizer.json for --gemma4.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let document = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let backend = match (&args.gemma4, &args.tokenizer) {
        (Some(dir), Some(tokenizer)) => Backend::Gemma4 {
            dir: dir.clone(),
            tokenizer: tokenizer.clone(),
        },
        _ => Backend::embedded(),
    };
    let stage = args.schema.as_deref().map(TriageStage::load).transpose()?;
    let (engine, load_time) = local::load(&backend)?;
    eprintln!(
        "model: {} ({}, {}) loaded in {:.0} ms",
        engine.info().name,
        engine.info().backend,
        engine.info().device,
        load_time.as_secs_f64() * 1e3
    );
    let runtime = LocalRuntime::start(engine, 1);
    let sampling = match args.temperature {
        Some(temperature) => Sampling::Random {
            temperature,
            top_p: args.top_p,
            seed: args.seed,
        },
        None => Sampling::Greedy,
    };
    match stage {
        Some(stage) => {
            let prepared = stage.request(runtime.tokenizer(), &document);
            let (mut request, reading) = (prepared.request, prepared.reading);
            request.sampling = sampling;
            let generation = runtime.submit(request)?.wait()?;
            let triage = stage.finish(generation, reading)?;
            println!("{}", serde_json::to_string_pretty(&triage.record)?);
            eprintln!("fields: {}", serde_json::to_string(&triage.fields)?);
            report(
                &triage.generation,
                Some(triage.confidence),
                triage.truncated,
            );
        }
        None => {
            let mut request = GenerateRequest::new(document);
            request.max_tokens = args.max_tokens;
            request.sampling = sampling;
            let mut pending = runtime.submit_streaming(request)?;
            let mut text = pending.text.take().expect("a streaming request has text");
            let mut out = std::io::stdout().lock();
            while let Some(piece) = text.blocking_recv() {
                out.write_all(piece.as_bytes())?;
                out.flush()?;
            }
            writeln!(out)?;
            report(&pending.wait()?, None, false);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report(generation: &local::Generation, confidence: Option<f64>, truncated: bool) {
    let t = &generation.timings;
    let decoded = generation.tokens.len();
    let chosen = generation.tokens.iter().filter(|t| !t.forced()).count();
    eprintln!(
        "prompt {} tokens ({} reused{}), prefill {:.0} ms; {decoded} tokens ({chosen} chosen, {} forced by the schema) in {:.0} ms, {:.0} ms of it in the constraint; finish: {:?}",
        generation.prompt_tokens,
        generation.reused_prompt_tokens,
        if truncated {
            ", document read clause by clause"
        } else {
            ""
        },
        t.prefill.as_secs_f64() * 1e3,
        decoded - chosen,
        t.decode.as_secs_f64() * 1e3,
        t.constraint.as_secs_f64() * 1e3,
        generation.finish
    );
    if let Some(confidence) = confidence {
        eprintln!("confidence: {confidence:.3}");
    }
}
