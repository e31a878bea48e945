//! A plugin version's health: call and failure counts, the last error, and
//! quarantine after K failures in T seconds. Quarantine ends only when a new
//! version of the file arrives (which comes with a fresh `Health`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Health {
    after: usize,
    window: Duration,
    quarantined: AtomicBool,
    calls: AtomicU64,
    failures: AtomicU64,
    /// Failure times inside the window, and the last error; touched only on failure.
    recent: Mutex<(VecDeque<Instant>, Option<String>)>,
}

impl Health {
    pub fn new(after: usize, window: Duration) -> Health {
        Health {
            after: after.max(1),
            window,
            quarantined: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            recent: Mutex::new((VecDeque::new(), None)),
        }
    }

    pub fn is_quarantined(&self) -> bool {
        self.quarantined.load(Ordering::Relaxed)
    }

    pub fn record_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a failure; returns true when this one put the plugin in quarantine.
    pub fn record_failure(&self, error: &str) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        recent.0.push_back(now);
        while recent
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            recent.0.pop_front();
        }
        recent.1 = Some(error.to_string());
        recent.0.len() >= self.after && !self.quarantined.swap(true, Ordering::Relaxed)
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantines_after_k_failures_inside_the_window() {
        let health = Health::new(3, Duration::from_secs(60));
        assert!(!health.record_failure("a"));
        assert!(!health.record_failure("b"));
        assert!(health.record_failure("c"), "third failure quarantines");
        assert!(health.is_quarantined());
        assert!(!health.record_failure("d"), "reported once");
        assert_eq!(health.last_error().as_deref(), Some("d"));
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let health = Health::new(2, Duration::from_millis(20));
        health.record_failure("a");
        std::thread::sleep(Duration::from_millis(40));
        assert!(!health.record_failure("b"));
        assert!(!health.is_quarantined());
    }
}
