"""A PDF as the official openai client sends a file: a `file` content part
with the bytes as a base64 data URL. Run by tests/all/documents.rs with
SLUICE_URL, SLUICE_KEY, SLUICE_FILE and SLUICE_OUT set: the record the
contract-triage policy answers is written to SLUICE_OUT."""

import base64
import json
import os

import openai

client = openai.OpenAI(base_url=os.environ["SLUICE_URL"] + "/v1", api_key=os.environ["SLUICE_KEY"])
path = os.environ["SLUICE_FILE"]
data = base64.b64encode(open(path, "rb").read()).decode()
completion = client.chat.completions.create(
    model="sluice/contract-triage",
    messages=[
        {
            "role": "user",
            "content": [
                {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{data}", "filename": os.path.basename(path)}}
            ],
        }
    ],
)
record = json.loads(completion.choices[0].message.content)
with open(os.environ["SLUICE_OUT"], "w") as out:
    json.dump(record, out)
print(json.dumps(record, ensure_ascii=False))
