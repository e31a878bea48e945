"""A PDF through each API's own way of sending a file, with the official
clients: the openai client's `file` part (chat completions) and
`input_file` part (Responses), the anthropic client's `document` block
(Messages). The cloud policy's fake cloud echoes the text it was sent, so
each answer is the PDF's text, read on the sluice side and re-identified on
the way back. Run by tests/all/documents.rs with SLUICE_URL, SLUICE_KEY,
SLUICE_FILE and SLUICE_EXPECT (the PDF's text) set."""

import base64
import os

import anthropic
import openai

url, key = os.environ["SLUICE_URL"], os.environ["SLUICE_KEY"]
path, expected = os.environ["SLUICE_FILE"], os.environ["SLUICE_EXPECT"]
data = base64.b64encode(open(path, "rb").read()).decode()
data_url = f"data:application/pdf;base64,{data}"
name = os.path.basename(path)

client = openai.OpenAI(base_url=url + "/v1", api_key=key)
completion = client.chat.completions.create(
    model="sluice/cloud",
    messages=[{"role": "user", "content": [{"type": "file", "file": {"file_data": data_url, "filename": name}}]}],
)
assert completion.choices[0].message.content == expected, completion.choices[0].message.content

response = client.responses.create(
    model="sluice/cloud",
    input=[{"role": "user", "content": [{"type": "input_file", "file_data": data_url, "filename": name}]}],
)
assert response.output_text == expected, response.output_text

# A file the Files API would hold is refused in the API's error shape.
try:
    client.chat.completions.create(
        model="sluice/cloud",
        messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc123"}}]}],
    )
    raise AssertionError("a file_id was accepted")
except openai.BadRequestError as error:
    assert error.code == "unsupported_file_id", error

claude = anthropic.Anthropic(base_url=url, api_key=key)
message = claude.messages.create(
    model="sluice/cloud",
    max_tokens=1024,
    messages=[
        {
            "role": "user",
            "content": [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": data}}],
        }
    ],
)
assert message.content[0].text == expected, message.content
try:
    claude.messages.create(
        model="sluice/cloud",
        max_tokens=64,
        messages=[{"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}]}],
    )
    raise AssertionError("a URL source was accepted")
except anthropic.BadRequestError as error:
    assert "fetches nothing" in str(error), error
print("chat, responses and messages each read the PDF:", repr(expected[:40]))
