#!/usr/bin/env bash
# The rpm-family patch tests (agent/src/inventory/patches/dnf/tests.rs) build real RPMs, publish real repositories
# and compare the agent with dnf itself: rpm (rpmbuild), createrepo-c (createrepo_c, modifyrepo_c), dnf and
# dnf-plugins-core (needs-restarting). Installed only when missing.
set -euo pipefail

missing=()
for pair in rpmbuild:rpm createrepo_c:createrepo-c modifyrepo_c:createrepo-c dnf:dnf; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair##*:}")
done
[ -e /usr/lib/python3/dist-packages/dnf-plugins/needs_restarting.py ] || missing+=(dnf-plugins-core)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  mapfile -t unique < <(printf '%s\n' "${missing[@]}" | sort -u)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${unique[@]}"
fi
