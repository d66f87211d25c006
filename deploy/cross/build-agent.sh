#!/usr/bin/env bash
# Builds the muster-agent that runs on every supported Linux server: one fully static executable per architecture
# (x86_64 and aarch64), copied to a known output directory, and optionally their .deb/.rpm packages.
#
#   deploy/cross/build-agent.sh [--profile release|release-ci] [--out DIR] [--deb] [--rpm] [x86_64] [aarch64]
#
# Output: DIR/<arch>/muster-agent (default DIR target/dist), DIR/SHA256SUMS, and with --deb/--rpm the packages in DIR.
# Tools: .ci/prepare.d/30-cross-tools.sh installs them (Debian rustc-web 1.96 + rust-web-src, PyPI ziglang,
# cargo-zigbuild under $MUSTER_XTOOLS, default /opt/muster-xtools). Build products go to $MUSTER_XBUILD_TARGET_DIR
# (default target/xbuild), kept apart from target/ because this is a different compiler (Debian's 1.96, not rustup's).
#
# Why static musl rather than glibc 2.17:
#  - it runs on every Linux with a kernel Rust supports (>= 3.2): glibc distributions from RHEL/CentOS 7 and Debian 8
#    on, and also Alpine (musl) hosts, whose apk databases the agent reads and which a glibc-2.17 binary cannot run on;
#  - there is nothing to drift: no dynamic symbol can creep above a floor, so the guard is "no interpreter, no NEEDED";
#  - the same recipe serves both architectures: zig (PyPI `ziglang`) ships musl, its C runtime objects and libunwind
#    for each target, and compiles the C in our dependencies (bundled SQLite, zstd, liblzma, ring's C and assembly).
#    Debian's musl-tools covers x86_64 only and needs a hand-made specs file and LLVM's libunwind.
#  The costs: musl's allocator is slower than glibc's (the agent's CPU against the glibc build is not yet measured),
#  and names resolve through /etc/hosts and DNS only (no NSS modules).
#
# Obstacles worked around (see /work/shared/tools/cross-build-recipe.sh for the full story):
#  - rustup cannot download the musl/aarch64 standard libraries here, so std is built from Debian's rust-web-src with
#    cargo's -Zbuild-std (RUSTC_BOOTSTRAP=1 unlocks the -Z flag on a stable compiler);
#  - with build-std there are no rust-std "self-contained" crt objects, so rustc must not ask for them
#    (-C link-self-contained=no); zig's linker supplies musl's crt1/crti and libunwind instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { sed -n '4,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
profile=release
out=target/dist
want_deb=false
want_rpm=false
arches=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --deb) want_deb=true; shift ;;
    --rpm) want_rpm=true; shift ;;
    x86_64|aarch64) arches+=("$1"); shift ;;
    -h|--help) usage ;;
    *) echo "build-agent.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ ${#arches[@]} -gt 0 ] || arches=(x86_64 aarch64)

xtools=${MUSTER_XTOOLS:-/opt/muster-xtools}
target_dir=${MUSTER_XBUILD_TARGET_DIR:-target/xbuild}
missing=()
for tool in /usr/bin/cargo /usr/bin/rustc "$xtools/bin/cargo-zigbuild" "$xtools/venv/bin/python3"; do
  [ -x "$tool" ] || missing+=("$tool")
done
[ -d /usr/lib/rustlib/src/rust/library ] || missing+=("/usr/lib/rustlib/src/rust/library (rust-web-src)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-agent.sh: missing ${missing[*]}; run .ci/prepare.d/30-cross-tools.sh first" >&2
  exit 1
fi

triples=()
for arch in "${arches[@]}"; do triples+=("$arch-unknown-linux-musl"); done

# Debian's compiler and cargo, not rustup's shims; cargo-zigbuild finds zig as `python3 -m ziglang` in the venv.
build_env=(
  env -u RUSTUP_TOOLCHAIN
  PATH="$xtools/venv/bin:$xtools/bin:/usr/bin:$PATH"
  CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
  CARGO_TARGET_DIR="$target_dir"
  CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C link-self-contained=no"
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C link-self-contained=no"
)
target_flags=()
for triple in "${triples[@]}"; do target_flags+=(--target "$triple"); done
# One cargo run for all targets, so build scripts and proc macros are compiled once. panic_abort: the release
# profiles abort on panic.
"${build_env[@]}" cargo-zigbuild zigbuild -p muster-agent --locked --profile "$profile" -j "${JOBS:-$(nproc)}" \
  -Zbuild-std=std,panic_abort "${target_flags[@]}"

mkdir -p "$out"
for arch in "${arches[@]}"; do
  src="$target_dir/$arch-unknown-linux-musl/$profile/muster-agent"
  mkdir -p "$out/$arch"
  cp "$src" "$out/$arch/muster-agent"
  printf '%s: %s bytes; %s\n' "$out/$arch/muster-agent" "$(stat -c %s "$src")" "$(file -b "$src" | cut -d, -f1-3)" >&2
done
(cd "$out" && sha256sum ./*/muster-agent >SHA256SUMS)

# Packages. .deb: the metadata in agent/Cargo.toml names target/release/muster-agent; cargo-deb maps that to
# <target dir>/<triple>/<profile>/ for --target and derives the package architecture (amd64/arm64) from the triple.
# .rpm: rpmbuild around the copied binary (deploy/rpm/build-agent-rpm.sh), the architecture given. Being static, the
# binary gets no libc dependency in either.
for arch in "${arches[@]}"; do
  if $want_deb; then
    command -v cargo-deb >/dev/null || { echo "build-agent.sh: --deb needs cargo-deb (cargo install cargo-deb --locked)" >&2; exit 1; }
    CARGO_TARGET_DIR="$target_dir" cargo deb -p muster-agent --no-build --no-strip --target "$arch-unknown-linux-musl" \
      --profile "$profile" -o "$out/"
  fi
  if $want_rpm; then
    deploy/rpm/build-agent-rpm.sh --binary "$out/$arch/muster-agent" --arch "$arch" --out "$out" >/dev/null
  fi
done
