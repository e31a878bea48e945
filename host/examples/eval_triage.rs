//! Extraction report for the contract-triage stage (`cargo xtask eval
//! triage`): document type, governing law, parties and agreement date read
//! by the local model, scored against human labels in the CUAD
//! `master_clauses` format; and how well each field's confidence tells a
//! right value from a wrong one (AUROC, beside the record-wide confidence).
//!
//! Usage: eval_triage [CONTRACTS_DIR LABELS_CSV] [--limit N]
//! (default: ../shared/eval/contracts/cuad/{contracts,master_clauses_dev.csv}).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use sluice::calibration::fit::auroc;
use sluice::calibration::labels;
use sluice::local::triage::{DOCUMENT_TOKENS, Triage, TriageStage};
use sluice::local::{self, Backend, LocalRuntime};

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
    /// Per key field: (its confidence, the record's confidence, whether it was right).
    scored: HashMap<&'static str, Vec<(f64, f64, bool)>>,
    /// Values with evidence, and of those, evidence that holds the value as written.
    evidence: (usize, usize),
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
    let labels = labels::read(&csv_path)?;
    let contracts = labels::labelled(&dir, &labels, limit)?;
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
        let (request, reading) = (prepared.request, prepared.reading);
        let outcome = runtime
            .submit(request)?
            .wait()
            .map_err(anyhow::Error::from)
            .and_then(|g| Ok(stage.finish(g, reading)?));
        score.seconds += started.elapsed().as_secs_f64();
        score.contracts += 1;
        let triage = match outcome {
            Ok(triage) => {
                score.valid += 1;
                score.confidence += triage.confidence;
                triage
            }
            Err(e) => {
                eprintln!("{}: {e:#}", path.display());
                continue;
            }
        };
        let record = &triage.record;
        let grade = labels::grade(record, label);
        score.type_exact += usize::from(grade.type_exact);
        score.type_words += grade.type_words;
        score.law += usize::from(grade.law);
        score.date += usize::from(grade.date);
        score.parties_labelled += grade.parties_labelled;
        score.parties_found += grade.parties_found;
        score.parties_predicted += grade.parties_predicted;
        score.parties_correct += grade.parties_correct;
        for (field, correct) in grade.right() {
            let confidence = triage
                .fields
                .get(field)
                .map_or(1.0, |f| f64::from(f.confidence.mean));
            score
                .scored
                .entry(field)
                .or_default()
                .push((confidence, triage.confidence, correct));
        }
        count_evidence(&text, &triage, &mut score);
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

/// Whether each value with evidence was read from a passage that holds it
/// as written (dates are normalised, so they are left out).
fn count_evidence(document: &str, triage: &Triage, score: &mut Score) {
    for field in ["document_type", "governing_law"] {
        let (Some(value), Some(reading)) =
            (triage.record[field].as_str(), triage.fields.get(field))
        else {
            continue;
        };
        let Some(evidence) = &reading.evidence else {
            continue;
        };
        score.evidence.0 += 1;
        let passage = document.trim()[evidence.start..evidence.end].to_lowercase();
        score.evidence.1 += usize::from(passage.contains(&value.to_lowercase()));
    }
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
        "input: the whole contract, or {DOCUMENT_TOKENS} tokens of it read clause by clause (opening lines, then each field's best passages); greedy, schema-constrained"
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
    println!(
        "| values whose evidence passage holds them as written (type, law) | {}/{} |",
        s.evidence.1, s.evidence.0
    );
    println!();
    println!(
        "| key field | right | AUROC of its own confidence | AUROC of the record's confidence |"
    );
    println!("|---|---|---|---|");
    let mut fields: Vec<_> = s.scored.iter().collect();
    fields.sort_by_key(|(f, _)| *f);
    for (field, scored) in fields {
        let own: Vec<(f64, bool)> = scored.iter().map(|s| (s.0, s.2)).collect();
        let record: Vec<(f64, bool)> = scored.iter().map(|s| (s.1, s.2)).collect();
        println!(
            "| {field} | {}/{} | {:.3} | {:.3} |",
            scored.iter().filter(|s| s.2).count(),
            scored.len(),
            auroc(&own),
            auroc(&record)
        );
    }
}
