#!/usr/bin/env bash
# The Jira integration's end-to-end test (collector/tests/integrations/jira.rs) runs a Jira Cloud stand-in that
# checks each request with jira.js's schemas and Atlassian's ADF validator (npm, pinned with its lock file in
# collector/tests/peers/jira). Installed only when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

peers=collector/tests/peers/jira
if [ ! -d "$peers/node_modules/jira.js" ] || [ ! -d "$peers/node_modules/@atlaskit/adf-utils" ]; then
  command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm; }
  (cd "$peers" && npm ci --silent --no-audit --no-fund)
fi
