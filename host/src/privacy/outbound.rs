//! The one way text reaches the cloud. The cloud client sends only an
//! [`Outbound`], and only this module makes one: every turn of it went
//! through the anonymiser with the request's vault (one detector call for
//! all the turns, so a value keeps its placeholder across them), records
//! with their schema's `x-sluice-pii` fields pseudonymised whole. The
//! answer comes back re-identified, whole or as a stream.
//!
//! Outside this module an `Outbound` cannot be built:
//!
//! ```compile_fail
//! use sluice::conversation::Turn;
//! let raw = sluice::privacy::outbound::Outbound { turns: vec![Turn::user("Ana Gómez")] };
//! ```
//!
//! only read:
//!
//! ```
//! fn sent(outbound: &sluice::privacy::outbound::Outbound) -> usize {
//!     outbound.turns().len() + outbound.bytes()
//! }
//! ```

use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::cloud::{CloudClient, CloudError, Delta, Format};
use crate::conversation::{Params, Role, Turn};
use crate::privacy::anonymise::mark_fields;
use crate::privacy::restore::{RestoreCounts, StreamRestorer, restore_text};
use crate::privacy::{Anonymiser, Refusal, Vault};

/// Pseudonymised turns, ready to send.
#[derive(Clone, Debug)]
pub struct Outbound {
    turns: Vec<Turn>,
}

impl Outbound {
    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    /// Bytes of text that leave the machine.
    pub fn bytes(&self) -> usize {
        self.turns.iter().map(|t| t.text.len()).sum()
    }

    /// More turns (a repair request after an answer), pseudonymised with
    /// the same vault.
    pub async fn extend(
        &mut self,
        anonymiser: &Anonymiser<'_>,
        vault: &mut Vault,
        drafts: &[Draft<'_>],
    ) -> Result<(), Refusal> {
        let more = anonymiser.outbound(vault, drafts).await?;
        self.turns.extend(more.turns);
        Ok(())
    }
}

/// One turn before it is pseudonymised.
#[derive(Clone, Copy, Debug)]
pub struct Draft<'a> {
    pub role: Role,
    pub says: Says<'a>,
}

/// What a turn says.
#[derive(Clone, Copy, Debug)]
pub enum Says<'a> {
    Text(&'a str),
    /// A JSON value sent as compact JSON; the fields `schema` marks
    /// `x-sluice-pii` are pseudonymised whole, every other string through
    /// the detector.
    Record {
        value: &'a Value,
        schema: &'a Value,
    },
}

impl<'a> Draft<'a> {
    pub fn text(role: Role, text: &'a str) -> Draft<'a> {
        Draft {
            role,
            says: Says::Text(text),
        }
    }

    pub fn record(role: Role, value: &'a Value, schema: &'a Value) -> Draft<'a> {
        Draft {
            role,
            says: Says::Record { value, schema },
        }
    }

    /// A conversation's turns, as they are.
    pub fn turns(turns: &'a [Turn]) -> impl Iterator<Item = Draft<'a>> {
        turns.iter().map(|t| Draft::text(t.role, &t.text))
    }
}

impl Anonymiser<'_> {
    /// `drafts` pseudonymised with one detector call.
    pub async fn outbound(
        &self,
        vault: &mut Vault,
        drafts: &[Draft<'_>],
    ) -> Result<Outbound, Refusal> {
        let mut values: Vec<Value> = drafts
            .iter()
            .map(|d| match d.says {
                Says::Text(text) => Value::String(text.to_string()),
                Says::Record { value, schema } => {
                    let mut value = value.clone();
                    // Marked fields first: their values never reach the
                    // detector.
                    mark_fields(vault, schema, &mut value);
                    value
                }
            })
            .collect();
        let mut all = Value::Array(std::mem::take(&mut values));
        self.strings(vault, &mut all).await?;
        let Value::Array(values) = all else {
            unreachable!("an array stays an array")
        };
        let turns = drafts
            .iter()
            .zip(values)
            .map(|(draft, value)| Turn {
                role: draft.role,
                text: match (draft.says, value) {
                    (Says::Text(_), Value::String(text)) => text,
                    (_, value) => value.to_string(),
                },
            })
            .collect();
        Ok(Outbound { turns })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The detector failed: nothing was sent.
    #[error("not sent to the cloud: {0}")]
    Refused(Refusal),
    #[error(transparent)]
    Cloud(#[from] CloudError),
}

impl From<Refusal> for OutboundError {
    fn from(r: Refusal) -> Self {
        OutboundError::Refused(r)
    }
}

/// A re-identified cloud answer.
#[derive(Debug)]
pub struct Answer {
    pub text: String,
    /// Placeholders restored, and unknown ones left as they were.
    pub restore: RestoreCounts,
    /// Bytes of message text that left the machine (after pseudonymisation).
    pub sent_bytes: usize,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// Ask the cloud with `drafts` pseudonymised; restore the answer.
pub async fn ask(
    anonymiser: &Anonymiser<'_>,
    vault: &mut Vault,
    cloud: &CloudClient,
    drafts: &[Draft<'_>],
    params: &Params,
) -> Result<Answer, OutboundError> {
    let outbound = anonymiser.outbound(vault, drafts).await?;
    let reply = cloud.complete(&outbound, Format::Text, params).await?;
    let restored = restore_text(vault, &reply.content);
    Ok(Answer {
        restore: restored.counts(),
        text: restored.text,
        sent_bytes: outbound.bytes(),
        prompt_tokens: reply.prompt_tokens,
        completion_tokens: reply.completion_tokens,
    })
}

/// Send `outbound` and stream the answer re-identified: a placeholder
/// split across chunks is held back until it is whole, and never reaches
/// the caller in part. The last item holds what was held back.
pub async fn stream<'v>(
    cloud: &CloudClient,
    outbound: &Outbound,
    params: &Params,
    vault: &'v Vault,
) -> Result<impl Stream<Item = Result<Delta, CloudError>> + use<'v>, CloudError> {
    let inner = cloud.stream(outbound, Format::Text, params).await?;
    let restorer = StreamRestorer::new(vault);
    Ok(futures::stream::unfold(
        (Box::pin(inner), Some(restorer)),
        |(mut inner, restorer)| async move {
            let mut restorer = restorer?;
            match inner.next().await {
                Some(Ok(mut delta)) => {
                    delta.text = restorer.push(&delta.text);
                    Some((Ok(delta), (inner, Some(restorer))))
                }
                Some(Err(e)) => Some((Err(e), (inner, None))),
                None => {
                    let rest = Delta {
                        text: restorer.finish().0,
                        ..Delta::default()
                    };
                    Some((Ok(rest), (inner, None)))
                }
            }
        },
    ))
}

/// As [`ask`], streamed: each item is re-identified text, ready to forward.
pub async fn ask_stream<'v>(
    anonymiser: &Anonymiser<'_>,
    vault: &'v mut Vault,
    cloud: &CloudClient,
    drafts: &[Draft<'_>],
    params: &Params,
) -> Result<impl Stream<Item = Result<String, CloudError>> + 'v, OutboundError> {
    let outbound = anonymiser.outbound(vault, drafts).await?;
    let vault: &'v Vault = vault;
    let deltas = stream(cloud, &outbound, params, vault).await?;
    Ok(deltas.map(|d| d.map(|d| d.text)))
}
