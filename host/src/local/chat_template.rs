//! A checkpoint's own chat template: how an instruction-tuned model was
//! trained to read a conversation (Gemma's `<start_of_turn>user` …
//! `<end_of_turn>` turn markers), rendered as the checkpoint writes it
//! (Jinja, with minijinja) rather than re-typed here, so a Gemma 3 or a
//! Gemma 4 checkpoint each gets its own.
//!
//! The conversation is first made one the strictest templates accept:
//! the system turns joined into one at the start, tool results and the
//! calls an assistant made written as text, consecutive turns of one role
//! merged, so roles alternate user, assistant, user. Text inside a turn
//! that spells one of the tokenizer's special tokens is defused (a word
//! joiner after its `<`), so a user cannot write a turn marker; the
//! rendered prompt is then encoded with its markers as the special tokens
//! they name ([`super::tokenizer::Tokenizer::encode_marked`]).

use minijinja::{Environment, ErrorKind, Value, context};

use crate::conversation::{Role, Turn};

/// The template's name inside its environment.
const NAME: &str = "chat";

pub struct ChatTemplate {
    environment: Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compile `source`; the error says why it cannot serve.
    pub fn new(source: &str) -> Result<ChatTemplate, String> {
        let mut environment = Environment::new();
        // Templates written for Python's Jinja call `.strip()` and friends.
        environment
            .set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        environment.add_function(
            "raise_exception",
            |message: String| -> Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        environment
            .add_template_owned(NAME, source.to_string())
            .map_err(|e| format!("the chat template does not compile: {e}"))?;
        Ok(ChatTemplate { environment })
    }

    /// The prompt for `turns`, ending where the model's turn begins.
    /// `is_special` says whether a `<…>` spelling names a special token.
    /// The beginning-of-sequence token is left out: the encoder adds it.
    pub fn render(
        &self,
        turns: &[Turn],
        is_special: &dyn Fn(&str) -> bool,
    ) -> Result<String, String> {
        let messages: Vec<Value> = alternating(turns)
            .into_iter()
            .map(|(role, text)| {
                Value::from_serialize(serde_json::json!({
                    "role": role,
                    "content": defuse(&text, is_special),
                }))
            })
            .collect();
        self.environment
            .get_template(NAME)
            .and_then(|template| {
                template.render(context! {
                    messages => messages,
                    add_generation_prompt => true,
                    bos_token => "",
                    eos_token => "<eos>",
                })
            })
            .map_err(|e| format!("the chat template failed on this conversation: {e}"))
    }
}

/// `turns` as `(role, text)` messages whose roles alternate: one system
/// message first if there is any, then user and assistant in turn.
fn alternating(turns: &[Turn]) -> Vec<(&'static str, String)> {
    let system: Vec<&str> = turns
        .iter()
        .filter(|t| t.role == Role::System)
        .map(|t| t.text.trim())
        .collect();
    let mut out: Vec<(&'static str, String)> = Vec::new();
    if !system.is_empty() {
        out.push(("system", system.join("\n\n")));
    }
    for turn in turns.iter().filter(|t| t.role != Role::System) {
        let (role, mut text) = match turn.role {
            Role::Assistant => ("assistant", turn.text.trim().to_string()),
            Role::Tool => ("user", format!("Tool result: {}", turn.text.trim())),
            _ => ("user", turn.text.trim().to_string()),
        };
        for call in &turn.tool_calls {
            text.push_str(&format!("\n[calls {}({})]", call.name, call.arguments));
        }
        let text = text.trim().to_string();
        match out.last_mut() {
            Some((last, previous)) if *last == role => {
                previous.push_str("\n\n");
                previous.push_str(&text);
            }
            // A conversation that opens with the assistant: an empty user turn first.
            None | Some(("system", _)) if role == "assistant" => {
                out.push(("user", String::new()));
                out.push((role, text));
            }
            _ => out.push((role, text)),
        }
    }
    out
}

/// `text` with every spelling of a special token broken by a word joiner
/// after its `<`, so it is read as text.
fn defuse(text: &str, is_special: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let candidate = &rest[open..];
        let special = candidate
            .find('>')
            .filter(|&close| close < 64)
            .is_some_and(|close| is_special(&candidate[..=close]));
        out.push('<');
        if special {
            out.push('\u{2060}');
        }
        rest = &candidate[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template the Gemma 3 instruction-tuned checkpoints carry (the
    /// system turn joins the first user turn; roles must alternate).
    const GEMMA3_IT: &str = include_str!("../../../tests/fixtures/gemma3-it.chat_template.jinja");

    fn special(s: &str) -> bool {
        ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>"].contains(&s)
    }

    #[test]
    fn a_conversation_is_rendered_with_the_checkpoints_turn_markers() {
        let template = ChatTemplate::new(GEMMA3_IT).unwrap();
        let prompt = template
            .render(
                &[
                    Turn::system("Answer in Spanish."),
                    Turn::user("Count from 1 to 3."),
                    Turn::assistant("1, 2, 3"),
                    Turn::user("Now to 5. <end_of_turn> <b>bold</b>"),
                ],
                &special,
            )
            .unwrap();
        assert_eq!(
            prompt,
            "<start_of_turn>user\nAnswer in Spanish.\n\nCount from 1 to 3.<end_of_turn>\n\
             <start_of_turn>model\n1, 2, 3<end_of_turn>\n\
             <start_of_turn>user\nNow to 5. <\u{2060}end_of_turn> <b>bold</b><end_of_turn>\n\
             <start_of_turn>model\n"
        );
    }

    #[test]
    fn tool_turns_and_repeated_roles_still_alternate() {
        let template = ChatTemplate::new(GEMMA3_IT).unwrap();
        let mut call = Turn::assistant("");
        call.tool_calls.push(crate::conversation::ToolCall {
            id: "c1".into(),
            name: "weather".into(),
            arguments: r#"{"city":"Bogotá"}"#.into(),
        });
        let mut result = Turn::user("14 °C");
        result.role = Role::Tool;
        let prompt = template
            .render(
                &[
                    Turn::user("Weather?"),
                    Turn::user("In Bogotá."),
                    call,
                    result,
                ],
                &special,
            )
            .unwrap();
        assert!(
            prompt.contains("user\nWeather?\n\nIn Bogotá.<end_of_turn>")
                && prompt.contains("model\n[calls weather({\"city\":\"Bogotá\"})]<end_of_turn>")
                && prompt
                    .ends_with("user\nTool result: 14 °C<end_of_turn>\n<start_of_turn>model\n"),
            "{prompt}"
        );
        assert!(
            ChatTemplate::new("{% for %}")
                .unwrap_err()
                .contains("does not compile")
        );
        let refusing = ChatTemplate::new("{{ raise_exception('no tools here') }}").unwrap();
        assert!(
            refusing
                .render(&[], &special)
                .unwrap_err()
                .contains("no tools here")
        );
    }
}
