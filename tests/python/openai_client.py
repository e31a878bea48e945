"""The official openai package against a running sluice: change base_url,
nothing else. Run by tests/all/api.rs with SLUICE_URL and SLUICE_KEY set;
any failed assertion fails the test."""

import json
import os

import openai
from pydantic import BaseModel

client = openai.OpenAI(base_url=os.environ["SLUICE_URL"] + "/v1", api_key=os.environ["SLUICE_KEY"])
clause = os.environ["SLUICE_CLAUSE"]

# The policies, as models.
models = [m.id for m in client.models.list()]
print("models:", models)
for policy in ["local", "cloud", "contract-triage", "intent-classify", "report-draft"]:
    assert f"sluice/{policy}" in models, models

# A plain answer from the local model, with sluice's headers.
raw = client.chat.completions.with_raw_response.create(
    model="sluice/local",
    messages=[{"role": "user", "content": "The capital of Colombia is"}],
)
chat = raw.parse()
print("local:", chat.choices[0].message.content)
assert raw.headers["x-sluice-route"] == "local"
assert raw.headers["x-sluice-decision-id"]
assert chat.object == "chat.completion"
assert chat.choices[0].finish_reason == "stop"
assert chat.choices[0].message.role == "assistant"
assert chat.usage.prompt_tokens > 0 and chat.usage.completion_tokens > 0
assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens

# The cloud policy: personal data pseudonymised on the way out (the fake
# cloud echoes), re-identified on the way back.
chat = client.chat.completions.create(model="sluice/cloud", messages=[{"role": "user", "content": clause}])
assert chat.choices[0].message.content == clause, chat.choices[0].message.content

# Streaming, with the usage chunk last.
stream = client.chat.completions.create(
    model="sluice/cloud",
    messages=[{"role": "user", "content": clause}],
    stream=True,
    stream_options={"include_usage": True},
)
chunks = list(stream)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert text == clause, text
assert len(chunks) > 3, len(chunks)
assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0, chunks[-1]
assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"

# response_format json_schema: the local model held to the caller's schema.
schema = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}, "country": {"type": "string", "maxLength": 40}},
    "required": ["city", "country"],
    "additionalProperties": False,
}
chat = client.chat.completions.create(
    model="sluice/local",
    messages=[{"role": "user", "content": "Bogotá is the capital of Colombia."}],
    response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema, "strict": True}},
)
place = json.loads(chat.choices[0].message.content)
print("json_schema:", place)
assert set(place) == {"city", "country"}, place


# parse() with a Pydantic model.
class Party(BaseModel):
    name: str
    role: str


parsed = client.chat.completions.parse(
    model="sluice/local",
    messages=[{"role": "user", "content": "Acme Ltd., the supplier, signs with Beta S.A.S."}],
    response_format=Party,
)
party = parsed.choices[0].message.parsed
print("parse():", party)
assert isinstance(party, Party)

# The same, streamed: the client's structured-output stream helper sees the
# JSON grow token by token and parses the whole at the end.
with client.chat.completions.stream(
    model="sluice/local",
    messages=[{"role": "user", "content": "Acme Ltd., the supplier, signs with Beta S.A.S."}],
    response_format=Party,
) as stream:
    deltas = [e.delta for e in stream if e.type == "content.delta"]
    final = stream.get_final_completion()
streamed = final.choices[0].message.parsed
print(f"stream(), {len(deltas)} deltas:", streamed)
assert isinstance(streamed, Party) and len(deltas) > 3, deltas

# A policy with its own schema answers in it: the flagship contract review.
chat = client.chat.completions.create(
    model="sluice/contract-triage",
    messages=[{"role": "user", "content": clause}],
    extra_headers={"x-request-id": "python-contract-1"},
)
record = json.loads(chat.choices[0].message.content)
print("contract-triage:", record)
assert "document_type" in record and "parties" in record and 0 <= record["confidence_score"] <= 1

# Tool calls through the cloud: the fake cloud calls the first tool with
# what the user said; the arguments come back re-identified, whole and
# streamed, and a tool result goes back pseudonymised.
lookup = [{"type": "function", "function": {"name": "lookup", "description": "Look a text up.",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}}]
asked = [{"role": "user", "content": clause}]
chat = client.chat.completions.create(model="sluice/cloud", messages=asked, tools=lookup)
call = chat.choices[0].message.tool_calls[0]
assert chat.choices[0].finish_reason == "tool_calls", chat
assert call.function.name == "lookup" and json.loads(call.function.arguments)["text"] == clause, call
stream = client.chat.completions.create(model="sluice/cloud", messages=asked, tools=lookup, stream=True)
arguments = "".join(
    c.choices[0].delta.tool_calls[0].function.arguments or ""
    for c in stream
    if c.choices and c.choices[0].delta.tool_calls
)
assert json.loads(arguments)["text"] == clause, arguments
result = "Found: " + clause
chat = client.chat.completions.create(
    model="sluice/cloud",
    tools=lookup,
    messages=asked
    + [chat.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": result}],
)
assert chat.choices[0].message.content == result, chat.choices[0].message

# Tool calls from the local model, held to the function's parameters.
weather = [{"type": "function", "function": {"name": "weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}},
        "required": ["city"], "additionalProperties": False}}}]
ask = [{"role": "user", "content": "What is the weather in Cali?"}]
chat = client.chat.completions.create(model="sluice/local", messages=ask, tools=weather, tool_choice="required")
call = chat.choices[0].message.tool_calls[0]
print("local call:", call.function.name, call.function.arguments)
assert call.function.name == "weather" and isinstance(json.loads(call.function.arguments)["city"], str)
with client.chat.completions.stream(model="sluice/local", messages=ask, tools=weather, tool_choice="required") as stream:
    final = stream.get_final_completion()
assert final.choices[0].message.tool_calls[0].function.name == "weather", final

# Errors arrive as the client's own exception types.
try:
    client.chat.completions.create(model="sluice/nope", messages=[{"role": "user", "content": "x"}])
    raise AssertionError("an unknown model was accepted")
except openai.NotFoundError as e:
    assert e.code == "model_not_found", e
try:
    openai.OpenAI(base_url=os.environ["SLUICE_URL"] + "/v1", api_key="sk-wrong", max_retries=0).models.list()
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError as e:
    assert e.code == "invalid_api_key", e
print("ok")
