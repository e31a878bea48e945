//! Extraction report (`cargo xtask eval extract [DIR ...]`): for each PDF
//! in `DIR/pdf/` beside its reference text `DIR/contracts/<same stem>.txt`
//! (the layout of `../shared/eval/contracts/cuad/`, the default), how close
//! the text the host reads (extractor component + `Document::text`) is to
//! the reference, how fast the extractor reads as a component, and the
//! failures by reason.
//!
//! Similarity, both on whitespace-normalised text split into words:
//! - `sequence`: the word-level diff ratio, 2·matched / (words of both),
//!   matched words counted in order (Myers' diff, `similar`); reading
//!   order matters. The bar is judged on this one.
//! - `bag F1`: F1 of the two multisets of words; order does not matter.
//!
//! Throughput: each file read once on this thread, a fresh instance per
//! call as the host runs extractors (instantiation included); MB/s and
//! pages/s over all files read, and the median per file.
//!
//! Usage: eval_extract [DIR ...] [--plugins POLICIES_DIR] [--dump OUT_DIR]
//! (`--dump` writes each extracted text to `OUT_DIR/<stem>.txt`, to read
//! beside the reference).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use similar::{Algorithm, TextDiff};
use sluice::documents::{self, Extraction, Upload};
use sluice::plugins::{HostConfig, PluginEngine, Registry};

const EXTRACTORS: &[&str] = &[
    "pdf-extractor",
    "email-extractor",
    "docx-extractor",
    "html-extractor",
];

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// The word-level diff ratio of two texts (order-aware).
fn sequence_similarity(a: &[&str], b: &[&str]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(Duration::from_secs(20))
        .diff_slices(a, b);
    f64::from(diff.ratio())
}

/// F1 of the two multisets of words.
fn bag_f1(a: &[&str], b: &[&str]) -> f64 {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for w in a {
        *counts.entry(w).or_default() += 1;
    }
    let mut common = 0i64;
    for w in b {
        if let Some(c) = counts.get_mut(w)
            && *c > 0
        {
            *c -= 1;
            common += 1;
        }
    }
    if a.is_empty() || b.is_empty() {
        return if a.len() == b.len() { 1.0 } else { 0.0 };
    }
    let (p, r) = (
        common as f64 / b.len() as f64,
        common as f64 / a.len() as f64,
    );
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

struct Row {
    stem: String,
    bytes: usize,
    pages: u32,
    took: Duration,
    sequence: f64,
    bag: f64,
}

fn main() -> anyhow::Result<()> {
    let mut dirs = Vec::new();
    let mut plugins_dir = PathBuf::from("policies");
    let mut dump = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--plugins" => plugins_dir = args.next().context("--plugins needs a folder")?.into(),
            "--dump" => dump = Some(PathBuf::from(args.next().context("--dump needs a folder")?)),
            _ => dirs.push(PathBuf::from(arg)),
        }
    }
    if dirs.is_empty() {
        dirs.push(PathBuf::from("../shared/eval/contracts/cuad"));
    }

    let engine = PluginEngine::new(HostConfig::default())?;
    let registry = Registry::new(engine.clone());
    for name in EXTRACTORS {
        registry.sync_path(&plugins_dir.join(format!("{name}.wasm")));
    }
    let plugins = registry.snapshot();
    if let Some(rejected) = plugins.rejections().next() {
        bail!("an extractor was refused: {rejected:?}");
    }
    let settings = Extraction::default();

    for dir in &dirs {
        evaluate(&engine, &plugins, &settings, dir, dump.as_deref())?;
    }
    Ok(())
}

fn evaluate(
    engine: &PluginEngine,
    plugins: &sluice::plugins::PluginSet,
    settings: &Extraction,
    dir: &Path,
    dump: Option<&Path>,
) -> anyhow::Result<()> {
    if let Some(out) = dump {
        std::fs::create_dir_all(out)?;
    }
    let mut pdfs: Vec<PathBuf> = std::fs::read_dir(dir.join("pdf"))
        .with_context(|| format!("reading {}", dir.join("pdf").display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")))
        .collect();
    pdfs.sort();
    let mut rows = Vec::new();
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut without_reference = 0;
    for pdf in &pdfs {
        let stem = pdf
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let reference_path = dir.join("contracts").join(format!("{stem}.txt"));
        let Ok(reference) = std::fs::read_to_string(&reference_path) else {
            without_reference += 1;
            continue;
        };
        let bytes = std::fs::read(pdf)?;
        let size = bytes.len();
        let upload = Upload {
            bytes,
            media_type: None,
            name: Some(stem.clone()),
        };
        let started = Instant::now();
        let read = engine.block_on(documents::read(plugins, settings, upload));
        let took = started.elapsed();
        match read {
            Ok(document) => {
                let text = document.text();
                if let Some(out) = dump {
                    std::fs::write(out.join(format!("{stem}.txt")), text)?;
                }
                let (got, want) = (words(text), words(&reference));
                rows.push(Row {
                    stem,
                    bytes: size,
                    pages: document.pages,
                    took,
                    sequence: sequence_similarity(&want, &got),
                    bag: bag_f1(&want, &got),
                });
            }
            Err(error) => failures
                .entry(error.code().to_string())
                .or_default()
                .push(format!("{stem}: {error}")),
        }
    }

    let attempted = rows.len() + failures.values().map(Vec::len).sum::<usize>();
    println!("# {}", dir.display());
    println!("{attempted} PDFs with a reference text ({without_reference} without one, skipped)");
    println!(
        "extracted without error: {} of {attempted} ({:.1}%)",
        rows.len(),
        100.0 * rows.len() as f64 / attempted.max(1) as f64
    );
    let mut sequence: Vec<f64> = rows.iter().map(|r| r.sequence).collect();
    let mut bag: Vec<f64> = rows.iter().map(|r| r.bag).collect();
    println!("| similarity to the reference | median | p10 | p90 | min |");
    println!("|---|---|---|---|---|");
    for (name, values) in [
        ("sequence (word diff ratio)", &mut sequence),
        ("bag of words F1", &mut bag),
    ] {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {min:.3} |",
            median(values),
            quantile(values, 0.1),
            quantile(values, 0.9)
        );
    }
    let total_bytes: usize = rows.iter().map(|r| r.bytes).sum();
    let total_pages: u32 = rows.iter().map(|r| r.pages).sum();
    let total_time: f64 = rows.iter().map(|r| r.took.as_secs_f64()).sum();
    let mut per_file_mbs: Vec<f64> = rows
        .iter()
        .map(|r| r.bytes as f64 / 1e6 / r.took.as_secs_f64())
        .collect();
    let mut per_file_pages: Vec<f64> = rows
        .iter()
        .map(|r| f64::from(r.pages) / r.took.as_secs_f64())
        .collect();
    println!(
        "throughput as a component, one core: {:.2} MB/s and {:.1} pages/s over {:.1} MB and {total_pages} pages in {total_time:.2} s; median per file {:.2} MB/s, {:.1} pages/s",
        total_bytes as f64 / 1e6 / total_time,
        f64::from(total_pages) / total_time,
        total_bytes as f64 / 1e6,
        median(&mut per_file_mbs),
        median(&mut per_file_pages)
    );
    let mut worst: Vec<&Row> = rows.iter().collect();
    worst.sort_by(|a, b| a.sequence.total_cmp(&b.sequence));
    println!("lowest sequence similarity:");
    for row in worst.iter().take(5) {
        println!(
            "  {:.3} (bag {:.3}) {} ({} pages)",
            row.sequence, row.bag, row.stem, row.pages
        );
    }
    if failures.is_empty() {
        println!("failures: none");
    }
    for (reason, files) in &failures {
        println!("failures, {reason}: {}", files.len());
        for file in files {
            println!("  {file}");
        }
    }
    Ok(())
}
