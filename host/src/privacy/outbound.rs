//! The one way text reaches the cloud: pseudonymised first, or not at all.
//! The answer comes back re-identified, whole or as a stream.

use futures::{Stream, StreamExt};

use crate::cloud::{CloudClient, CloudError, Format, Message};
use crate::privacy::restore::{RestoreCounts, StreamRestorer, restore_text};
use crate::privacy::{Anonymiser, Refusal, Vault};

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

async fn messages(
    anonymiser: &Anonymiser<'_>,
    vault: &mut Vault,
    system: &str,
    user: &str,
) -> Result<[Message; 2], Refusal> {
    Ok([
        Message::System(anonymiser.text(vault, system).await?),
        Message::User(anonymiser.text(vault, user).await?),
    ])
}

pub fn sent_bytes(messages: &[Message]) -> usize {
    messages.iter().map(|m| m.text().len()).sum()
}

/// Ask the cloud with `system` and `user` pseudonymised; restore the answer.
pub async fn ask(
    anonymiser: &Anonymiser<'_>,
    vault: &mut Vault,
    cloud: &CloudClient,
    system: &str,
    user: &str,
) -> Result<Answer, OutboundError> {
    let messages = messages(anonymiser, vault, system, user).await?;
    let reply = cloud.complete(&messages, Format::Text).await?;
    let restored = restore_text(vault, &reply.content);
    Ok(Answer {
        restore: restored.counts(),
        text: restored.text,
        sent_bytes: sent_bytes(&messages),
        prompt_tokens: reply.prompt_tokens,
        completion_tokens: reply.completion_tokens,
    })
}

/// As [`ask`], streamed: each item is re-identified text, ready to forward.
/// A placeholder split across chunks is held back until it is whole.
pub async fn ask_stream<'v>(
    anonymiser: &Anonymiser<'_>,
    vault: &'v mut Vault,
    cloud: &CloudClient,
    system: &str,
    user: &str,
) -> Result<impl Stream<Item = Result<String, CloudError>> + 'v, OutboundError> {
    let messages = messages(anonymiser, vault, system, user).await?;
    let inner = cloud.stream(&messages, Format::Text).await?;
    let restorer = StreamRestorer::new(vault);
    Ok(futures::stream::unfold(
        (Box::pin(inner), Some(restorer)),
        |(mut inner, restorer)| async move {
            let mut restorer = restorer?;
            match inner.next().await {
                Some(Ok(chunk)) => {
                    let text = restorer.push(&chunk);
                    Some((Ok(text), (inner, Some(restorer))))
                }
                Some(Err(e)) => Some((Err(e), (inner, None))),
                None => Some((Ok(restorer.finish().0), (inner, None))),
            }
        },
    ))
}
