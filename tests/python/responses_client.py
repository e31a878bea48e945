"""The official openai package's Responses API against a running sluice.
Run by tests/all/api.rs with SLUICE_URL, SLUICE_KEY and SLUICE_CLAUSE set;
any failed assertion fails the test."""

import json
import os

import openai
from pydantic import BaseModel

client = openai.OpenAI(base_url=os.environ["SLUICE_URL"] + "/v1", api_key=os.environ["SLUICE_KEY"])
clause = os.environ["SLUICE_CLAUSE"]

# Text in, the cloud policy: pseudonymised on the way out (the fake cloud
# echoes the last user turn), re-identified on the way back.
response = client.responses.create(model="sluice/cloud", input=clause)
assert response.object == "response" and response.status == "completed", response
assert response.output_text == clause, (response.output_text, (response.model_extra or {}).get("sluice"))
assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens

# Items with instructions: every turn reaches the cloud with its role.
response = client.responses.create(
    model="sluice/cloud",
    instructions="Answer in Spanish.",
    input=[
        {"role": "user", "content": "Hola"},
        {"role": "assistant", "content": "Hola, ¿en qué le ayudo?"},
        {"role": "user", "content": [{"type": "input_text", "text": clause}]},
    ],
)
assert response.output_text == clause, response.output_text

# Streamed from the local model: deltas, then the final response.
deltas = []
with client.responses.stream(model="sluice/local", input="Count from 1 to 5.", max_output_tokens=24) as stream:
    for event in stream:
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
    final = stream.get_final_response()
print("local stream:", repr("".join(deltas)))
assert len(deltas) > 1, deltas
assert "".join(deltas) == final.output_text and final.output_text.strip(), final


# A JSON schema through text_format: the local model held to it.
class Place(BaseModel):
    city: str
    country: str


parsed = client.responses.parse(
    model="sluice/local", input="Bogotá is the capital of Colombia.", text_format=Place, max_output_tokens=64
)
print("parse():", parsed.output_parsed)
assert isinstance(parsed.output_parsed, Place)

# Function tools through the cloud: the fake cloud calls the first tool
# with what the user said; the arguments come back re-identified, whole and
# streamed, and the function's output goes back pseudonymised.
lookup = [{"type": "function", "name": "lookup", "description": "Look a text up.", "strict": False,
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}]
response = client.responses.create(model="sluice/cloud", input=clause, tools=lookup)
call = [o for o in response.output if o.type == "function_call"][0]
assert call.name == "lookup" and json.loads(call.arguments)["text"] == clause, call
with client.responses.stream(model="sluice/cloud", input=clause, tools=lookup) as stream:
    final = stream.get_final_response()
streamed = [o for o in final.output if o.type == "function_call"][0]
assert json.loads(streamed.arguments)["text"] == clause, streamed
result = "Found: " + clause
response = client.responses.create(
    model="sluice/cloud",
    tools=lookup,
    input=[
        {"role": "user", "content": clause},
        {"type": "function_call", "call_id": call.call_id, "name": "lookup", "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": result},
    ],
)
assert response.output_text == result, response.output_text

# What sluice cannot do is refused, in the client's own exception.
for extra in [
    {"previous_response_id": "resp_123"},
    {"tools": [{"type": "web_search"}]},
]:
    try:
        client.responses.create(model="sluice/local", input="x", **extra)
        raise AssertionError(f"{extra} was accepted")
    except openai.BadRequestError as e:
        print("refused:", e.code, e.param)
        assert e.param.startswith(tuple(extra)), e
print("ok")
