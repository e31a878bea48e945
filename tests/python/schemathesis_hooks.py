"""Steers schemathesis' generated chat requests towards the pipeline:
most carry messages with empty content, which sluice refuses with 400
("the document is empty") before any policy runs. An empty message gets a
sentence with personal data instead, so the detector, the fake cloud, the
re-identification and the audit log see generated traffic too."""

import schemathesis

SENTENCE = "Hola, soy Marta Lucía Pérez, C.C. 52.123.456, y pido copia del contrato."


@schemathesis.hook
def map_case(context, case):
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("messages"), list):
        for message in body["messages"]:
            if isinstance(message, dict) and message.get("content") in ("", None):
                message["content"] = SENTENCE
    return case
