#!/usr/bin/env bash
# The agent for every supported server: builds the static x86_64 and aarch64 binaries and their .deb and .rpm
# packages with deploy/cross/build-agent.sh (profile release-ci: release code with thin LTO, to fit CI's time), guards
# the C-library floor, and runs both binaries on real fixture roots from agent/testdata (aarch64 under qemu-aarch64):
# --version, and `inventory --root` of an Ubuntu (dpkg), an Alpine (apk) and a CBL-Mariner (SQLite rpmdb, so the
# bundled SQLite C runs) root, checked against the listings the real tools made; then checks that each package
# carries its architecture's binary and no C-library dependency. Tools: .ci/prepare.d/30-cross-tools.sh, and rpm
# (rpmbuild, rpm2archive) from .ci/prepare.d/20-rpm-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=${MUSTER_XBUILD_PROFILE:-release-ci}
# Outside the clone, so CI runs after the first on a machine reuse the compiled dependencies (a fresh machine builds
# from scratch; BENCHMARKS.md has both times).
export MUSTER_XBUILD_TARGET_DIR=${MUSTER_XBUILD_TARGET_DIR:-/var/cache/muster-xbuild}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { printf '30-cross-agent: FAIL: %s\n' "$*" >&2; exit 1; }
step() { printf '== cross agent: %s\n' "$*" >&2; }

if ! command -v cargo-deb >/dev/null; then
  cargo install cargo-deb --locked --version 3.8.0   # same pin as deploy/tests/packages.sh
fi

t0=$SECONDS
step "build x86_64 and aarch64 ($profile)"
deploy/cross/build-agent.sh --profile "$profile" --out "$work/dist" --deb --rpm x86_64 aarch64
step "built in $((SECONDS - t0)) s"

# The floor: a static executable has no program interpreter and no shared-library dependency, so it needs no glibc at
# all. Were a dynamic binary ever shipped, no symbol may need more than glibc 2.17 (RHEL 7).
guard_floor() { # binary
  local headers dynamic newest
  headers=$(readelf -lW "$1")
  dynamic=$(readelf -dW "$1")
  if grep -q 'Requesting program interpreter' <<<"$headers" || grep -q '(NEEDED)' <<<"$dynamic"; then
    newest=$(objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -n 1)
    [ -z "$newest" ] || [ "$(printf '%s\nGLIBC_2.17\n' "$newest" | sort -V | tail -n 1)" = GLIBC_2.17 ] \
      || fail "$1 needs $newest, newer than the GLIBC_2.17 floor"
    fail "$1 is dynamically linked; deploy/cross/build-agent.sh promises static executables"
  fi
  expect "$(file -b "$1")" "static" "file $1"
}
expect() { grep -qF -- "$2" <<<"$1" || fail "$3: expected '$2' in: $1"; }

# A root with the CBL-Mariner 2.0 rpmdb.sqlite where rpm keeps it (the fixture is stored xz-compressed).
mariner="$work/mariner-root"
mkdir -p "$mariner/var/lib/rpm"
xz -dc agent/testdata/pkgdb/rpm/cbl-mariner-2.0/rpmdb.sqlite.xz >"$mariner/var/lib/rpm/rpmdb.sqlite"

rows() { grep -vc '^#' "$1"; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
for arch in x86_64 aarch64; do
  bin="$work/dist/$arch/muster-agent"
  run=("$bin")
  [ "$arch" = aarch64 ] && run=(qemu-aarch64 "$bin")
  step "$arch: $(stat -c %s "$bin") bytes, $(file -b "$bin" | cut -d, -f1-2)"
  case "$arch" in
    x86_64) expect "$(file -b "$bin")" "x86-64" "file $bin" ;;
    aarch64) expect "$(file -b "$bin")" "ARM aarch64" "file $bin" ;;
  esac
  guard_floor "$bin"
  expect "$("${run[@]}" --version)" "muster-agent $version" "$arch --version"

  root=agent/testdata/pkgdb/dpkg/ubuntu-24.04-debootstrap
  "${run[@]}" inventory --root "$root" --sections os,software >"$work/ubuntu.json" || fail "$arch inventory of $root"
  [ "$(jq -r '.os.id + " " + .os.version_id' "$work/ubuntu.json")" = "ubuntu 24.04" ] \
    || fail "$arch: os of $root: $(jq -c .os "$work/ubuntu.json")"
  [ "$(jq '[.software.packages[] | select(.kind == "deb")] | length' "$work/ubuntu.json")" = "$(rows "$root/expected.dpkg-query.tsv")" ] \
    || fail "$arch: deb packages of $root differ from dpkg-query's $(rows "$root/expected.dpkg-query.tsv")"
  [ "$(jq -r '.software.packages[] | select(.name == "apt") | .version' "$work/ubuntu.json")" = 2.7.14build2 ] \
    || fail "$arch: apt version in $root"

  root=agent/testdata/pkgdb/apk/alpine-3.14.0-minirootfs
  "${run[@]}" inventory --root "$root" --sections os,software >"$work/alpine.json" || fail "$arch inventory of $root"
  [ "$(jq -r '.os.id + " " + .os.version_id' "$work/alpine.json")" = "alpine 3.14.0" ] \
    || fail "$arch: os of $root: $(jq -c .os "$work/alpine.json")"
  [ "$(jq '[.software.packages[] | select(.kind == "apk")] | length' "$work/alpine.json")" = "$(rows "$root/expected.awk.tsv")" ] \
    || fail "$arch: apk packages of $root differ from the $(rows "$root/expected.awk.tsv") listed"

  "${run[@]}" inventory --root "$mariner" --sections software >"$work/mariner.json" || fail "$arch inventory of $mariner"
  expected=agent/testdata/pkgdb/rpm/cbl-mariner-2.0/expected.rpm-qa.tsv
  [ "$(jq '[.software.packages[] | select(.kind == "rpm")] | length' "$work/mariner.json")" = "$(rows "$expected")" ] \
    || fail "$arch: rpm packages from rpmdb.sqlite differ from rpm -qa's $(rows "$expected")"
  [ "$(jq -r '.software.packages[] | select(.name == "audit") | .version' "$work/mariner.json")" = "3.0.6-1.cm2" ] \
    || fail "$arch: audit version from rpmdb.sqlite: $(jq -c '.software.packages[] | select(.name == "audit")' "$work/mariner.json")"
done

step "packages carry the per-architecture binaries"
for pair in x86_64:amd64 aarch64:arm64; do
  arch=${pair%%:*} deb_arch=${pair##*:}
  deb=$(ls "$work"/dist/muster-agent_*_"$deb_arch".deb) || fail "no $deb_arch .deb in $work/dist"
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$deb_arch" ] || fail "$deb: Architecture $(dpkg-deb -f "$deb" Architecture)"
  depends=$(dpkg-deb -f "$deb" Depends)
  if grep -q libc6 <<<"$depends"; then fail "$deb depends on libc6 ($depends) though its binary is static"; fi
  dpkg-deb -x "$deb" "$work/unpacked-$arch"
  cmp "$work/unpacked-$arch/usr/bin/muster-agent" "$work/dist/$arch/muster-agent" \
    || fail "$deb does not carry the built $arch binary"
done

for arch in x86_64 aarch64; do
  rpm_file=$(ls "$work"/dist/muster-agent-*."$arch".rpm) || fail "no $arch .rpm in $work/dist"
  [ "$(rpm -qp --qf '%{ARCH}' "$rpm_file")" = "$arch" ] || fail "$rpm_file: arch $(rpm -qp --qf '%{ARCH}' "$rpm_file")"
  requires=$(rpm -qpR "$rpm_file")
  if grep -qE 'libc\.so|ld-linux|libgcc_s|libm\.so' <<<"$requires"; then
    fail "$rpm_file requires C libraries though its binary is static: $requires"
  fi
  [ "$(rpm -qp --qf '%{PAYLOADCOMPRESSOR}' "$rpm_file")" = xz ] || fail "$rpm_file: payload not xz (RHEL 7's rpm)"
  mkdir -p "$work/rpm-$arch"
  rpm2archive - <"$rpm_file" | tar -xzf - -C "$work/rpm-$arch"
  cmp "$work/rpm-$arch/usr/bin/muster-agent" "$work/dist/$arch/muster-agent" \
    || fail "$rpm_file does not carry the built $arch binary"
done

printf '30-cross-agent: x86_64 and aarch64 static agents built, run and packaged in %s s\n' "$((SECONDS - t0))" >&2
