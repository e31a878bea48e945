//! The local model's figures for `cargo xtask bench local`: load time,
//! prefill and decode speed (free and schema-constrained) and peak RSS of
//! the embedded Gemma 3 270M, as one JSON line with the keys
//! `host/benches/llama_cpp_baseline.py` prints for llama.cpp. Medians of `--runs`.
//!
//! Arguments: --prompt-file F --prompt-tokens N --decode-tokens N --runs N
//! --constrained-prompt-out FILE (where to write the triage prompt so the
//! baseline decodes the very same one).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use sluice::local::triage::TriageStage;
use sluice::local::{self, Backend, GenerateRequest};

fn main() {
    let mut prompt_file = None;
    let mut prompt_out = None;
    let (mut prompt_tokens, mut decode_tokens, mut runs) = (512, 64, 5);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--prompt-file" => prompt_file = Some(PathBuf::from(value())),
            "--constrained-prompt-out" => prompt_out = Some(PathBuf::from(value())),
            "--prompt-tokens" => prompt_tokens = value().parse().unwrap(),
            "--decode-tokens" => decode_tokens = value().parse().unwrap(),
            "--runs" => runs = value().parse().unwrap(),
            _ => {} // `cargo bench` adds --bench
        }
    }
    let prompt_file = prompt_file.expect("--prompt-file");
    let text = std::fs::read_to_string(&prompt_file).unwrap();

    let mut load_times = Vec::new();
    for _ in 0..3 {
        let (engine, took) = local::load(&Backend::embedded()).unwrap();
        load_times.push(took.as_secs_f64());
        drop(engine);
    }
    let (mut engine, took) = local::load(&Backend::embedded()).unwrap();
    load_times.push(took.as_secs_f64());
    let tokenizer = engine.tokenizer().clone();
    let ids = tokenizer.encode(&text);
    let prompt = tokenizer.decode(&ids[..prompt_tokens.min(ids.len()) - 1]);

    let never = AtomicBool::new(false);
    let (mut prefill, mut decode) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        engine.reset();
        let mut request = GenerateRequest::new(prompt.clone());
        request.max_tokens = decode_tokens;
        let generation = engine.generate(&request, &never, &mut |_| {}).unwrap();
        prefill.push(generation.prompt_tokens as f64 / generation.timings.prefill.as_secs_f64());
        // The first token comes from the prefill's logits: count the rest.
        decode.push((generation.tokens.len() - 1) as f64 / generation.timings.decode.as_secs_f64());
    }

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let stage = TriageStage::load(&root.join("schemas/contract_triage.json")).unwrap();
    let request = stage.request(&tokenizer, &text).request;
    if let Some(out) = prompt_out {
        std::fs::write(out, &request.prompt).unwrap();
    }
    let mut constrained = Vec::new();
    let mut mask_share = Vec::new();
    let mut last = None;
    for _ in 0..=runs {
        let generation = engine.generate(&request, &never, &mut |_| {}).unwrap();
        let t = generation.timings;
        constrained.push((generation.tokens.len() - 1) as f64 / t.decode.as_secs_f64());
        mask_share.push(t.constraint.as_secs_f64() / t.decode.as_secs_f64());
        last = Some(generation);
    }
    constrained.remove(0); // the first run also filled the prompt cache
    let last = last.unwrap();
    let figures = serde_json::json!({
        "engine": "sluice (candle, gemma3-gguf)",
        "load_s": median(load_times),
        "prefill_tok_s": median(prefill),
        "decode_tok_s": median(decode),
        "constrained_tok_s": median(constrained),
        "constraint_share_of_decode": median(mask_share),
        "constrained_forced_tokens": last.tokens.iter().filter(|t| t.forced()).count(),
        "constrained_tokens": last.tokens.len(),
        "constrained_text": last.text,
        "prompt_tokens": prompt_tokens,
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{figures}");
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// VmHWM: the most resident memory this process has had.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
