//! A conversation framed for the local model. An instruction-tuned
//! checkpoint reads it through its own chat template
//! ([`super::chat_template`]). The embedded model is a base model: given a
//! bare question it can only end the text. It gets a dialogue instead,
//! opened by two short exchanges, with the conversation's turns under
//! `User:` and `Assistant:` and an open `Assistant:` line to write;
//! generation stops where it would start the next turn. System turns
//! become the dialogue's preamble.

use super::chat_template::ChatTemplate;
use super::tokenizer::Tokenizer;
use crate::conversation::{Role, Turn};

/// A conversation made ready for the loaded model.
#[derive(Debug, Clone, PartialEq)]
pub struct Framed {
    pub prompt: String,
    /// Where the model's turn ends, as text (a template's end-of-turn
    /// marker is a stop token instead).
    pub stop: Vec<String>,
    /// The prompt spells special tokens (the template's turn markers).
    pub marked: bool,
}

/// `turns` framed for the model: through the checkpoint's chat template
/// when it has one, else (or where the template refuses the conversation,
/// which is logged) as a dialogue.
pub fn frame(turns: &[Turn], template: Option<&ChatTemplate>, tokenizer: &Tokenizer) -> Framed {
    if let Some(template) = template {
        match template.render(turns, &|s| tokenizer.is_special(s)) {
            Ok(prompt) => {
                return Framed {
                    prompt,
                    stop: Vec::new(),
                    marked: true,
                };
            }
            Err(problem) => tracing::warn!("{problem}; framed as a dialogue instead"),
        }
    }
    Framed {
        prompt: dialogue(turns),
        stop: TURN_ENDS.map(String::from).to_vec(),
        marked: false,
    }
}

/// What opens every dialogue: how the assistant behaves, and two short
/// exchanges (an instruction, a question) that show the shape of an answer.
const OPENING: &str = "A conversation between a user and a helpful assistant. \
The assistant answers every question and follows every instruction.\n\n\
User: List three colours.\n\
Assistant: Red, green and blue.\n\n\
User: What is the capital of Colombia?\n\
Assistant: The capital of Colombia is Bogotá.\n\n";

/// Where the model would begin writing the user's next turn.
const TURN_ENDS: [&str; 2] = ["\nUser:", "\n\nUser"];

/// The prompt for `turns`, ending with the open assistant line.
fn dialogue(turns: &[Turn]) -> String {
    let mut prompt = String::new();
    for turn in turns.iter().filter(|t| t.role == Role::System) {
        prompt.push_str(turn.text.trim());
        prompt.push_str("\n\n");
    }
    prompt.push_str(OPENING);
    for turn in turns.iter().filter(|t| t.role != Role::System) {
        let speaker = match turn.role {
            Role::User => "User",
            Role::Tool => "Tool result",
            _ => "Assistant",
        };
        // A turn written over several lines stays one turn: blank lines
        // inside it would read as the turn's end.
        let text = turn
            .text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        prompt.push_str(&format!("{speaker}: {text}"));
        for call in &turn.tool_calls {
            prompt.push_str(&format!(" [calls {}({})]", call.name, call.arguments));
        }
        prompt.push('\n');
        if turn.role == Role::Assistant {
            prompt.push('\n');
        }
    }
    prompt.push_str("Assistant:");
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dialogue_ends_on_the_open_assistant_line() {
        let prompt = dialogue(&[
            Turn::system("Answer in Spanish."),
            Turn::user("Count from 1 to 3."),
            Turn::assistant("1, 2, 3"),
            Turn::user("Now\n\nto 5."),
        ]);
        assert!(prompt.starts_with("Answer in Spanish.\n\nA conversation"));
        assert!(
            prompt.ends_with(
                "User: Count from 1 to 3.\nAssistant: 1, 2, 3\n\nUser: Now\nto 5.\nAssistant:"
            ),
            "{prompt}"
        );
    }
}
