// The official openai npm client against a running sluice: change baseURL,
// nothing else. Run by tests/all/api.rs with SLUICE_URL, SLUICE_KEY and
// SLUICE_CLAUSE set; any failed assertion fails the test.

import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.SLUICE_URL + "/v1", apiKey: process.env.SLUICE_KEY });
const clause = process.env.SLUICE_CLAUSE;

// Chat streamed from the local model: content as it is made.
const stream = await client.chat.completions.create({
  model: "sluice/local",
  messages: [{ role: "user", content: "Count from 1 to 5." }],
  max_tokens: 24,
  stream: true,
});
const pieces = [];
for await (const chunk of stream) {
  const text = chunk.choices[0]?.delta?.content;
  if (text) pieces.push(text);
}
console.log("local stream:", JSON.stringify(pieces.join("")));
assert.ok(pieces.length > 1 && pieces.join("").trim().length > 0);

// The cloud, pseudonymised on the way out and re-identified on the way back.
const chat = await client.chat.completions.create({ model: "sluice/cloud", messages: [{ role: "user", content: clause }] });
assert.equal(chat.choices[0].message.content, clause);

// Tool calls through the cloud, whole and streamed: the arguments come back
// re-identified.
const lookup = [
  {
    type: "function",
    function: {
      name: "lookup",
      parameters: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
    },
  },
];
const called = await client.chat.completions.create({
  model: "sluice/cloud",
  messages: [{ role: "user", content: clause }],
  tools: lookup,
});
assert.equal(called.choices[0].finish_reason, "tool_calls");
assert.equal(JSON.parse(called.choices[0].message.tool_calls[0].function.arguments).text, clause);
const runner = client.chat.completions.stream({
  model: "sluice/cloud",
  messages: [{ role: "user", content: clause }],
  tools: lookup,
});
const final = await runner.finalChatCompletion();
assert.equal(JSON.parse(final.choices[0].message.tool_calls[0].function.arguments).text, clause);

// A local tool call, held to the function's parameters.
const weather = [
  {
    type: "function",
    function: {
      name: "weather",
      parameters: {
        type: "object",
        properties: { city: { type: "string", maxLength: 40 } },
        required: ["city"],
        additionalProperties: false,
      },
    },
  },
];
const local = await client.chat.completions.create({
  model: "sluice/local",
  messages: [{ role: "user", content: "What is the weather in Cali?" }],
  tools: weather,
  tool_choice: "required",
});
const call = local.choices[0].message.tool_calls[0];
console.log("local call:", call.function.name, call.function.arguments);
assert.equal(call.function.name, "weather");
assert.equal(typeof JSON.parse(call.function.arguments).city, "string");

// The Responses API, whole and streamed.
const response = await client.responses.create({ model: "sluice/cloud", input: clause });
assert.equal(response.output_text, clause);
const events = await client.responses.create({ model: "sluice/local", input: "Count from 1 to 5.", stream: true, max_output_tokens: 24 });
let deltas = 0;
let completed = null;
for await (const event of events) {
  if (event.type === "response.output_text.delta") deltas += 1;
  if (event.type === "response.completed" || event.type === "response.incomplete") completed = event.response;
}
assert.ok(deltas > 1 && completed && completed.output.length === 1);

// Errors arrive as the client's own error types.
await assert.rejects(
  client.chat.completions.create({ model: "sluice/nope", messages: [{ role: "user", content: "x" }] }),
  (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found",
);
console.log("ok");
