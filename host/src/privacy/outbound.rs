//! The one way text reaches the cloud. The cloud client sends only an
//! [`Outbound`], and only this module makes one: every turn of it went
//! through the anonymiser with the request's vault (one detector call for
//! all the turns, so a value keeps its placeholder across them): text,
//! records with their schema's `x-sluice-pii` fields pseudonymised whole,
//! tool calls' arguments and tool results. Tool definitions pass as the
//! caller wrote them. The answer comes back re-identified, whole or as a
//! stream.
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

use std::collections::BTreeMap;

use crate::cloud::{CloudClient, CloudError, Delta, Format, ToolCallDelta};
use crate::conversation::{Params, Role, ToolCall, Tools, Turn};
use crate::privacy::anonymise::mark_fields;
use crate::privacy::restore::{RestoreCounts, StreamRestorer, restore_in_json, restore_text};
use crate::privacy::{Anonymiser, Refusal, Vault};

/// Pseudonymised turns, ready to send, and the tools they may call.
#[derive(Clone, Debug)]
pub struct Outbound {
    turns: Vec<Turn>,
    tools: Tools,
}

impl Outbound {
    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    pub fn tools(&self) -> &Tools {
        &self.tools
    }

    /// Offer `tools` with the turns: their definitions are the caller's
    /// schemas, sent as they are.
    pub fn offering(mut self, tools: &Tools) -> Outbound {
        self.tools = tools.clone();
        self
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
    /// An assistant turn's calls; their arguments are pseudonymised.
    pub tool_calls: &'a [ToolCall],
    /// The call a tool turn answers.
    pub tool_call_id: Option<&'a str>,
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
            tool_calls: &[],
            tool_call_id: None,
        }
    }

    pub fn record(role: Role, value: &'a Value, schema: &'a Value) -> Draft<'a> {
        Draft {
            says: Says::Record { value, schema },
            ..Draft::text(role, "")
        }
    }

    /// A conversation's turns, as they are.
    pub fn turns(turns: &'a [Turn]) -> impl Iterator<Item = Draft<'a>> {
        turns.iter().map(|t| Draft {
            tool_calls: &t.tool_calls,
            tool_call_id: t.tool_call_id.as_deref(),
            ..Draft::text(t.role, &t.text)
        })
    }
}

impl Anonymiser<'_> {
    /// `drafts` pseudonymised with one detector call.
    pub async fn outbound(
        &self,
        vault: &mut Vault,
        drafts: &[Draft<'_>],
    ) -> Result<Outbound, Refusal> {
        // Each draft's content, then its calls' arguments (as JSON where
        // they parse, so only their strings are read).
        let mut values: Vec<Value> = Vec::new();
        for draft in drafts {
            values.push(match draft.says {
                Says::Text(text) => Value::String(text.to_string()),
                Says::Record { value, schema } => {
                    let mut value = value.clone();
                    // Marked fields first: their values never reach the
                    // detector.
                    mark_fields(vault, schema, &mut value);
                    value
                }
            });
            for call in draft.tool_calls {
                values.push(
                    serde_json::from_str(&call.arguments)
                        .unwrap_or_else(|_| Value::String(call.arguments.clone())),
                );
            }
        }
        let mut all = Value::Array(values);
        self.strings(vault, &mut all).await?;
        let Value::Array(values) = all else {
            unreachable!("an array stays an array")
        };
        let mut values = values.into_iter();
        let mut turns = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let text = match (draft.says, values.next()) {
                (Says::Text(_), Some(Value::String(text))) => text,
                (_, Some(value)) => value.to_string(),
                (_, None) => String::new(),
            };
            let tool_calls = draft
                .tool_calls
                .iter()
                .map(|call| ToolCall {
                    arguments: match values.next() {
                        Some(Value::String(raw))
                            if serde_json::from_str::<Value>(&call.arguments).is_err() =>
                        {
                            raw
                        }
                        Some(value) => value.to_string(),
                        None => String::new(),
                    },
                    ..call.clone()
                })
                .collect();
            turns.push(Turn {
                role: draft.role,
                text,
                tool_calls,
                tool_call_id: draft.tool_call_id.map(str::to_string),
            });
        }
        Ok(Outbound {
            turns,
            tools: Tools::default(),
        })
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

/// Tool calls with their arguments re-identified (values written escaped,
/// so the arguments stay the JSON they were).
pub fn restore_calls(vault: &Vault, calls: &[ToolCall]) -> Vec<ToolCall> {
    calls
        .iter()
        .map(|call| ToolCall {
            arguments: restore_in_json(vault, &call.arguments).text,
            ..call.clone()
        })
        .collect()
}

/// Send `outbound` and stream the answer re-identified: text and each tool
/// call's arguments. A placeholder split across chunks is held back until
/// it is whole, and never reaches the caller in part. The last item holds
/// what was held back.
pub async fn stream<'v>(
    cloud: &CloudClient,
    outbound: &Outbound,
    params: &Params,
    vault: &'v Vault,
) -> Result<impl Stream<Item = Result<Delta, CloudError>> + use<'v>, CloudError> {
    let inner = cloud.stream(outbound, Format::Text, params).await?;
    let restorers = Restorers {
        text: StreamRestorer::new(vault),
        calls: BTreeMap::new(),
        vault,
    };
    Ok(futures::stream::unfold(
        (Box::pin(inner), Some(restorers)),
        |(mut inner, restorers)| async move {
            let mut restorers = restorers?;
            match inner.next().await {
                Some(Ok(mut delta)) => {
                    delta.text = restorers.text.push(&delta.text);
                    for call in &mut delta.tool_calls {
                        call.arguments = restorers.call(call.index).push(&call.arguments);
                    }
                    Some((Ok(delta), (inner, Some(restorers))))
                }
                Some(Err(e)) => Some((Err(e), (inner, None))),
                None => Some((Ok(restorers.finish()), (inner, None))),
            }
        },
    ))
}

/// A stream's restorers: one for its text, one per tool call.
struct Restorers<'v> {
    text: StreamRestorer<'v>,
    calls: BTreeMap<u32, StreamRestorer<'v>>,
    vault: &'v Vault,
}

impl<'v> Restorers<'v> {
    fn call(&mut self, index: u32) -> &mut StreamRestorer<'v> {
        let vault = self.vault;
        self.calls
            .entry(index)
            .or_insert_with(|| StreamRestorer::in_json(vault))
    }

    /// What every restorer still held.
    fn finish(self) -> Delta {
        Delta {
            text: self.text.finish().0,
            tool_calls: self
                .calls
                .into_iter()
                .map(|(index, restorer)| ToolCallDelta {
                    index,
                    arguments: restorer.finish().0,
                    ..ToolCallDelta::default()
                })
                .filter(|c| !c.arguments.is_empty())
                .collect(),
            ..Delta::default()
        }
    }
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
