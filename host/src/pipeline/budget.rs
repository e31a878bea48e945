//! Cloud spend per policy per UTC day, against the policy's budget. Kept in
//! memory and rebuilt at start from today's audit records, so a restart
//! does not reset the day's spend.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::audit::{Filter, Kind};

#[derive(Default)]
pub struct Budgets {
    /// policy → (UTC day number, dollars spent that day)
    spent: Mutex<HashMap<String, (u64, f64)>>,
}

fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

impl Budgets {
    /// Today's spend per policy, summed from the `answer` records of `log`.
    pub fn from_log(log: &std::path::Path) -> Budgets {
        let budgets = Budgets::default();
        let Ok(file) = std::fs::File::open(log) else {
            return budgets;
        };
        let midnight = UNIX_EPOCH + std::time::Duration::from_secs(today() * 86_400);
        let filter = Filter {
            kind: Some(Kind::Answer),
            since: Some(midnight),
            ..Filter::default()
        };
        for (record, _) in filter.scan(std::io::BufReader::new(file)).flatten() {
            if let (Some(policy), Some(cloud)) = (&record.entry.policy, &record.entry.cloud) {
                budgets.charge(policy, cloud.cost_usd);
            }
        }
        budgets
    }

    /// Dollars spent today by `policy`.
    pub fn spent(&self, policy: &str) -> f64 {
        let spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        match spent.get(policy) {
            Some((day, usd)) if *day == today() => *usd,
            _ => 0.0,
        }
    }

    /// What is left of `limit` today (infinite without a limit).
    pub fn left(&self, policy: &str, limit: Option<f64>) -> f64 {
        limit.map_or(f64::INFINITY, |l| (l - self.spent(policy)).max(0.0))
    }

    pub fn charge(&self, policy: &str, usd: f64) {
        if usd <= 0.0 {
            return;
        }
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        let day = today();
        let entry = spent.entry(policy.to_string()).or_insert((day, 0.0));
        if entry.0 != day {
            *entry = (day, 0.0);
        }
        entry.1 += usd;
    }
}
