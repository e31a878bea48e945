//! Extraction report for the contract-triage stage (`cargo xtask eval
//! triage`): document type, governing law, parties and agreement date read
//! by the local model, scored against human labels in the CUAD
//! `master_clauses` format.
//!
//! Usage: eval_triage [CONTRACTS_DIR LABELS_CSV] [--limit N]
//! (default: ../shared/eval/contracts/cuad/{contracts,master_clauses_dev.csv}).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;
use sluice::local::triage::{HEAD_TOKENS, TAIL_TOKENS, TriageStage};
use sluice::local::{self, Backend, LocalRuntime};

struct Label {
    document_type: String,
    parties: Vec<String>,
    governing_law: String,
    agreement_date: Option<String>,
}

#[derive(Default)]
struct Score {
    contracts: usize,
    valid: usize,
    type_exact: usize,
    type_words: f64,
    law: usize,
    date: usize,
    parties_labelled: usize,
    parties_found: usize,
    parties_predicted: usize,
    parties_correct: usize,
    confidence: f64,
    seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut limit = usize::MAX;
    let mut paths = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--limit" => limit = iter.next().context("--limit N")?.parse()?,
            other => paths.push(PathBuf::from(other)),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cuad = root.join("../shared/eval/contracts/cuad");
    let (dir, csv_path) = match paths.as_slice() {
        [] => (cuad.join("contracts"), cuad.join("master_clauses_dev.csv")),
        [dir, csv] => (dir.clone(), csv.clone()),
        _ => bail!("usage: eval_triage [CONTRACTS_DIR LABELS_CSV] [--limit N]"),
    };
    let labels = read_labels(&csv_path)?;
    let mut contracts: Vec<(PathBuf, &Label)> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_string_lossy().to_string();
            labels.get(&stem).map(|label| (p, label))
        })
        .collect();
    contracts.sort_by(|a, b| a.0.cmp(&b.0));
    contracts.truncate(limit);
    if contracts.is_empty() {
        bail!(
            "no contract in {} has a label in {}",
            dir.display(),
            csv_path.display()
        );
    }

    let stage = TriageStage::load(&root.join("schemas/contract_triage.json"))?;
    let (engine, load) = local::load(&Backend::embedded())?;
    eprintln!("model loaded in {:.0} ms", load.as_secs_f64() * 1e3);
    let runtime = LocalRuntime::start(engine, 1);
    let mut score = Score::default();
    for (n, (path, label)) in contracts.iter().enumerate() {
        let text = std::fs::read_to_string(path)?;
        let started = Instant::now();
        let prepared = stage.request(runtime.tokenizer(), &text);
        let (request, truncated) = (prepared.request, prepared.truncated);
        let outcome = runtime
            .submit(request)?
            .wait()
            .map_err(anyhow::Error::from)
            .and_then(|g| Ok(stage.finish(g, truncated)?));
        score.seconds += started.elapsed().as_secs_f64();
        score.contracts += 1;
        let record = match outcome {
            Ok(triage) => {
                score.valid += 1;
                score.confidence += triage.confidence;
                triage.record
            }
            Err(e) => {
                eprintln!("{}: {e:#}", path.display());
                continue;
            }
        };
        grade(&record, label, &mut score);
        eprintln!(
            "[{}/{}] {:.1} s  {}",
            n + 1,
            contracts.len(),
            started.elapsed().as_secs_f64(),
            record["document_type"]
        );
    }
    report(&score, &dir);
    Ok(())
}

fn read_labels(path: &Path) -> anyhow::Result<HashMap<String, Label>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{} has no column {name:?}", path.display()))
    };
    let (file, kind, parties, law, date) = (
        column("Filename")?,
        column("Document Name-Answer")?,
        column("Parties-Answer")?,
        column("Governing Law-Answer")?,
        column("Agreement Date-Answer")?,
    );
    let mut labels = HashMap::new();
    for row in reader.records() {
        let row = row?;
        let stem = Path::new(&row[file])
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        labels.insert(
            stem,
            Label {
                document_type: row[kind].to_string(),
                parties: row[parties]
                    .split(';')
                    .map(party_name)
                    .filter(|p| !p.is_empty())
                    .collect(),
                governing_law: row[law].to_string(),
                agreement_date: us_date(&row[date]),
            },
        );
    }
    Ok(labels)
}

/// `ACME, INC. ("Acme")` → `acme inc`.
fn party_name(raw: &str) -> String {
    let name = raw.split(['(', '"', '“']).next().unwrap_or(raw);
    normalise(name)
}

/// Upper/lower case, punctuation and spacing do not count.
fn normalise(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `6/21/1999` → `1999-06-21`.
fn us_date(raw: &str) -> Option<String> {
    let parts: Vec<u32> = raw
        .trim()
        .split('/')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    match parts.as_slice() {
        [m, d, y] if *y > 1900 => Some(format!("{y:04}-{m:02}-{d:02}")),
        _ => None,
    }
}

fn words(text: &str) -> Vec<String> {
    const FILLER: [&str; 5] = ["agreement", "the", "and", "of", "contract"];
    normalise(text)
        .split(' ')
        .filter(|w| !w.is_empty() && !FILLER.contains(w))
        .map(String::from)
        .collect()
}

/// Share of words in common (Jaccard), ignoring filler words.
fn overlap(a: &str, b: &str) -> f64 {
    let (a, b) = (words(a), words(b));
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let common = a.iter().filter(|w| b.contains(w)).count() as f64;
    common / (a.len() + b.len()) as f64 * 2.0
}

fn same_party(label: &str, predicted: &str) -> bool {
    let predicted = normalise(predicted);
    !predicted.is_empty()
        && (label.contains(&predicted)
            || predicted.contains(label)
            || overlap(label, &predicted) >= 0.6)
}

fn grade(record: &Value, label: &Label, score: &mut Score) {
    let kind = record["document_type"].as_str().unwrap_or_default();
    score.type_exact += usize::from(normalise(kind) == normalise(&label.document_type));
    score.type_words += overlap(kind, &label.document_type);

    let law = record["governing_law"]
        .as_str()
        .map(normalise)
        .unwrap_or_default();
    let expected = normalise(&label.governing_law);
    score.law += usize::from(if expected.is_empty() {
        law.is_empty()
    } else {
        !law.is_empty() && (expected.contains(&law) || law.contains(&expected))
    });

    score.date +=
        usize::from(record["agreement_date"].as_str().map(String::from) == label.agreement_date);

    let names: Vec<&str> = record["parties"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    score.parties_labelled += label.parties.len();
    score.parties_found += label
        .parties
        .iter()
        .filter(|l| names.iter().any(|n| same_party(l, n)))
        .count();
    score.parties_predicted += names.len();
    score.parties_correct += names
        .iter()
        .filter(|n| label.parties.iter().any(|l| same_party(l, n)))
        .count();
}

fn report(s: &Score, dir: &Path) {
    let n = s.contracts as f64;
    let share = |k: usize| k as f64 / n;
    println!(
        "contract triage on {} contracts from {}",
        s.contracts,
        dir.display()
    );
    println!(
        "input: each contract cut to its first {HEAD_TOKENS} and last {TAIL_TOKENS} tokens; greedy, schema-constrained"
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!("| schema-valid records | {}/{} |", s.valid, s.contracts);
    println!(
        "| document type, exact (normalised) | {:.3} |",
        share(s.type_exact)
    );
    println!(
        "| document type, word overlap (Dice) | {:.3} |",
        s.type_words / n
    );
    println!("| governing law | {:.3} |", share(s.law));
    println!("| agreement date | {:.3} |", share(s.date));
    println!(
        "| parties recall | {:.3} ({}/{}) |",
        s.parties_found as f64 / s.parties_labelled.max(1) as f64,
        s.parties_found,
        s.parties_labelled
    );
    println!(
        "| parties precision | {:.3} ({}/{}) |",
        s.parties_correct as f64 / s.parties_predicted.max(1) as f64,
        s.parties_correct,
        s.parties_predicted
    );
    println!(
        "| mean confidence | {:.3} |",
        s.confidence / s.valid.max(1) as f64
    );
    println!("| seconds per contract | {:.1} |", s.seconds / n);
}
