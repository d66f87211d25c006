#!/usr/bin/env bash
# Builds the muster-agent .rpm for one architecture around an agent binary that is already built, with rpmbuild
# (Debian's `rpm` package) and deploy/rpm/muster-agent.spec: the cross-built static executables of
# deploy/cross/build-agent.sh --rpm, or any build for deploy/tests/packages.sh. rpmbuild rather than
# cargo-generate-rpm, which takes 4.5 minutes to install on 2 cores: rpmbuild is already there for the dnf tests
# (.ci/prepare.d/20-rpm-tools.sh).
#
#   deploy/rpm/build-agent-rpm.sh --binary PATH --arch x86_64|aarch64 --out DIR
#
# Output: DIR/muster-agent-<version>-1.<arch>.rpm, its path printed on stdout. The version is the workspace's.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { sed -n '8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
binary="" arch="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?}; shift 2 ;;
    --arch) arch=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "build-agent-rpm.sh: unknown argument $1" >&2; usage ;;
  esac
done
if [ -z "$binary" ] || [ -z "$out" ]; then usage; fi
case "$arch" in
  x86_64|aarch64) ;;
  *) echo "build-agent-rpm.sh: --arch x86_64 or aarch64, not '$arch'" >&2; exit 2 ;;
esac
[ -x "$binary" ] || { echo "build-agent-rpm.sh: $binary is not an executable" >&2; exit 1; }
command -v rpmbuild >/dev/null || { echo "build-agent-rpm.sh: needs rpmbuild (apt-get install rpm)" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
mkdir -p "$out"
# --target sets the package architecture; the binary is packaged as it is (no strip, no debuginfo), and rpmbuild
# derives its requirements from it: none for a static executable.
rpmbuild -bb --quiet --target "$arch-linux" deploy/rpm/muster-agent.spec \
  --define "_topdir $top" --define "muster_version $version" --define "muster_binary $(realpath "$binary")" \
  --define "muster_src $PWD" >&2
rpm_file="$top/RPMS/$arch/muster-agent-$version-1.$arch.rpm"
[ -f "$rpm_file" ] || { echo "build-agent-rpm.sh: rpmbuild made no $rpm_file" >&2; exit 1; }
cp "$rpm_file" "$out/"
echo "$out/$(basename "$rpm_file")"
