//! The audit writer. Each record is serialised to one line and written with
//! one `write` on an unbuffered file, so what `append` returned for is in the
//! kernel; a thread `fsync`s at least once a second while there is something
//! new, and [`AuditLog::close`] (or drop) syncs before it returns.
//!
//! Opening an existing log continues its chain from the last complete line.
//! A last line without its newline is what a crash during a write leaves: it
//! was never acknowledged, so it is cut off and a `recovery` record says how
//! many bytes went.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

use super::digest;
use super::record::{Entry, GENESIS, Kind, Record};

/// How often new records are forced to disk.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How far back from the end `open` looks for the last line.
const TAIL_WINDOW: u64 = 1 << 20;

struct Chain {
    file: File,
    seq: u64,
    prev: String,
    dirty: bool,
}

struct Shared {
    chain: Mutex<Chain>,
    /// The same file, for `fsync` without the chain's lock: appends go on
    /// while the disk catches up (a sync can take 100 ms).
    sync_handle: std::fs::File,
    closed: AtomicBool,
    wake: Condvar,
}

/// An append-only, hash-chained JSON-lines log. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl AuditLog {
    /// Open (or create) the log at `path` and start its sync thread.
    pub fn open(path: &Path) -> anyhow::Result<AuditLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the audit folder {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening the audit log {}", path.display()))?;
        let (last_line, torn) = last_line(&mut file)
            .with_context(|| format!("reading the end of {}", path.display()))?;
        if torn > 0 {
            let keep = file.metadata()?.len() - torn;
            file.set_len(keep)
                .with_context(|| format!("cutting the torn last line of {}", path.display()))?;
            tracing::warn!(
                "{}: cut off a half-written last line ({torn} bytes)",
                path.display()
            );
        }
        let (seq, prev) = match &last_line {
            Some(line) => {
                let record: Record = serde_json::from_slice(line).with_context(|| {
                    format!(
                        "the last line of {} is not an audit record; run `sluice audit verify`",
                        path.display()
                    )
                })?;
                (record.seq, digest(line))
            }
            None => (0, GENESIS.to_string()),
        };
        let sync_handle = file
            .try_clone()
            .with_context(|| format!("opening {} for syncing", path.display()))?;
        let shared = Arc::new(Shared {
            sync_handle,
            chain: Mutex::new(Chain {
                file,
                seq,
                prev,
                dirty: false,
            }),
            closed: AtomicBool::new(false),
            wake: Condvar::new(),
        });
        let syncer = shared.clone();
        std::thread::Builder::new()
            .name("sluice-audit-sync".into())
            .spawn(move || sync_loop(&syncer))
            .context("starting the audit sync thread")?;
        let log = AuditLog {
            shared,
            path: path.to_path_buf(),
        };
        if torn > 0 {
            log.append(
                Entry::new(Kind::Recovery, "cut torn line").reasons([format!(
                    "{torn} bytes of a half-written last line removed at open"
                )]),
            )?;
        }
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write one record; returns it as written (its `id` is the decision id).
    pub fn append(&self, entry: Entry) -> anyhow::Result<Record> {
        let mut chain = self.shared.chain.lock().unwrap_or_else(|p| p.into_inner());
        let record = Record {
            seq: chain.seq + 1,
            id: format!("{:032x}", rand::random::<u128>()),
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            prev: chain.prev.clone(),
            entry,
        };
        let mut line = serde_json::to_vec(&record)?;
        let hash = digest(&line);
        line.push(b'\n');
        chain
            .file
            .write_all(&line)
            .with_context(|| format!("writing to the audit log {}", self.path.display()))?;
        chain.seq = record.seq;
        chain.prev = hash;
        chain.dirty = true;
        Ok(record)
    }

    /// The hash of the last line written: anchor it elsewhere to detect a
    /// log rewritten from some point on.
    pub fn head(&self) -> (u64, String) {
        let chain = self.shared.chain.lock().unwrap_or_else(|p| p.into_inner());
        (chain.seq, chain.prev.clone())
    }

    /// Force what was written to disk now.
    pub fn sync(&self) -> std::io::Result<()> {
        sync(&self.shared)
    }

    /// Sync and stop the sync thread; later appends still work (and are
    /// synced by the next `close` or drop of the last handle).
    pub fn close(&self) -> std::io::Result<()> {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        sync(&self.shared)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let chain = self.chain.get_mut().unwrap_or_else(|p| p.into_inner());
        if chain.dirty {
            let _ = chain.file.sync_data();
        }
    }
}

/// Sync what was written, if anything, holding the chain's lock only to
/// read and clear the dirty flag.
fn sync(shared: &Shared) -> std::io::Result<()> {
    {
        let mut chain = shared.chain.lock().unwrap_or_else(|p| p.into_inner());
        if !chain.dirty {
            return Ok(());
        }
        chain.dirty = false;
    }
    shared.sync_handle.sync_data().inspect_err(|_| {
        shared.chain.lock().unwrap_or_else(|p| p.into_inner()).dirty = true;
    })
}

/// Every second, sync if something was written; stop when closed or when
/// the log is the thread's alone.
fn sync_loop(shared: &Arc<Shared>) {
    loop {
        {
            let guard = shared.chain.lock().unwrap_or_else(|p| p.into_inner());
            drop(
                shared
                    .wake
                    .wait_timeout(guard, SYNC_INTERVAL)
                    .unwrap_or_else(|p| p.into_inner()),
            );
        }
        if let Err(e) = sync(shared) {
            tracing::error!("syncing the audit log: {e}");
        }
        if shared.closed.load(Ordering::SeqCst) || Arc::strong_count(shared) == 1 {
            return;
        }
    }
}

/// The last complete line of `file` (without its newline), and how many
/// bytes follow it without a newline (a torn write).
fn last_line(file: &mut File) -> std::io::Result<(Option<Vec<u8>>, u64)> {
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL_WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let Some(end) = tail.iter().rposition(|&b| b == b'\n') else {
        // No complete line in the window: an empty log, or one torn line.
        return Ok((None, if start == 0 { len } else { 0 }));
    };
    let torn = (tail.len() - end - 1) as u64;
    let begin = tail[..end]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    Ok((Some(tail[begin..end].to_vec()), torn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify;

    #[test]
    fn the_chain_continues_across_opens_and_a_torn_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let first = log.append(Entry::new(Kind::Route, "local")).unwrap();
        assert_eq!((first.seq, first.prev.as_str()), (1, GENESIS));
        log.append(Entry::new(Kind::Answer, "local")).unwrap();
        log.close().unwrap();
        drop(log);

        // A crash in the middle of a write.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"seq":3,"id":"half"#).unwrap();
        drop(file);

        let log = AuditLog::open(&path).unwrap();
        let next = log.append(Entry::new(Kind::Route, "escalate")).unwrap();
        assert_eq!(next.seq, 4, "the recovery record is 3");
        log.close().unwrap();
        let verified = verify(&path).unwrap();
        assert_eq!(verified.records, 4);
        assert!(verified.tamper.is_none(), "{:?}", verified.tamper);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""kind":"recovery""#), "{text}");
        assert!(!text.contains(r#""id":"half"#), "{text}");
    }
}
