#!/usr/bin/env bash
# The Slack and Teams integrations' end-to-end test (collector/tests/integrations.rs) checks every message the
# collector sends with the services' own libraries: Slack's `slack_sdk` (PyPI) and Microsoft's `adaptivecards`
# (npm, pinned with its lock file in collector/tests/peers/chat). Installed only when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

python3 -c 'import slack_sdk' 2>/dev/null || python3 -m pip install -q 'slack_sdk==3.48.0'
peers=collector/tests/peers/chat
if [ ! -d "$peers/node_modules/adaptivecards" ]; then
  command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm; }
  (cd "$peers" && npm ci --silent --no-audit --no-fund)
fi
