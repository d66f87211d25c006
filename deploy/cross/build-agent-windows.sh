#!/usr/bin/env bash
# Builds the Windows agent (muster-agent.exe, x86_64-pc-windows-gnu) and type-checks the agent for both macOS
# targets, on this Debian x86_64 machine where rustup cannot download other targets' standard libraries.
#
#   deploy/cross/build-agent-windows.sh [--profile dev|release|release-ci] [--out DIR] [windows] [macos]
#
# Output: DIR/windows-x86_64/muster-agent.exe (default DIR target/dist) and DIR/windows-x86_64/bcryptprimitives.dll,
# the test-only Wine shim described below. Both steps also run clippy with warnings denied for their targets;
# `macos` only checks (no Apple SDK here, so nothing links).
# Tools: Debian rustc-web 1.96 + rust-web-src (.ci/prepare.d/30-cross-tools.sh), gcc-mingw-w64-x86-64, wine64 and
# rust-web-clippy (.ci/prepare.d/40-windows-tools.sh), PyPI ziglang under $MUSTER_XTOOLS (default /opt/muster-xtools) for the C
# compiled by our dependencies for Apple targets. Build products go to $MUSTER_XBUILD_TARGET_DIR (default
# /var/cache/muster-xbuild, shared with build-agent.sh), so a rebuild after a change compiles only the agent.
#
# How (see /work/shared/tools/cross-build-recipe.sh for the full story):
#  - std for each target is built from Debian's rust-web-src with cargo's -Zbuild-std (RUSTC_BOOTSTRAP=1 unlocks
#    the -Z flag on a stable compiler); mingw-w64 gcc links the .exe and compiles the C in our dependencies
#    (bundled SQLite, zstd, liblzma, ring);
#  - for Apple targets cc-rs compiles that C with zig's bundled macOS libc headers (a wrapper named
#    zigcc-<zig target> drops the clang-only flags cc-rs adds); `cargo check` still runs the build scripts;
#  - Wine 8 (Debian 12) lacks bcryptprimitives.dll!ProcessPrng, which Rust's std (>= 1.78) imports. A shim DLL
#    built here forwards it to BCryptGenRandom; it is copied beside the .exe for Wine only and is never shipped:
#    every supported Windows (10 and later) has the real one.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { sed -n '5,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
profile=dev
out=target/dist
steps=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    windows|macos) steps+=("$1"); shift ;;
    -h|--help) usage ;;
    *) echo "build-agent-windows.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ ${#steps[@]} -gt 0 ] || steps=(windows macos)
has() { [[ " ${steps[*]} " == *" $1 "* ]]; }

xtools=${MUSTER_XTOOLS:-/opt/muster-xtools}
target_dir=${MUSTER_XBUILD_TARGET_DIR:-/var/cache/muster-xbuild}
missing=()
for tool in /usr/bin/cargo /usr/bin/rustc /usr/bin/cargo-clippy; do [ -x "$tool" ] || missing+=("$tool"); done
[ -d /usr/lib/rustlib/src/rust/library ] || missing+=("/usr/lib/rustlib/src/rust/library (rust-web-src)")
if has windows; then
  command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=("x86_64-w64-mingw32-gcc (gcc-mingw-w64-x86-64)")
fi
if has macos; then [ -x "$xtools/venv/bin/python3" ] || missing+=("$xtools/venv (PyPI ziglang)"); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-agent-windows.sh: missing ${missing[*]}; run .ci/prepare.d/30-cross-tools.sh and 40-windows-tools.sh" >&2
  exit 1
fi
mkdir -p "$target_dir"

# Debian's compiler and cargo, not rustup's shims.
build_env=(
  env -u RUSTUP_TOOLCHAIN
  PATH="/usr/bin:$PATH"
  CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
  CARGO_TARGET_DIR="$target_dir"
  CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
  CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
)
jobs=${JOBS:-$(nproc)}

if has windows; then
  "${build_env[@]}" cargo build -p muster-agent --locked --profile "$profile" -j "$jobs" \
    -Zbuild-std=std,panic_abort --target x86_64-pc-windows-gnu
  # Lints of the Windows-only code (the host's clippy never sees it). Library and binary: the tests are Unix-only.
  "${build_env[@]}" cargo clippy -p muster-agent --locked --profile "$profile" -j "$jobs" \
    -Zbuild-std=std,panic_abort --target x86_64-pc-windows-gnu -- -D warnings
  dir=$profile
  [ "$profile" = dev ] && dir=debug
  src="$target_dir/x86_64-pc-windows-gnu/$dir/muster-agent.exe"
  mkdir -p "$out/windows-x86_64"
  cp "$src" "$out/windows-x86_64/muster-agent.exe"
  printf '%s: %s bytes; %s\n' "$out/windows-x86_64/muster-agent.exe" "$(stat -c %s "$src")" \
    "$(file -b "$src" | cut -d, -f1-2)" >&2

  # The Wine-only shim (see the header): rebuilt only when its source changes.
  shim="$target_dir/wine-shim"
  mkdir -p "$shim"
  cat >"$shim/bcryptprimitives.c.new" <<'EOF'
/* Test-only shim for Wine < 9: Rust std (>= 1.78) on x86_64-pc-windows-gnu imports ProcessPrng from
   bcryptprimitives.dll, which Wine 8.0 does not ship. Never shipped with the agent. */
#include <windows.h>
#include <bcrypt.h>
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
EOF
  if ! cmp -s "$shim/bcryptprimitives.c.new" "$shim/bcryptprimitives.c" || [ ! -f "$shim/bcryptprimitives.dll" ]; then
    mv "$shim/bcryptprimitives.c.new" "$shim/bcryptprimitives.c"
    printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\nProcessPrng\n' >"$shim/bcryptprimitives.def"
    x86_64-w64-mingw32-gcc -O2 -shared -o "$shim/bcryptprimitives.dll" \
      "$shim/bcryptprimitives.c" "$shim/bcryptprimitives.def" -lbcrypt
  fi
  rm -f "$shim/bcryptprimitives.c.new"
  cp "$shim/bcryptprimitives.dll" "$out/windows-x86_64/bcryptprimitives.dll"
fi

if has macos; then
  # cc-rs wrappers: zig cc for the named target, minus the flags cc-rs adds for clang-like compilers.
  zbin="$target_dir/zig-bin"
  mkdir -p "$zbin"
  printf '#!/bin/sh\nexec %s -m ziglang "$@"\n' "$xtools/venv/bin/python3" >"$zbin/zig"
  printf '#!/bin/sh\nexec %s -m ziglang ar "$@"\n' "$xtools/venv/bin/python3" >"$zbin/zigar"
  cat >"$zbin/zigcc" <<'EOF'
#!/bin/bash
t="${0##*/zigcc-}"; args=()
for a in "$@"; do case "$a" in --target=*|-mmacosx-version-min=*|-mmacos-version-min=*) ;; *) args+=("$a");; esac; done
exec "$(dirname "$0")/zig" cc -target "$t" "${args[@]}"
EOF
  chmod +x "$zbin"/{zig,zigar,zigcc}
  ln -sf zigcc "$zbin/zigcc-x86_64-macos"
  ln -sf zigcc "$zbin/zigcc-aarch64-macos"
  "${build_env[@]}" ZIG_GLOBAL_CACHE_DIR="$target_dir/zig-cache" \
    CC_x86_64_apple_darwin="$zbin/zigcc-x86_64-macos" CC_aarch64_apple_darwin="$zbin/zigcc-aarch64-macos" \
    AR_x86_64_apple_darwin="$zbin/zigar" AR_aarch64_apple_darwin="$zbin/zigar" \
    cargo clippy -p muster-agent --locked --profile "$profile" -j "$jobs" -Zbuild-std=std,panic_abort \
    --target x86_64-apple-darwin --target aarch64-apple-darwin -- -D warnings
  echo "build-agent-windows.sh: cargo clippy (check and lints) passed for x86_64-apple-darwin and aarch64-apple-darwin" >&2
fi
