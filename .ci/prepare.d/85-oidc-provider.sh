#!/usr/bin/env bash
# The console's single sign-on tests (collector/tests/console_browser/sso.rs) sign in through a certified OpenID
# provider, panva's `oidc-provider` (npm, pinned with its lock file in collector/tests/peers/oidc), run on loopback
# with Node.js. Installed only when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

peers=collector/tests/peers/oidc
if [ ! -d "$peers/node_modules/oidc-provider" ]; then
  command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm; }
  (cd "$peers" && npm ci --silent --no-audit --no-fund)
fi
