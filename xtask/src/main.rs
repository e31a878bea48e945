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
    /// Set up, build the plugins and run the whole test suite.
    Test {
        /// Extra arguments for cargo nextest (a filter, for example).
        args: Vec<String>,
    },
    /// Run a benchmark suite: `plugins`.
    Bench { suite: String },
}

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives in the workspace")?
        .to_path_buf();
    std::env::set_current_dir(&root)?;
    match Cli::parse().command {
        Cmd::Setup => setup(),
        Cmd::Plugins => {
            setup()?;
            build_plugins(&root)
        }
        Cmd::Test { args } => {
            setup()?;
            build_plugins(&root)?;
            test(&args)
        }
        Cmd::Bench { suite } => {
            setup()?;
            build_plugins(&root)?;
            match suite.as_str() {
                "plugins" => {
                    run(Command::new("cargo").args(["bench", "-p", "sluice", "--bench", "plugins"]))
                }
                other => bail!("unknown bench suite {other:?}; try `plugins`"),
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
    if !Path::new("plugins/js-build/node_modules/@bytecodealliance/componentize-js").exists() {
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
    ("testing/iloop", false),
    ("testing/memory-bomb", false),
    ("testing/unreachable", false),
    ("testing/panic", false),
    ("testing/output-flood", false),
    ("testing/wrong-version", false),
    ("testing/sneaky", false),
    ("testing/constant-router", false),
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
    let cache = home_dir().join("cache/polyglot");
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

fn home_dir() -> PathBuf {
    std::env::var_os("SLUICE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sluice")))
        .unwrap_or_else(|| PathBuf::from(".sluice"))
}

fn test(args: &[String]) -> Result<()> {
    run(Command::new("cargo")
        .args(["nextest", "run", "--workspace", "--no-fail-fast"])
        .args(args))?;
    // nextest does not run doctests.
    run(Command::new("cargo").args(["test", "--quiet", "--doc", "--workspace"]))
}
