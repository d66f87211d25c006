#!/usr/bin/env bash
# The syslog integration's end-to-end test (collector/tests/integrations.rs) sends to a real rsyslogd on loopback
# over UDP, TCP and TLS: Debian's rsyslog and its GnuTLS driver. Installed only when missing.
set -euo pipefail

missing=()
command -v rsyslogd >/dev/null || missing+=(rsyslog)
compgen -G '/usr/lib/*/rsyslog/lmnsd_gtls.so' >/dev/null || missing+=(rsyslog-gnutls)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
