#!/usr/bin/env bash
# Tools for the Windows agent (deploy/cross/build-agent-windows.sh, checked by .ci/checks.d/40-windows-agent.sh):
# mingw-w64 gcc links muster-agent.exe and compiles the C in its dependencies; Debian's wine64 (8.0) runs it;
# rust-web-clippy lints the Windows and macOS code with the same compiler; wixl and msitools build the MSI. The
# Rust side (rustc-web, rust-web-src, zig for the Apple check) comes from 30-cross-tools.sh. Installed only when
# missing; about 2 minutes on a fresh machine.
set -euo pipefail
missing=()
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
[ -x /usr/lib/wine/wine64 ] || missing+=(wine64)
[ -x /usr/bin/cargo-clippy ] || missing+=(rust-web-clippy)   # clippy for rustc-web, for the cross targets' lints
command -v jq >/dev/null || missing+=(jq)
command -v wixl >/dev/null || missing+=(wixl)            # builds the agent's MSI (deploy/windows/build-msi.sh)
command -v msibuild >/dev/null || missing+=(msitools)    # msibuild and msiinfo: edit and read the MSI's tables
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
