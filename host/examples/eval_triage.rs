//! The contract-triage policy scored against human labels (`cargo xtask
//! eval triage`): what the local model reads (document type, parties,
//! governing law, agreement date), the missing-clause flags the host
//! computes, how well each field's confidence tells right from wrong before
//! and after calibration, and what the shipped router does with it: the
//! escalation table at the policy's thresholds.
//!
//! Calibration is two-fold: documents alternate between two folds, and each
//! fold's confidences are calibrated with the map fitted on the other, so no
//! figure is scored on what it was fitted on. The router then sees those
//! out-of-fold confidences, through the real plugin with the policy's
//! settings.
//!
//! Usage: eval_triage [CONTRACTS_DIR LABELS_CSV] [--skip N] [--limit N]
//! [--policy NAME] [--records FILE] (default:
//! ../shared/eval/contracts/cuad/{contracts,master_clauses_dev.csv}, policy
//! contract-triage). `--records` writes one JSON line per contract: the
//! record, each field's confidence, the label and which key fields were
//! right, to read the errors behind the tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use sluice::calibration::fit::{self, Observation};
use sluice::calibration::labels::{self, Label};
use sluice::calibration::{self, Sample};
use sluice::local::triage::DOCUMENT_TOKENS;
use sluice::local::{self, Backend, LocalRuntime};
use sluice::pipeline::escalation;
use sluice::pipeline::signals;
use sluice::pipeline::stages::{LocalAnswer, LocalUsage};
use sluice::pipeline::{Policy, sample};
use sluice::plugins::contract::{Route, RouteContext};
use sluice::plugins::{CallSettings, HostConfig, PluginHost};

/// The key fields: a record with any of them wrong is one the cloud should see.
const KEY_FIELDS: [&str; 4] = [
    "agreement_date",
    "document_type",
    "governing_law",
    "parties",
];

/// One contract read.
struct Row {
    name: String,
    document: String,
    answer: LocalAnswer,
    grade: labels::Grade,
    /// Per key field: whether it was right.
    right: BTreeMap<&'static str, bool>,
    label: Label,
    seconds: f64,
}

impl Row {
    fn wrong(&self) -> bool {
        self.right.values().any(|r| !r)
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut limit = usize::MAX;
    let mut skip: usize = 0;
    let mut policy_name = "contract-triage".to_string();
    let mut records: Option<PathBuf> = None;
    let mut paths = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--limit" => limit = iter.next().context("--limit N")?.parse()?,
            "--skip" => skip = iter.next().context("--skip N")?.parse()?,
            "--policy" => policy_name = iter.next().context("--policy NAME")?.clone(),
            "--records" => records = Some(iter.next().context("--records FILE")?.into()),
            other => paths.push(PathBuf::from(other)),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cuad = root.join("../shared/eval/contracts/cuad");
    let (dir, csv_path) = match paths.as_slice() {
        [] => (cuad.join("contracts"), cuad.join("master_clauses_dev.csv")),
        [dir, csv] => (dir.clone(), csv.clone()),
        _ => bail!(
            "usage: eval_triage [CONTRACTS_DIR LABELS_CSV] [--skip N] [--limit N] [--policy NAME] [--records FILE]"
        ),
    };
    let labels = labels::read(&csv_path)?;
    let mut contracts = labels::labelled(&dir, &labels, skip.saturating_add(limit))?;
    contracts.drain(..skip.min(contracts.len()));
    if contracts.len() < 4 {
        bail!(
            "{} contracts in {} have a label in {}: the two-fold report needs at least 4",
            contracts.len(),
            dir.display(),
            csv_path.display()
        );
    }

    let policies = root.join("policies");
    // Calibrated here, two-fold: the file beside the policy is not read.
    let policy = Policy::load_uncalibrated(
        &policies.join(format!("{policy_name}.toml")),
        &CallSettings::default(),
    )?;
    let stage = policy
        .local_stage
        .clone()
        .context("the policy runs no local model with a schema")?;
    let router = policy
        .router
        .clone()
        .context("the policy names no router")?;
    let plugins = PluginHost::start(HostConfig::default())?;
    plugins.registry().load_dir(&policies);
    let set = plugins.registry().snapshot();
    if set.get(&router.name).is_none() {
        bail!(
            "router {} is not loaded from {} ({:?}); run `cargo xtask plugins`",
            router.name,
            policies.display(),
            set.status(&router.name)
        );
    }

    let (engine, load) = local::load(&Backend::embedded())?;
    eprintln!("model loaded in {:.0} ms", load.as_secs_f64() * 1e3);
    let runtime = LocalRuntime::start(engine, 1);
    let mut rows = Vec::new();
    let mut failed = 0;
    for (n, (path, label)) in contracts.iter().enumerate() {
        let text = std::fs::read_to_string(path)?;
        let started = Instant::now();
        let prepared = stage.request(runtime.tokenizer(), &text);
        let document_tokens = prepared.document_tokens;
        let outcome = runtime
            .submit(prepared.request)?
            .wait()
            .map_err(anyhow::Error::from)
            .and_then(|g| Ok(stage.finish(g, prepared.reading)?));
        let seconds = started.elapsed().as_secs_f64();
        let triage = match outcome {
            Ok(triage) => triage,
            Err(e) => {
                eprintln!("{}: {e:#}", path.display());
                failed += 1;
                continue;
            }
        };
        let grade = labels::grade(&triage.record, label);
        let right = grade.right().into_iter().collect();
        eprintln!(
            "[{}/{}] {seconds:.1} s  {}",
            n + 1,
            contracts.len(),
            triage.record["document_type"]
        );
        rows.push(Row {
            name: path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into(),
            document: text.trim().to_string(),
            answer: LocalAnswer {
                value: triage.record,
                confidence: Some(triage.confidence),
                fields: triage.fields,
                provisions: triage.provisions,
                ranked: triage.ranked,
                document_tokens,
                finish: sluice::conversation::Finish::Stop,
                tool_calls: Vec::new(),
                usage: LocalUsage::default(),
                ms: seconds * 1e3,
            },
            grade,
            right,
            label: (*label).clone(),
            seconds,
        });
    }

    println!(
        "contract triage ({}) on {} contracts from {}; {failed} without a valid record",
        policy.name,
        contracts.len(),
        dir.display()
    );
    println!(
        "input: the whole contract, or {DOCUMENT_TOKENS} tokens of it read clause by clause; greedy, schema-constrained\n"
    );
    if let Some(path) = &records {
        write_records(path, &rows)?;
    }
    fields_table(&rows);
    flags_table(&rows);
    let calibrated = calibration_table(&rows);
    escalation_table(&rows, &calibrated, &policy, &plugins, &set, &router)?;
    Ok(())
}

/// One JSON line per contract read.
fn write_records(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let mut out = String::new();
    for row in rows {
        let confidence: BTreeMap<&String, f32> = row
            .answer
            .fields
            .iter()
            .map(|(field, reading)| (field, reading.confidence.mean))
            .collect();
        let basis: BTreeMap<&String, String> = row
            .answer
            .fields
            .iter()
            .filter_map(|(field, reading)| Some((field, reading.basis?.to_string())))
            .collect();
        let line = serde_json::json!({
            "contract": row.name,
            "record": row.answer.value,
            "confidence": confidence,
            "basis": basis,
            "label": {
                "document_type": row.label.document_type,
                "parties": row.label.parties,
                "governing_law": row.label.governing_law,
                "agreement_date": row.label.agreement_date,
                "effective_date": row.label.effective_date,
                "expiration_date": row.label.expiration_date,
            },
            "right": row.right,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

fn fields_table(rows: &[Row]) {
    let n = rows.len() as f64;
    let share = |f: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count() as f64 / n;
    let sum = |f: &dyn Fn(&labels::Grade) -> usize| rows.iter().map(|r| f(&r.grade)).sum::<usize>();
    let mut seconds: Vec<f64> = rows.iter().map(|r| r.seconds).collect();
    seconds.sort_by(f64::total_cmp);
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| document type, word overlap (Dice) >= 0.6 | {:.3} |",
        share(&|r| r.right["document_type"])
    );
    println!(
        "| document type, exact (normalised) | {:.3} |",
        share(&|r| r.grade.type_exact)
    );
    println!("| governing law | {:.3} |", share(&|r| r.grade.law));
    println!("| agreement date | {:.3} |", share(&|r| r.grade.date));
    println!(
        "| effective date (null where the label gives none) | {:.3} |",
        share(&|r| r.grade.effective_date)
    );
    println!(
        "| expiration date (null where none or perpetual) | {:.3} |",
        share(&|r| r.grade.expiration_date)
    );
    let (found, labelled) = (sum(&|g| g.parties_found), sum(&|g| g.parties_labelled));
    let (correct, predicted) = (sum(&|g| g.parties_correct), sum(&|g| g.parties_predicted));
    println!(
        "| parties recall | {:.3} ({found}/{labelled}) |",
        found as f64 / labelled.max(1) as f64
    );
    println!(
        "| parties precision | {:.3} ({correct}/{predicted}) |",
        correct as f64 / predicted.max(1) as f64
    );
    println!(
        "| all four key fields right | {:.3} |",
        share(&|r| !r.wrong())
    );
    println!(
        "| median seconds per contract | {:.1} |",
        seconds.get(seconds.len() / 2).copied().unwrap_or(0.0)
    );
    let (mut with, mut holds) = (0, 0);
    for row in rows {
        for field in ["document_type", "governing_law"] {
            let value = row.answer.value[field].as_str();
            let evidence = row
                .answer
                .fields
                .get(field)
                .and_then(|f| f.evidence.as_ref());
            if let (Some(value), Some(e)) = (value, evidence) {
                with += 1;
                let passage = row.document[e.start..e.end].to_lowercase();
                holds += usize::from(passage.contains(&value.to_lowercase()));
            }
        }
    }
    println!(
        "| values whose evidence passage holds them as written (type, law) | {holds}/{with} |\n"
    );
}

/// Per missing-clause flag: precision, recall and F1 of the host's flags
/// against the labels' clause columns (a flag is right when the label says
/// the contract lacks that kind of clause).
fn flags_table(rows: &[Row]) {
    let kinds: Vec<String> = rows
        .first()
        .map(|r| r.label.clauses.keys().cloned().collect())
        .unwrap_or_default();
    if kinds.is_empty() {
        return;
    }
    println!("| risk flag | flagged | lacking (labels) | precision | recall | F1 |");
    println!("|---|---|---|---|---|---|");
    let mut f1s = Vec::new();
    for kind in &kinds {
        let flag = format!("missing_{kind}");
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        for row in rows {
            let flagged = row.answer.value["risk_flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|v| v.as_str() == Some(&flag)));
            let lacking = row.label.clauses.get(kind) == Some(&false);
            match (flagged, lacking) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => {}
            }
        }
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / (tp + fn_).max(1) as f64;
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        f1s.push(f1);
        println!(
            "| {flag} | {} | {} | {precision:.3} | {recall:.3} | {f1:.3} |",
            tp + fp,
            tp + fn_
        );
    }
    println!(
        "| macro F1 | | | | | {:.3} |\n",
        f1s.iter().sum::<f64>() / f1s.len() as f64
    );
}

/// Per key field: AUROC and ECE of its raw confidence and of the calibrated
/// one, out of fold. Returns, per row, the out-of-fold calibrated
/// confidence of each key field.
fn calibration_table(rows: &[Row]) -> Vec<BTreeMap<&'static str, f64>> {
    let mut calibrated = vec![BTreeMap::new(); rows.len()];
    println!(
        "| key field | right | AUROC raw | AUROC calibrated | AUROC record-wide | ECE raw | ECE calibrated |"
    );
    println!("|---|---|---|---|---|---|---|");
    for field in KEY_FIELDS {
        let samples: Vec<Sample> = rows
            .iter()
            .map(|r| Sample::of(r.answer.fields.get(field), r.right[field]))
            .collect();
        let observed: Vec<Observation> = samples.iter().map(|s| (s.raw, s.right)).collect();
        let out_of_fold: Vec<Observation> = calibration::out_of_fold(&samples)
            .into_iter()
            .zip(&samples)
            .map(|(c, s)| (c, s.right))
            .collect();
        for (i, (value, _)) in out_of_fold.iter().enumerate() {
            calibrated[i].insert(field, *value);
        }
        let record: Vec<Observation> = rows
            .iter()
            .map(|r| (r.answer.confidence.unwrap_or(0.0), r.right[field]))
            .collect();
        println!(
            "| {field} | {}/{} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            observed.iter().filter(|o| o.1).count(),
            observed.len(),
            fit::auroc(&observed),
            fit::auroc(&out_of_fold),
            fit::auroc(&record),
            fit::ece(&observed),
            fit::ece(&out_of_fold)
        );
    }
    println!();
    calibrated
}

/// The router, with the policy's settings, on each record with its
/// out-of-fold calibrated confidences: how much stays local, how many of
/// the wrong records it sends to the cloud against random escalation of the
/// same size, and what would leave.
fn escalation_table(
    rows: &[Row],
    calibrated: &[BTreeMap<&'static str, f64>],
    policy: &Policy,
    plugins: &PluginHost,
    set: &sluice::plugins::PluginSet,
    router: &sluice::pipeline::policy::PluginUse,
) -> anyhow::Result<()> {
    let n = rows.len();
    let mut escalated = 0;
    let mut caught = 0;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let (mut record_bytes, mut evidence_bytes, mut document_bytes) = (0usize, 0usize, 0usize);
    let mut shares: Vec<f64> = Vec::new();
    let share = policy
        .evidence_share
        .unwrap_or(escalation::DEFAULT_EVIDENCE_SHARE);
    for (row, calibrated) in rows.iter().zip(calibrated) {
        let mut answer = row.answer.clone();
        for (field, reading) in &mut answer.fields {
            reading.calibrated = calibrated.get(field.as_str()).copied();
        }
        let ctx = RouteContext {
            request_id: row.name.clone(),
            policy: policy.name.clone(),
            task: policy.task.clone(),
            tags: vec![],
            input_tokens: answer.document_tokens as u32,
            triage_json: Some(answer.value.to_string()),
            confidence: answer.confidence.unwrap_or(0.0) as f32,
            fields: signals::fields(&answer),
            document: signals::document(&answer),
            budget_left_usd: f64::MAX,
            sample: sample(&row.name),
        };
        let routed = plugins
            .engine()
            .block_on(set.route(&router.name, &ctx, &router.settings));
        if let Some(fallback) = &routed.fallback {
            bail!("the router failed on {}: {fallback}", row.name);
        }
        if routed.decision.route == Route::Local {
            continue;
        }
        escalated += 1;
        caught += usize::from(row.wrong());
        for reason in &routed.decision.reasons {
            *reasons.entry(reason_kind(reason)).or_default() += 1;
        }
        let passages =
            escalation::passages(&row.document, &answer, &routed.decision.doubtful, share);
        let sent: usize = passages
            .iter()
            .map(|q| q.passage.end - q.passage.start)
            .sum();
        record_bytes += answer.value.to_string().len();
        evidence_bytes += sent;
        document_bytes += row.document.len();
        shares.push(sent as f64 / row.document.len().max(1) as f64);
    }
    let wrong = rows.iter().filter(|r| r.wrong()).count();
    let random = escalated as f64 * wrong as f64 / n as f64;
    let all_cloud: usize = rows.iter().map(|r| r.document.len()).sum();
    shares.sort_by(f64::total_cmp);
    println!(
        "escalation at the policy's thresholds ({} with its settings; out-of-fold calibrated confidences)",
        router.name
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| answered locally | {:.3} ({}/{n}) |",
        (n - escalated) as f64 / n as f64,
        n - escalated
    );
    println!("| records with a wrong key field | {wrong}/{n} |");
    println!(
        "| of those, escalated (error recall) | {:.3} ({caught}/{wrong}) |",
        caught as f64 / wrong.max(1) as f64
    );
    println!("| random escalation of the same size would catch | {random:.1} |");
    println!(
        "| lift over random | {:.2}x |",
        if random > 0.0 {
            caught as f64 / random
        } else {
            0.0
        }
    );
    println!(
        "| escalated records that were wrong (precision) | {:.3} |",
        caught as f64 / escalated.max(1) as f64
    );
    println!(
        "| cloud bytes, fields only (the records) | {record_bytes} ({:.2}% of all-cloud) |",
        record_bytes as f64 * 100.0 / all_cloud.max(1) as f64
    );
    println!(
        "| cloud bytes, fields and evidence | {} ({:.2}% of all-cloud) |",
        record_bytes + evidence_bytes,
        (record_bytes + evidence_bytes) as f64 * 100.0 / all_cloud.max(1) as f64
    );
    println!("| all-cloud (every whole document) | {all_cloud} |");
    println!(
        "| evidence per escalated document: median, largest share of its bytes | {:.3}, {:.3} (of {document_bytes} bytes escalated) |",
        shares.get(shares.len() / 2).copied().unwrap_or(0.0),
        shares.last().copied().unwrap_or(0.0)
    );
    println!("\n| reason (escalated records) | count |");
    println!("|---|---|");
    for (reason, count) in reasons {
        println!("| {reason} | {count} |");
    }
    Ok(())
}

/// A reason without its numbers: `governing_law confidence 0.42 below
/// 0.50` → `governing_law confidence below`.
fn reason_kind(reason: &str) -> String {
    reason
        .split_whitespace()
        .filter(|w| !w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}
