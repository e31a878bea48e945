//! A whole-answer call answered with server-sent events, as some
//! OpenAI-compatible proxies do whatever `stream` says: the events' chat
//! chunks joined into one answer, which is then validated and re-identified
//! like any other. A body whose events are not all chat chunks is not an
//! answer (`None`): the caller reports it by shape, never by content.

use async_openai::types::chat::CreateChatCompletionStreamResponse;

/// The text and usage of a joined stream.
#[derive(Debug, PartialEq, Eq)]
pub struct Joined {
    pub content: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// Join an event-stream body's chat chunks, up to `[DONE]`.
pub fn join(body: &str) -> Option<Joined> {
    let mut joined = Joined {
        content: String::new(),
        prompt_tokens: 0,
        completion_tokens: 0,
    };
    let mut chunks = 0;
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        let Some(data) = line.strip_prefix("data:") else {
            // Comments, `event:`, `id:`, `retry:` and the blank lines between events.
            continue;
        };
        let data = data.trim_start();
        if data == "[DONE]" {
            break;
        }
        let chunk: CreateChatCompletionStreamResponse = serde_json::from_str(data).ok()?;
        chunks += 1;
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content {
                joined.content.push_str(&text);
            }
        }
        if let Some(usage) = chunk.usage {
            joined.prompt_tokens = usage.prompt_tokens;
            joined.completion_tokens = usage.completion_tokens;
        }
    }
    (chunks > 0).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> String {
        format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
            serde_json::to_string(text).unwrap()
        )
    }

    #[test]
    fn chat_chunks_are_joined_up_to_done() {
        let body = format!(
            "{}: keep-alive\n\n{}{}data: [DONE]\n\n{}",
            ": comment",
            chunk("Hola "),
            chunk("[PERSON_1]"),
            chunk("after")
        );
        let joined = join(&body).unwrap();
        assert_eq!(joined.content, "Hola [PERSON_1]");
    }

    #[test]
    fn other_events_are_not_an_answer() {
        assert_eq!(join("data: {\"not\": \"a chunk\"}\n\n"), None);
        assert_eq!(join("<html>502</html>"), None);
        assert_eq!(join(""), None);
    }
}
