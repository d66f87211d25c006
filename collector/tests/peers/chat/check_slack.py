"""Checks Slack messages with Slack's own Python SDK (PyPI `slack_sdk`, MIT): each message in the JSON array file
given must be an incoming-webhook body whose blocks Slack's models parse, validate (lengths, counts, required
fields) and serialise back unchanged (so no field is one Slack does not know). Prints what is wrong and exits 1."""

import json
import sys

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

problems = []
with open(sys.argv[1], encoding="utf-8") as f:
    messages = json.load(f)
for i, message in enumerate(messages):
    where = f"message {i}"
    unknown = set(message) - {"text", "blocks"}
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append(f"{where}: no notification text")
    blocks = message.get("blocks", [])
    if len(blocks) > 50:
        problems.append(f"{where}: {len(blocks)} blocks, Slack takes 50")
    for j, raw in enumerate(blocks):
        block = Block.parse(raw)
        if block is None:
            problems.append(f"{where} block {j}: unknown block {raw.get('type')!r}")
            continue
        try:
            block.validate_json()
        except SlackObjectFormationError as e:
            problems.append(f"{where} block {j}: {e}")
            continue
        if block.to_dict() != raw:
            problems.append(f"{where} block {j}: does not round-trip: {json.dumps(raw)} became {json.dumps(block.to_dict())}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{len(messages)} Slack messages valid")
