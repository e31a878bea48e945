//! A conversation as the caller sent it: turns with their roles (tool
//! calls and their results included), the tools offered, and the
//! generation parameters that hold for both tiers. The API reads one from
//! the wire, the pipeline carries it, the local tier frames it for its
//! model ([`crate::local::chat`]), and the cloud receives it, pseudonymised
//! turn by turn ([`crate::privacy::outbound`]).

/// Who says a turn. A client's `developer` turn is a system turn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    #[default]
    User,
    Assistant,
    /// A tool's result, answering one of the assistant's calls.
    Tool,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One message of a conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
    /// The calls an assistant turn made.
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool turn answers.
    pub tool_call_id: Option<String>,
}

/// A call of one of the offered tools.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, as the APIs carry them.
    pub arguments: String,
}

impl ToolCall {
    /// The call as OpenAI's chat format writes it.
    pub fn to_openai(&self) -> serde_json::Value {
        serde_json::json!({"id": self.id, "type": "function",
            "function": {"name": self.name, "arguments": self.arguments}})
    }
}

/// A tool the caller offers: a function and the JSON schema of its
/// arguments.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Tool {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub parameters: serde_json::Value,
}

/// Whether, and which, tool the answer must call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// A call or a text answer, as the model sees fit.
    #[default]
    Auto,
    /// Text only.
    None,
    /// Some call.
    Required,
    /// This function.
    Function(String),
}

/// The tools a request offers, and how it may use them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tools {
    pub offered: Vec<Tool>,
    pub choice: ToolChoice,
    /// Whether the answer may make several calls at once; `None` leaves it
    /// to the model. The local model makes one call.
    pub parallel: Option<bool>,
}

impl Tools {
    /// Whether the answer may be a call.
    pub fn callable(&self) -> bool {
        !self.offered.is_empty() && self.choice != ToolChoice::None
    }
}

impl Turn {
    pub fn new(role: Role, text: impl Into<String>) -> Turn {
        Turn {
            role,
            text: text.into(),
            ..Turn::default()
        }
    }

    pub fn system(text: impl Into<String>) -> Turn {
        Turn::new(Role::System, text)
    }

    pub fn user(text: impl Into<String>) -> Turn {
        Turn::new(Role::User, text)
    }

    pub fn assistant(text: impl Into<String>) -> Turn {
        Turn::new(Role::Assistant, text)
    }
}

/// How the answer is generated, whichever tier writes it. `None` leaves the
/// tier's own default (the local tier decodes greedily without a
/// temperature).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    /// Completion tokens at most.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub seed: Option<u64>,
    /// Generation ends before the first of these; they are not returned.
    pub stop: Vec<String>,
}

/// Why an answer ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Finish {
    /// The model ended it, or a stop sequence did.
    #[default]
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The answer is tool calls.
    ToolCalls,
}

impl Finish {
    /// OpenAI's `finish_reason`.
    pub fn name(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
        }
    }
}

/// What a policy that reads a document reads in a conversation: one
/// turn's text as it is; several as `role: text` paragraphs, so that no
/// turn is silently dropped.
pub fn document(turns: &[Turn]) -> String {
    if let [turn] = turns {
        return turn.text.clone();
    }
    turns
        .iter()
        .filter(|t| !t.text.trim().is_empty())
        .map(|t| format!("{}: {}", t.role.name(), t.text))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_keeps_every_turn() {
        assert_eq!(document(&[Turn::user("Hola")]), "Hola");
        assert_eq!(
            document(&[
                Turn::system("Be brief."),
                Turn::user("Hola"),
                Turn::assistant("")
            ]),
            "system: Be brief.\n\nuser: Hola"
        );
    }
}
