#!/usr/bin/env bash
# The load-balancer tests (collector/tests/proxy.rs) put the real proxies in front of a collector: nginx with its
# stream module running the shipped deploy/compose/nginx.conf, and HAProxy. Installed only when missing, without
# starting their system services (the tests run their own on loopback ports).
set -euo pipefail

missing=()
command -v nginx >/dev/null || missing+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
command -v haproxy >/dev/null || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  # A package's postinst would start its service on port 80; policy-rc.d answers "not now".
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
