//! Detection report for an anonymiser plugin (`cargo xtask eval pii`):
//! precision, recall and F1 per entity type, on exact and on overlapping
//! spans, and throughput of the plugin running as a component (a fresh
//! instance per call, as the host runs anonymisers).
//!
//! Usage: eval_pii [FILE.jsonl ...] [--plugin WASM] [--presidio BASELINE.jsonl]
//! [--prose PROSE.jsonl]
//! (default: the three dev sets in ../shared/eval/pii and
//! policies/pii-detector.wasm). Each file is JSON lines `{"text", "spans":
//! [{"type", "start", "end"}], "lang"?}` with character offsets.
//! `--presidio` takes the lines `host/benches/presidio_baseline.py` printed for
//! the same files and puts Presidio's recall and throughput beside ours.
//! `--prose` takes `{"lang", "text"}` lines of ordinary prose with no
//! personal data (`host/benches/prose_sentences.py`): every span found
//! there is a false positive, counted per 1,000 words and language.
//!
//! Gold types map onto the contract's kinds by [`kind_of`]; a prediction
//! matches a gold span only when the kinds agree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use sluice::plugins::contract::PiiKind;
use sluice::plugins::{CallSettings, HostConfig, PluginEngine, loader};

/// The contract's kind for a gold type of latam_dev, presidio_dev or
/// meddocan_dev; `None` for types that are not personal data the detector
/// looks for (ages, sex, professions, titles). Places (cities, regions,
/// countries) are `Address`: the contract has no kind of their own.
fn kind_of(gold: &str) -> Option<PiiKind> {
    Some(match gold {
        "PERSON"
        | "NOMBRE_SUJETO_ASISTENCIA"
        | "NOMBRE_PERSONAL_SANITARIO"
        | "FAMILIARES_SUJETO_ASISTENCIA" => PiiKind::Person,
        "ORGANIZATION" | "HOSPITAL" | "INSTITUCION" | "CENTRO_SALUD" => PiiKind::Organisation,
        "EMAIL_ADDRESS" | "CORREO_ELECTRONICO" => PiiKind::Email,
        "PHONE_NUMBER" | "NUMERO_TELEFONO" | "NUMERO_FAX" => PiiKind::Phone,
        "CO_CEDULA"
        | "BR_CPF"
        | "MX_CURP"
        | "US_SSN"
        | "US_DRIVER_LICENSE"
        | "ID_SUJETO_ASISTENCIA"
        | "ID_ASEGURAMIENTO"
        | "ID_CONTACTO_ASISTENCIAL"
        | "ID_TITULACION_PERSONAL_SANITARIO"
        | "ID_EMPLEO_PERSONAL_SANITARIO" => PiiKind::NationalId,
        "CO_NIT" | "MX_RFC" | "BR_CNPJ" => PiiKind::TaxId,
        "MX_CLABE" | "BANK_ACCOUNT" | "IBAN_CODE" => PiiKind::BankAccount,
        "CREDIT_CARD" => PiiKind::Card,
        "STREET_ADDRESS" | "CALLE" | "TERRITORIO" | "PAIS" | "GPE" => PiiKind::Address,
        "DATE" | "DATE_TIME" | "FECHAS" => PiiKind::Date,
        "IP_ADDRESS" => PiiKind::IpAddress,
        _ => return None,
    })
}

/// Gold types whose values carry check digits (the ≥ 0.99 recall group).
const CHECKED: &[&str] = &[
    "CO_NIT",
    "BR_CPF",
    "BR_CNPJ",
    "MX_CURP",
    "MX_RFC",
    "MX_CLABE",
    "CREDIT_CARD",
    "IBAN_CODE",
];

struct Line {
    text: String,
    lang: String,
    /// (byte start, byte end, gold type)
    gold: Vec<(usize, usize, String)>,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    gold: usize,
    exact: usize,
    overlap: usize,
}

#[derive(Default, Clone, Copy)]
struct Predicted {
    total: usize,
    exact: usize,
    overlap: usize,
}

fn byte_offset(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(b, _)| b)
}

fn read(path: &Path) -> anyhow::Result<Vec<Line>> {
    let file =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = Vec::new();
    for (n, raw) in file
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value =
            serde_json::from_str(raw).with_context(|| format!("{}:{}", path.display(), n + 1))?;
        let text = v["text"]
            .as_str()
            .context("a line without `text`")?
            .to_string();
        let gold = v["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let (start, end) = (
                    s["start"].as_u64().unwrap_or(0) as usize,
                    s["end"].as_u64().unwrap_or(0) as usize,
                );
                (
                    byte_offset(&text, start),
                    byte_offset(&text, end),
                    s["type"].as_str().unwrap_or("?").to_string(),
                )
            })
            .collect();
        let lang = v["lang"]
            .as_str()
            .unwrap_or(if path.to_string_lossy().contains("meddocan") {
                "es"
            } else {
                "en"
            });
        lines.push(Line {
            text,
            lang: lang.to_string(),
            gold,
        });
    }
    Ok(lines)
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut plugin_path = root.join("policies/pii-detector.wasm");
    let mut presidio: BTreeMap<String, Value> = BTreeMap::new();
    let mut prose = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--plugin" => plugin_path = PathBuf::from(args.next().context("--plugin WASM")?),
            "--prose" => prose = Some(PathBuf::from(args.next().context("--prose FILE")?)),
            "--presidio" => {
                let path = args.next().context("--presidio FILE")?;
                for line in std::fs::read_to_string(&path)?
                    .lines()
                    .filter(|l| l.starts_with('{'))
                {
                    let v: Value = serde_json::from_str(line)?;
                    presidio.insert(v["file"].as_str().unwrap_or_default().to_string(), v);
                }
            }
            flag if flag.starts_with("--") => bail!("unknown flag {flag}"),
            file => files.push(PathBuf::from(file)),
        }
    }
    if files.is_empty() {
        let dir = root.join("../shared/eval/pii");
        files = [
            "latam_dev.jsonl",
            "presidio_dev.jsonl",
            "meddocan_dev.jsonl",
        ]
        .map(|f| dir.join(f))
        .to_vec();
    }
    let engine = PluginEngine::new(HostConfig::default())?;
    let plugin = loader::load_file(&engine, &plugin_path)
        .with_context(|| format!("loading {}", plugin_path.display()))?;
    let settings = CallSettings {
        deadline: Duration::from_secs(2),
        ..CallSettings::default()
    };
    println!("plugin {} ({})", plugin_path.display(), plugin.short_sha());

    for file in &files {
        let lines = read(file)?;
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut by_type: BTreeMap<String, Counts> = BTreeMap::new();
        let mut by_kind: BTreeMap<String, Predicted> = BTreeMap::new();
        let mut predictions = Vec::with_capacity(lines.len());
        for line in &lines {
            predictions.push(
                engine
                    .block_on(plugin.detect(&line.text, &line.lang, &settings))
                    .with_context(|| format!("detect on {:?}", line.text))?,
            );
        }
        for (line, spans) in lines.iter().zip(&predictions) {
            for (start, end, gold) in &line.gold {
                let c = by_type.entry(gold.clone()).or_default();
                c.gold += 1;
                let Some(kind) = kind_of(gold) else { continue };
                let same = spans.iter().filter(|s| s.kind == kind);
                let (mut exact, mut overlap) = (false, false);
                for s in same {
                    let (s0, s1) = (s.start as usize, s.end as usize);
                    exact |= s0 == *start && s1 == *end;
                    overlap |= s0 < *end && s1 > *start;
                }
                c.exact += exact as usize;
                c.overlap += overlap as usize;
            }
            for s in spans {
                let p = by_kind.entry(format!("{:?}", s.kind)).or_default();
                p.total += 1;
                let (s0, s1) = (s.start as usize, s.end as usize);
                let golds = line
                    .gold
                    .iter()
                    .filter(|(_, _, g)| kind_of(g) == Some(s.kind));
                let (mut exact, mut overlap) = (false, false);
                for (start, end, _) in golds {
                    exact |= s0 == *start && s1 == *end;
                    overlap |= s0 < *end && s1 > *start;
                }
                p.exact += exact as usize;
                p.overlap += overlap as usize;
            }
        }

        // Throughput as a component over several passes: the file as 64 KB
        // documents (the detector's own speed), and line by line (each call
        // also pays for a fresh instance). The median, and for documents also
        // the fastest pass: on a shared machine the median moves with the
        // neighbours' load, the fastest pass much less.
        let bytes: usize = lines.iter().map(|l| l.text.len()).sum();
        let mut documents = vec![String::new()];
        for line in &lines {
            if documents.last().is_some_and(|d| d.len() > 64 << 10) {
                documents.push(String::new());
            }
            let doc = documents.last_mut().expect("one document");
            doc.push_str(&line.text);
            doc.push('\n');
        }
        let timed =
            |passes: usize, run: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<(f64, f64)> {
                let mut times = Vec::new();
                for _ in 0..passes {
                    let t0 = Instant::now();
                    run()?;
                    times.push(t0.elapsed().as_secs_f64());
                }
                times.sort_by(f64::total_cmp);
                Ok((times[passes / 2], times[0]))
            };
        let lang = lines.first().map_or("en", |l| l.lang.as_str());
        let document_mb = documents.iter().map(String::len).sum::<usize>() as f64 / 1e6;
        let (bulk_median, bulk_fastest) = timed(21, &|| {
            for doc in &documents {
                engine.block_on(plugin.detect(doc, lang, &settings))?;
            }
            Ok(())
        })?;
        let (bulk_mb_s, bulk_best_mb_s) = (document_mb / bulk_median, document_mb / bulk_fastest);
        let line_mb_s = bytes as f64
            / 1e6
            / timed(7, &|| {
                for line in &lines {
                    engine.block_on(plugin.detect(&line.text, &line.lang, &settings))?;
                }
                Ok(())
            })?
            .0;
        let theirs = presidio.get(&name);

        println!("\n## {name}: {} lines, {} bytes", lines.len(), bytes);
        println!(
            "| gold type | kind | gold | recall exact | recall overlap | presidio recall overlap |"
        );
        println!("|---|---|---|---|---|---|");
        let mut handled = Counts::default();
        let mut checked = Counts::default();
        for (gold, c) in &by_type {
            let kind = kind_of(gold).map_or("-".to_string(), |k| format!("{k:?}"));
            let presidio_cell = theirs
                .and_then(|v| {
                    v["types"][gold].as_object().map(|o| {
                        (
                            o["overlap"].as_u64().unwrap_or(0),
                            o["gold"].as_u64().unwrap_or(0),
                        )
                    })
                })
                .map_or("-".to_string(), |(o, g)| {
                    format!("{:.3}", o as f64 / g.max(1) as f64)
                });
            println!(
                "| {gold} | {kind} | {} | {:.3} | {:.3} | {presidio_cell} |",
                c.gold,
                ratio(c.exact, c.gold),
                ratio(c.overlap, c.gold)
            );
            if kind_of(gold).is_some() {
                handled.gold += c.gold;
                handled.exact += c.exact;
                handled.overlap += c.overlap;
            }
            if CHECKED.contains(&gold.as_str()) {
                checked.gold += c.gold;
                checked.overlap += c.overlap;
            }
        }
        println!(
            "\n| predicted kind | predicted | precision exact | precision overlap | F1 exact | F1 overlap |"
        );
        println!("|---|---|---|---|---|---|");
        let mut all = Predicted::default();
        for (kind, p) in &by_kind {
            let golds: Vec<&Counts> = by_type
                .iter()
                .filter(|(g, _)| kind_of(g).is_some_and(|k| &format!("{k:?}") == kind))
                .map(|(_, c)| c)
                .collect();
            let (g, e, o) = golds.iter().fold((0, 0, 0), |a, c| {
                (a.0 + c.gold, a.1 + c.exact, a.2 + c.overlap)
            });
            let (pe, po) = (ratio(p.exact, p.total), ratio(p.overlap, p.total));
            println!(
                "| {kind} | {} | {pe:.3} | {po:.3} | {:.3} | {:.3} |",
                p.total,
                f1(pe, ratio(e, g)),
                f1(po, ratio(o, g))
            );
            all.total += p.total;
            all.exact += p.exact;
            all.overlap += p.overlap;
        }
        println!(
            "\nall mapped spans: recall exact {:.3}, overlap {:.3}; precision exact {:.3}, overlap {:.3}; check-digit identifiers recall (overlap) {:.3} of {}",
            ratio(handled.exact, handled.gold),
            ratio(handled.overlap, handled.gold),
            ratio(all.exact, all.total),
            ratio(all.overlap, all.total),
            ratio(checked.overlap, checked.gold),
            checked.gold,
        );
        let presidio_speed = theirs.and_then(|v| v["mb_s"].as_f64());
        println!(
            "throughput as a component: {bulk_mb_s:.1} MB/s on 64 KB documents (fastest pass {bulk_best_mb_s:.1}), {line_mb_s:.2} MB/s line by line (a fresh instance per call){}",
            presidio_speed.map_or(String::new(), |p| format!(
                "; presidio pattern recognisers (blank spaCy), line by line: {p:.3} MB/s, {:.0}x slower than ours line by line",
                line_mb_s / p
            ))
        );
    }

    // Latency added to a 4 KB request: one call on 4 KB of contract text, median of 51.
    let sample: String = read(&files[0])?
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(4096)
        .collect();
    let mut times: Vec<Duration> = (0..51)
        .map(|_| {
            let t0 = Instant::now();
            engine
                .block_on(plugin.detect(&sample, "es", &settings))
                .map(|_| t0.elapsed())
        })
        .collect::<Result<_, _>>()?;
    times.sort();
    println!(
        "\none call on a {}-byte request: median {:.3} ms, p90 {:.3} ms",
        sample.len(),
        times[25].as_secs_f64() * 1e3,
        times[45].as_secs_f64() * 1e3
    );

    if let Some(prose) = prose {
        println!("\n## ordinary prose ({})", prose.display());
        println!("| language | sentences | words | spans found | per 1,000 words |");
        println!("|---|---|---|---|---|");
        let lines = read(&prose)?;
        let mut examples = Vec::new();
        let mut by_lang: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
        for line in &lines {
            let spans = engine.block_on(plugin.detect(&line.text, &line.lang, &settings))?;
            let counts = by_lang.entry(&line.lang).or_default();
            counts.0 += 1;
            counts.1 += line.text.split_whitespace().count();
            counts.2 += spans.len();
            for span in spans {
                examples.push(format!(
                    "{} {:?} in {:?}",
                    line.lang,
                    span.kind,
                    &line.text[span.start as usize..span.end as usize]
                ));
            }
        }
        for (lang, (sentences, words, found)) in &by_lang {
            println!(
                "| {lang} | {sentences} | {words} | {found} | {:.2} |",
                *found as f64 * 1e3 / *words as f64
            );
        }
        for example in examples.iter().take(40) {
            println!("- {example}");
        }
    }
    Ok(())
}
