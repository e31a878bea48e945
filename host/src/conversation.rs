//! A conversation as the caller sent it: turns with their roles, and the
//! generation parameters that hold for both tiers. The API reads one from
//! the wire, the pipeline carries it, the local tier frames it for its
//! model ([`crate::local::chat`]), and the cloud receives it, pseudonymised
//! turn by turn ([`crate::privacy::outbound`]).

/// Who says a turn. A client's `developer` turn is a system turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

impl Turn {
    pub fn new(role: Role, text: impl Into<String>) -> Turn {
        Turn {
            role,
            text: text.into(),
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
}

impl Finish {
    /// OpenAI's `finish_reason`.
    pub fn name(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
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
