//! Tool calls by the local model, by constrained decoding. Its answer is
//! held to a schema built from the offered tools and the tool choice: a
//! call `{"call": name, "arguments": {…}}` whose arguments follow that
//! function's parameter schema; where parallel calls are allowed (the
//! default, unless `parallel_tool_calls` is false or the choice names one
//! function), also several at once, `{"calls": [{"call": …}, …]}` (two to
//! [`MAX_PARALLEL`]); or, where the choice allows text, `{"reply": "…"}`.
//! So a call always parses and validates against its function's
//! parameters. Strings and lists the schema leaves unbounded
//! are bounded ([`MAX_STRING`], [`MAX_ITEMS`]), and objects hold only the
//! properties they name, so a call ends within the
//! token budget even when the model would repeat itself: every bounded
//! call is still valid under the caller's schema.

use serde_json::{Value, json};

use crate::conversation::{ToolChoice, Tools};

/// Characters of a string argument the schema leaves unbounded.
pub const MAX_STRING: u64 = 120;
/// Items of a list argument the schema leaves unbounded.
pub const MAX_ITEMS: u64 = 8;
/// Calls in one answer, at most, where parallel calls are allowed.
pub const MAX_PARALLEL: u64 = 4;

/// Whether the answer may hold several calls.
fn parallel(tools: &Tools) -> bool {
    tools.parallel != Some(false)
        && !matches!(tools.choice, ToolChoice::Function(_))
        && tools.choice != ToolChoice::None
}

/// The schema the answer is held to.
pub fn schema(tools: &Tools) -> Value {
    let mut options: Vec<Value> = tools
        .offered
        .iter()
        .filter(|t| match &tools.choice {
            ToolChoice::Function(name) => &t.name == name,
            _ => true,
        })
        .map(|t| {
            json!({"type": "object",
                "properties": {"call": {"const": t.name}, "arguments": bounded(&t.parameters)},
                "required": ["call", "arguments"], "additionalProperties": false})
        })
        .collect();
    if parallel(tools) && !options.is_empty() {
        let one = json!({"anyOf": options.clone()});
        options.push(json!({"type": "object",
            "properties": {"calls": {"type": "array", "items": one, "minItems": 2, "maxItems": MAX_PARALLEL}},
            "required": ["calls"], "additionalProperties": false}));
    }
    if tools.choice == ToolChoice::Auto {
        options.push(
            json!({"type": "object", "properties": {"reply": {"type": "string", "maxLength": 4 * MAX_STRING}},
            "required": ["reply"], "additionalProperties": false}),
        );
    }
    json!({"anyOf": options})
}

/// `schema` with a length on every string and list that has none.
fn bounded(schema: &Value) -> Value {
    let mut schema = schema.clone();
    bound(&mut schema);
    schema
}

fn bound(schema: &mut Value) {
    match schema {
        Value::Object(fields) => {
            let is = |kind: &str, fields: &serde_json::Map<String, Value>| match fields.get("type")
            {
                Some(Value::String(t)) => t == kind,
                Some(Value::Array(ts)) => ts.iter().any(|t| t == kind),
                _ => false,
            };
            let free = !["enum", "const", "pattern", "format"]
                .iter()
                .any(|k| fields.contains_key(*k));
            if is("string", fields) && free && !fields.contains_key("maxLength") {
                fields.insert("maxLength".into(), json!(MAX_STRING));
            }
            if is("array", fields) && !fields.contains_key("maxItems") {
                fields.insert("maxItems".into(), json!(MAX_ITEMS));
            }
            // Properties the schema does not name could go on for ever.
            if fields.contains_key("properties") && !fields.contains_key("additionalProperties") {
                fields.insert("additionalProperties".into(), json!(false));
            }
            // Values the schema lists stay as they are.
            for (key, value) in fields.iter_mut() {
                if !matches!(key.as_str(), "enum" | "const" | "default" | "examples") {
                    bound(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(bound),
        _ => {}
    }
}

/// What the dialogue's preamble says of the tools and of the answer's form.
pub fn preamble(tools: &Tools) -> String {
    let mut text = String::from(
        "The assistant may call a tool. It answers in JSON: {\"call\": tool name, \"arguments\": {...}} to call one",
    );
    if parallel(tools) {
        text.push_str(
            ", {\"calls\": [{\"call\": ..., \"arguments\": {...}}, ...]} to call several at once",
        );
    }
    if tools.choice == ToolChoice::Auto {
        text.push_str(", or {\"reply\": text} to answer in words");
    }
    text.push_str(". Tools:\n");
    for tool in &tools.offered {
        text.push_str(&format!(
            "- {}: {} Arguments: {}\n",
            tool.name,
            tool.description.as_deref().unwrap_or(""),
            tool.parameters
        ));
    }
    text
}

/// What a constrained answer says.
#[derive(Debug, PartialEq)]
pub enum Read {
    Reply(String),
    /// One call or several, in the order written.
    Calls(Vec<Call>),
}

#[derive(Debug, PartialEq)]
pub struct Call {
    pub name: String,
    pub arguments: Value,
}

/// Read an answer written under [`schema`].
pub fn read(answer: &Value) -> Option<Read> {
    let call = |item: &Value| {
        Some(Call {
            name: item.get("call")?.as_str()?.to_string(),
            arguments: item.get("arguments").cloned().unwrap_or(json!({})),
        })
    };
    if let Some(one) = call(answer) {
        return Some(Read::Calls(vec![one]));
    }
    if let Some(items) = answer.get("calls").and_then(Value::as_array) {
        return items
            .iter()
            .map(call)
            .collect::<Option<Vec<_>>>()
            .map(Read::Calls);
    }
    answer
        .get("reply")
        .and_then(Value::as_str)
        .map(|t| Read::Reply(t.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Tool;

    fn tools(choice: ToolChoice) -> Tools {
        Tools {
            offered: vec![
                Tool {
                    name: "weather".into(),
                    description: Some("The weather in a city.".into()),
                    parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
                },
                Tool {
                    name: "time".into(),
                    description: None,
                    parameters: json!({"type": "object", "properties": {}}),
                },
            ],
            choice,
            parallel: None,
        }
    }

    #[test]
    fn parallel_calls_are_offered_unless_refused() {
        let several = schema(&tools(ToolChoice::Required));
        let calls = &several["anyOf"][2]["properties"]["calls"];
        assert_eq!(calls["minItems"], 2);
        assert_eq!(calls["maxItems"], MAX_PARALLEL);
        assert_eq!(calls["items"]["anyOf"].as_array().unwrap().len(), 2);
        assert!(preamble(&tools(ToolChoice::Required)).contains("to call several at once"));
        let mut one_at_a_time = tools(ToolChoice::Required);
        one_at_a_time.parallel = Some(false);
        assert_eq!(schema(&one_at_a_time)["anyOf"].as_array().unwrap().len(), 2);
        assert!(!preamble(&one_at_a_time).contains("several"));
        assert_eq!(
            read(
                &json!({"calls": [{"call": "time", "arguments": {}}, {"call": "weather", "arguments": {"city": "Cali"}}]})
            ),
            Some(Read::Calls(vec![
                Call {
                    name: "time".into(),
                    arguments: json!({})
                },
                Call {
                    name: "weather".into(),
                    arguments: json!({"city": "Cali"})
                },
            ]))
        );
        assert_eq!(read(&json!({"calls": [{"arguments": {}}]})), None);
    }

    #[test]
    fn the_choice_decides_what_the_answer_may_be() {
        assert_eq!(
            schema(&tools(ToolChoice::Auto))["anyOf"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
        assert_eq!(
            schema(&tools(ToolChoice::Required))["anyOf"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        let named = schema(&tools(ToolChoice::Function("time".into())));
        assert_eq!(named["anyOf"][0]["properties"]["call"]["const"], "time");
        assert_eq!(named["anyOf"].as_array().unwrap().len(), 1);
        assert!(preamble(&tools(ToolChoice::Auto)).contains("- weather: The weather in a city."));
        let city = &schema(&tools(ToolChoice::Required))["anyOf"][0]["properties"]["arguments"]["properties"]
            ["city"];
        assert_eq!(city["maxLength"], MAX_STRING);
        let arguments =
            &schema(&tools(ToolChoice::Required))["anyOf"][0]["properties"]["arguments"];
        assert_eq!(arguments["additionalProperties"], false);
        assert_eq!(
            read(&json!({"call": "weather", "arguments": {"city": "Cali"}})),
            Some(Read::Calls(vec![Call {
                name: "weather".into(),
                arguments: json!({"city": "Cali"})
            }]))
        );
        assert_eq!(
            read(&json!({"reply": "Hola"})),
            Some(Read::Reply("Hola".into()))
        );
    }
}
