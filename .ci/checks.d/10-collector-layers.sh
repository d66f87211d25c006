#!/usr/bin/env bash
# Collector layering (issue 13, ARCHITECTURE.md "collector"): the store contains no decision, and handlers and
# pages contain no business rule. Checked over `use` lines and paths, in well under a second.
set -euo pipefail
cd "$(dirname "$0")/../../collector/src"

fail=0
complain() {
  echo "collector layering: $1" >&2
  fail=1
}

# The store reads and writes rows: it never calls the planning modules (the findings lifecycle is planned in
# findings/ and written by app::findings through store::findings_tx).
if hits=$(grep -rnE 'crate::(ingest|identity|findings|rules|app)\b' store/ | grep -vE '^[^:]+:[0-9]+:\s*//'); then
  complain "store/ must not use the planning modules (ingest, identity, findings, rules, app):"$'\n'"$hits"
fi

# The pure modules never reach the application state (the use cases in app/ do).
if hits=$(grep -rnE 'AppState' findings/ rules/ ingest/ vuln/ identity.rs | grep -vE '^[^:]+:[0-9]+:\s*//'); then
  complain "findings/, rules/, ingest/, vuln/ and identity are pure: no AppState:"$'\n'"$hits"
fi

# Handlers and pages never build audit rows nor write them; the use cases in app/ do, through app::audit.
if hits=$(grep -rnE 'AuditRecord|\.audit\(' api/ console/ cli/); then
  complain "api/, console/ and the CLI must record audit entries through app::audit, not build them:"$'\n'"$hits"
fi

# Stale and missing come from the policy (app::hosts::ages), never from numbers in a page.
if hits=$(grep -rnE 'Duration::days\((7|30)\)|STALE_AFTER|MISSING_AFTER' console/ api/); then
  complain "thresholds belong to the policy (app::hosts::ages):"$'\n'"$hits"
fi

# Handlers do not open store transactions: a transaction is a use case's.
if hits=$(grep -rnE "begin_(host|findings)_tx" api/ console/ cli/); then
  complain "only app/ opens store transactions:"$'\n'"$hits"
fi

# One CSV writer: no other module quotes cells.
if hits=$(grep -rnF "replace('\"', \"\\\"\\\"\")" --include=*.rs . | grep -v '^./export.rs:'); then
  complain "CSV cells are written by export.rs only:"$'\n'"$hits"
fi

exit "$fail"
