#!/usr/bin/env bash
# The fuzz targets (fuzz/README.md) run under cargo-fuzz on the nightly toolchain; cargo-fuzz comes from crates.io.
set -euo pipefail
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "prepare: the fuzz step needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install --locked --quiet cargo-fuzz --version 0.13.2
