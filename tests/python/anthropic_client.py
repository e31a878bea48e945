"""The official anthropic package against a running sluice: change
base_url, nothing else. Run by tests/all/api.rs with SLUICE_URL, SLUICE_KEY
and SLUICE_CLAUSE set; any failed assertion fails the test."""

import os

import anthropic

client = anthropic.Anthropic(base_url=os.environ["SLUICE_URL"], api_key=os.environ["SLUICE_KEY"])
clause = os.environ["SLUICE_CLAUSE"]

# The cloud policy: a system prompt and three turns; the fake cloud echoes
# the last user turn, re-identified on the way back.
message = client.messages.create(
    model="sluice/cloud",
    max_tokens=256,
    system="Answer in Spanish.",
    messages=[
        {"role": "user", "content": "Hola"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hola, ¿en qué le ayudo?"}]},
        {"role": "user", "content": clause},
    ],
)
assert message.type == "message" and message.role == "assistant", message
assert message.content[0].text == clause, message.content
assert message.stop_reason == "end_turn", message.stop_reason
assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0, message.usage

# Streamed from the cloud (placeholders restored across events) and from
# the local model.
with client.messages.stream(model="sluice/cloud", max_tokens=256, messages=[{"role": "user", "content": clause}]) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
assert text == clause and final.content[0].text == clause, text
with client.messages.stream(
    model="sluice/local", max_tokens=5, messages=[{"role": "user", "content": "Count from 1 to 50."}]
) as stream:
    pieces = list(stream.text_stream)
    final = stream.get_final_message()
print("local stream:", pieces, final.stop_reason)
assert len(pieces) > 1 and "".join(pieces).strip(), pieces
assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 5, final

# Tools through the cloud: the fake cloud calls the first tool with what
# the user said; the input comes back re-identified, whole and streamed,
# and the tool's result goes back pseudonymised.
tools = [{"name": "lookup", "description": "Look a text up.",
    "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}]
asked = [{"role": "user", "content": clause}]
message = client.messages.create(model="sluice/cloud", max_tokens=256, tools=tools, messages=asked)
use = [b for b in message.content if b.type == "tool_use"][0]
assert message.stop_reason == "tool_use" and use.name == "lookup" and use.input["text"] == clause, message
with client.messages.stream(model="sluice/cloud", max_tokens=256, tools=tools, messages=asked) as stream:
    final = stream.get_final_message()
streamed = [b for b in final.content if b.type == "tool_use"][0]
assert streamed.input["text"] == clause, final
result = "Found: " + clause
message = client.messages.create(
    model="sluice/cloud",
    max_tokens=256,
    tools=tools,
    messages=asked
    + [
        {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": result}]},
    ],
)
assert message.content[0].text == result, message.content

# Errors arrive as the client's own exception types.
try:
    client.messages.create(
        model="sluice/local",
        max_tokens=16,
        messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]}],
    )
    raise AssertionError("a tool_result was accepted")
except anthropic.BadRequestError as e:
    assert e.body["error"]["type"] == "invalid_request_error", e.body
try:
    client.messages.create(model="sluice/nope", max_tokens=16, messages=[{"role": "user", "content": "x"}])
    raise AssertionError("an unknown model was accepted")
except anthropic.NotFoundError as e:
    assert e.body["type"] == "error" and e.body["error"]["type"] == "not_found_error", e.body
try:
    anthropic.Anthropic(base_url=os.environ["SLUICE_URL"], api_key="sk-wrong", max_retries=0).messages.create(
        model="sluice/local", max_tokens=16, messages=[{"role": "user", "content": "x"}]
    )
    raise AssertionError("a wrong key was accepted")
except anthropic.AuthenticationError as e:
    assert e.body["error"]["type"] == "authentication_error", e.body
print("ok")
