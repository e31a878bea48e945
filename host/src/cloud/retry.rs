//! Retries below async-openai, as a tower service around its reqwest
//! transport: 429, 5xx and connection failures are tried again after a
//! jittered exponential backoff, or after the server's `Retry-After` (seconds
//! or an HTTP date) when it sends one. A wait that would pass the request's
//! deadline, or a `Retry-After` longer than [`RetryPolicy::max_retry_after`],
//! ends the retries at once: the caller falls back rather than hangs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use tokio::time::Instant;
use tower::ServiceExt;

/// How hard to try.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub max_retries: u32,
    /// The first backoff ceiling; doubled per retry, jittered in [0, ceiling].
    #[serde(deserialize_with = "crate::millis", rename = "base_delay_ms")]
    pub base_delay: Duration,
    #[serde(deserialize_with = "crate::millis", rename = "max_delay_ms")]
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one is a failure now.
    #[serde(deserialize_with = "crate::millis", rename = "max_retry_after_ms")]
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The jittered backoff before retry number `n` (0-based).
    pub fn backoff(&self, n: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
            .min(self.max_delay);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

tokio::task_local! {
    /// The deadline of the request being made on this task.
    pub static DEADLINE: Instant;
}

/// Retries counted since start (for metrics).
#[derive(Default, Debug)]
pub struct RetryCount(AtomicU64);

impl RetryCount {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The transport with retries, ready for `Client::with_http_service`.
pub fn service(
    policy: RetryPolicy,
    retries: Arc<RetryCount>,
) -> impl tower::Service<
    HttpRequestFactory,
    Response = reqwest::Response,
    Error = OpenAIError,
    Future = impl Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let policy = Arc::new(policy);
    // One client for every call: its connection pool is what makes a cloud
    // call one round trip, and building one loads the TLS roots (~100 ms).
    let client = reqwest::Client::new();
    tower::service_fn(move |request: HttpRequestFactory| {
        let policy = policy.clone();
        let retries = retries.clone();
        let client = client.clone();
        async move { send(&policy, &retries, &client, request).await }
    })
}

/// Why an attempt may be tried again, and the server's wait if it named one.
fn retryable(result: &Result<reqwest::Response, OpenAIError>) -> Option<Option<Duration>> {
    match result {
        Ok(response) => {
            let status = response.status();
            (status.as_u16() == 429 || status.is_server_error())
                .then(|| retry_after(response.headers()))
        }
        Err(OpenAIError::Reqwest(e)) if e.is_connect() || e.is_request() || e.is_timeout() => {
            Some(None)
        }
        Err(_) => None,
    }
}

async fn send(
    policy: &RetryPolicy,
    retries: &RetryCount,
    client: &reqwest::Client,
    request: HttpRequestFactory,
) -> Result<reqwest::Response, OpenAIError> {
    let deadline = DEADLINE.try_with(|d| *d).ok();
    let mut attempt = 0;
    loop {
        let result = ReqwestService::new(client.clone())
            .oneshot(request.clone())
            .await;
        let Some(server_wait) = retryable(&result) else {
            return result;
        };
        if attempt >= policy.max_retries {
            return result;
        }
        let wait = match server_wait {
            Some(wait) if wait > policy.max_retry_after => {
                tracing::warn!("the cloud asks to retry after {wait:?}; not waiting that long");
                return result;
            }
            Some(wait) => wait,
            None => policy.backoff(attempt),
        };
        if deadline.is_some_and(|d| Instant::now() + wait >= d) {
            tracing::warn!("no time left to retry the cloud request");
            return result;
        }
        match &result {
            Ok(r) => tracing::info!("cloud answered {}; retrying in {wait:?}", r.status()),
            Err(e) => tracing::info!("cloud request failed ({e}); retrying in {wait:?}"),
        }
        retries.0.fetch_add(1, Ordering::Relaxed);
        attempt += 1;
        tokio::time::sleep(wait).await;
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_under_a_doubling_ceiling() {
        let policy = RetryPolicy::default();
        for n in 0..8 {
            let ceiling = (policy.base_delay * (1 << n)).min(policy.max_delay);
            for _ in 0..50 {
                assert!(policy.backoff(n) <= ceiling);
            }
        }
        let draws: std::collections::BTreeSet<Duration> =
            (0..20).map(|_| policy.backoff(3)).collect();
        assert!(draws.len() > 10, "jitter spreads the waits: {draws:?}");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        headers.insert("retry-after", later.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
