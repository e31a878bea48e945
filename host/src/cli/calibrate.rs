//! `sluice calibrate --policy P --docs DIR --labels FILE`: run the policy's
//! local stage over labelled documents, report how well each field's
//! confidence tells right from wrong and how true it is, before and after
//! calibration (two-fold: each half calibrated on the other), and write the
//! calibration fitted on all of them beside the policy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use sluice::calibration::fit::{self, Observation};
use sluice::calibration::{self, Calibration, FORMAT, FittedOn, Sample, labels};
use sluice::local::{self, Backend, LocalRuntime};
use sluice::pipeline::Policy;
use sluice::plugins::CallSettings;

#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// The policy, by name (a file <policies>/<name>.toml with a schema).
    #[arg(long)]
    policy: String,
    /// The folder of policies.
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
    /// The labelled documents (UTF-8 text, named by the labels' file stems).
    #[arg(long)]
    docs: PathBuf,
    /// The labels: CSV in CUAD's master_clauses columns (see docs/calibration.md).
    #[arg(long)]
    labels: PathBuf,
    /// Use at most this many labelled documents (in file-name order).
    #[arg(long)]
    limit: Option<usize>,
    /// Report only; write no calibration file.
    #[arg(long)]
    dry_run: bool,
}

pub fn calibrate(args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    let policy_file = args.policies.join(format!("{}.toml", args.policy));
    let policy = Policy::load_uncalibrated(&policy_file, &CallSettings::default())?;
    let stage = policy
        .local_stage
        .clone()
        .with_context(|| format!("policy {} runs no local model with a schema", policy.name))?;
    let labels = labels::read(&args.labels)?;
    let documents = labels::labelled(&args.docs, &labels, args.limit.unwrap_or(usize::MAX))?;
    if documents.len() < 4 {
        bail!(
            "{} labelled documents in {}: calibration needs at least 4",
            documents.len(),
            args.docs.display()
        );
    }

    let (engine, _) = local::load(&Backend::embedded())?;
    let runtime = LocalRuntime::start(engine, 1);
    // Per field, per document (in order): its raw confidence, basis and whether it was right.
    let mut observed: BTreeMap<&'static str, Vec<Sample>> = BTreeMap::new();
    for (n, (path, label)) in documents.iter().enumerate() {
        let started = Instant::now();
        let text = std::fs::read_to_string(path)?;
        let prepared = stage.request(runtime.tokenizer(), &text);
        let generation = runtime.submit(prepared.request)?.wait()?;
        let triage = stage.finish(generation, prepared.reading)?;
        for (field, right) in labels::grade(&triage.record, label).right() {
            observed
                .entry(field)
                .or_default()
                .push(Sample::of(triage.fields.get(field), right));
        }
        eprintln!(
            "[{}/{}] {:.1} s  {}",
            n + 1,
            documents.len(),
            started.elapsed().as_secs_f64(),
            path.display()
        );
    }

    report(&observed, &args.docs);
    let calibration = Calibration {
        format: FORMAT.into(),
        fitted_on: FittedOn {
            documents: documents.len(),
            labels: args.labels.display().to_string(),
        },
        fields: observed
            .iter()
            .map(|(field, samples)| (field.to_string(), calibration::fit_field(samples)))
            .collect(),
    };
    if !args.dry_run {
        write(&Calibration::path_for(&policy_file), &calibration)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Per field: accuracy, AUROC and ECE of the raw confidence, and of the
/// calibrated one scored out of fold (documents alternate between two
/// folds; each is calibrated on the other); then the out-of-fold
/// reliability table.
fn report(observed: &BTreeMap<&'static str, Vec<Sample>>, docs: &Path) {
    println!(
        "calibration on {} documents from {} (two-fold: each half scored with the maps fitted on the other)",
        observed.values().next().map_or(0, Vec::len),
        docs.display()
    );
    println!("| field | right | AUROC raw | AUROC calibrated | ECE raw | ECE calibrated |");
    println!("|---|---|---|---|---|---|");
    let mut tables = Vec::new();
    for (field, samples) in observed {
        let raw: Vec<Observation> = samples.iter().map(|s| (s.raw, s.right)).collect();
        let calibrated: Vec<Observation> = calibration::out_of_fold(samples)
            .into_iter()
            .zip(samples)
            .map(|(c, s)| (c, s.right))
            .collect();
        println!(
            "| {field} | {}/{} | {:.3} | {:.3} | {:.3} | {:.3} |",
            raw.iter().filter(|x| x.1).count(),
            raw.len(),
            fit::auroc(&raw),
            fit::auroc(&calibrated),
            fit::ece(&raw),
            fit::ece(&calibrated)
        );
        tables.push((field, fit::reliability(&calibrated)));
    }
    for (field, bins) in tables {
        println!(
            "\n{field}, calibrated out of fold:\n| confidence | documents | mean confidence | right |\n|---|---|---|---|"
        );
        for bin in bins.iter().filter(|b| b.count > 0) {
            println!(
                "| {:.1}-{:.1} | {} | {:.3} | {:.3} |",
                bin.low, bin.high, bin.count, bin.mean_confidence, bin.accuracy
            );
        }
    }
}

/// Write beside the policy atomically: the watcher sees one complete file.
fn write(path: &Path, calibration: &Calibration) -> anyhow::Result<()> {
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_string_pretty(calibration)? + "\n")?;
    std::fs::rename(&partial, path)?;
    eprintln!("calibration written to {}", path.display());
    Ok(())
}
