#!/usr/bin/env bash
# Tools for the cross-built agents (deploy/cross/build-agent.sh, checked by .ci/checks.d/30-cross-agent.sh): Debian's
# rustc-web 1.96 with its standard-library sources (for -Zbuild-std), qemu-user to run the aarch64 binary, binutils
# and file for the static-linking guard, zig from PyPI and cargo-zigbuild under $MUSTER_XTOOLS. Each is installed only
# when missing; on a fresh machine this takes about 6 minutes on 2 cores, most of it compiling cargo-zigbuild.
set -euo pipefail
xtools=${MUSTER_XTOOLS:-/opt/muster-xtools}

missing=()
for pair in /usr/bin/cargo:cargo-web /usr/bin/rustc:rustc-web /usr/lib/rustlib/src/rust/library:rust-web-src \
  qemu-aarch64:qemu-user readelf:binutils file:file jq:jq xz:xz-utils; do
  path=${pair%%:*}
  case "$path" in
    /*) [ -e "$path" ] || missing+=("${pair##*:}") ;;
    *) command -v "$path" >/dev/null || missing+=("${pair##*:}") ;;
  esac
done
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! "$xtools/venv/bin/python3" -m ziglang version >/dev/null 2>&1; then
  python3 -m venv "$xtools/venv"
  "$xtools/venv/bin/pip" install -q 'ziglang==0.17.1'
fi

# Built with the project's rustup toolchain (cargo-zigbuild itself runs on the build machine).
if [ ! -x "$xtools/bin/cargo-zigbuild" ]; then
  env -u CARGO -u RUSTC -u RUSTDOC -u RUSTC_BOOTSTRAP \
    cargo install cargo-zigbuild --version 0.24.1 --locked --root "$xtools"
fi
