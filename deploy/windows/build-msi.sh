#!/usr/bin/env bash
# Builds the Windows agent's installer, muster-agent.msi, from a built muster-agent.exe with wixl (Debian's
# msitools), on Linux:
#
#   deploy/windows/build-msi.sh --exe DIR/muster-agent.exe --out DIR/muster-agent.msi [--version X.Y.Z]
#
# The package (deploy/windows/muster-agent.wxs) installs the .exe under Program Files\Muster, the MusterAgent
# service, and enrols from the MUSTER_* properties; deploy/WINDOWS-MACOS.md says how to deploy it. The product
# version is the workspace's (Cargo.toml) unless --version says otherwise (the upgrade check builds a newer one).
# wixl writes SecureCustomProperties itself and has no Secure attribute, so the public properties are added to it
# afterwards with msibuild (needed when a managed install passes them to the elevated part of the installation).
# The .msi is not signed: nothing here can sign it (say so to whoever deploys).
set -euo pipefail
cd "$(dirname "$0")/../.."
exe="" out="" version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --exe) exe=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --version) version=${2:?}; shift 2 ;;
    *) echo "build-msi.sh: unknown argument $1 (use --exe FILE --out FILE [--version X.Y.Z])" >&2; exit 2 ;;
  esac
done
if [ -z "$exe" ] || [ -z "$out" ]; then echo "build-msi.sh: give --exe FILE --out FILE" >&2; exit 2; fi
[ -f "$exe" ] || { echo "build-msi.sh: $exe does not exist (deploy/cross/build-agent-windows.sh builds it)" >&2; exit 1; }
for tool in wixl msibuild msiinfo; do
  command -v "$tool" >/dev/null || { echo "build-msi.sh: $tool missing: apt-get install wixl msitools" >&2; exit 1; }
done
[ -n "$version" ] || version=$(sed -n 's/^version = "\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)
# Windows Installer compares the first three fields, each a number (major and minor below 256).
[[ "$version" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,5}$ ]] \
  || { echo "build-msi.sh: version '$version' is not X.Y.Z as Windows Installer needs" >&2; exit 1; }
wxs=$(realpath deploy/windows/muster-agent.wxs)
mkdir -p "$(dirname "$out")"
out=$(realpath "$out")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# wixl resolves File/@Source relative to the working directory and refuses absolute paths.
cp "$exe" "$work/muster-agent.exe"
(cd "$work" && wixl --arch x64 -D "Version=$version" -D Exe=muster-agent.exe -o "$out" "$wxs")
msibuild "$out" -q "UPDATE \`Property\` SET \`Value\` = 'WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;MUSTER_COLLECTOR;\
MUSTER_CA_FINGERPRINT;MUSTER_ENROLL_SECRET_FILE;MUSTER_TAGS' WHERE \`Property\` = 'SecureCustomProperties'"
msiinfo export "$out" Property | grep -q 'MUSTER_ENROLL_SECRET_FILE' \
  || { echo "build-msi.sh: SecureCustomProperties not updated in $out" >&2; exit 1; }
printf '%s: %s bytes, version %s\n' "$out" "$(stat -c %s "$out")" "$version" >&2
