//! Why a fallback answered instead of the tier the policy chose, typed: a
//! caller, a test or a metric matches the variant; people read the sentence.

use crate::cloud::CloudError;

#[derive(Clone, Debug, thiserror::Error)]
pub enum Degraded {
    #[error("local-only mode: no cloud is configured (set OPENAI_API_KEY)")]
    NoCloud,
    /// The policy spent today's cloud budget (the sentence has the sums).
    #[error("{0}")]
    OverBudget(String),
    /// The anonymiser could not pseudonymise, so nothing was sent.
    #[error("not sent to the cloud: {0}")]
    Refused(String),
    #[error("{0}")]
    Cloud(CloudError),
    /// The cloud answered, but not under the schema, even after one repair.
    #[error("{0}")]
    Invalid(String),
    /// The cloud's stream broke after part of the answer had been sent; the
    /// part stands, nothing else can follow it.
    #[error("the answer was cut off after {sent} bytes: {error}")]
    StreamBroken { sent: usize, error: CloudError },
    /// The caller went away while the answer was streamed; generation
    /// stopped.
    #[error("the caller went away after {sent} bytes of the answer")]
    Abandoned { sent: usize },
    #[error("the local model wrote nothing")]
    EmptyLocal,
}

impl Degraded {
    /// A stable name for metrics and error codes.
    pub fn code(&self) -> &'static str {
        match self {
            Degraded::NoCloud => "no_cloud",
            Degraded::OverBudget(_) => "over_budget",
            Degraded::Refused(_) => "anonymiser_refused",
            Degraded::Cloud(_) => "cloud_error",
            Degraded::Invalid(_) => "invalid_answer",
            Degraded::StreamBroken { .. } => "stream_broken",
            Degraded::Abandoned { .. } => "abandoned",
            Degraded::EmptyLocal => "empty_local_answer",
        }
    }
}

/// Written as its sentence.
impl serde::Serialize for Degraded {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
