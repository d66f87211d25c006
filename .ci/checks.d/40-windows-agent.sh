#!/usr/bin/env bash
# The Windows and macOS agents, as far as this Linux machine can take them: builds muster-agent.exe with
# deploy/cross/build-agent-windows.sh and runs it under Wine 8 in a fresh prefix, after adding Uninstall entries to
# Wine's registry with `reg add` in the 64-bit view, the 32-bit view (WOW6432Node) and the user's hive (HKCU, which is
# HKEY_USERS\<sid>); `inventory` must report each once, from the right view and hive, with its version, publisher
# and install date; the `os` section must carry the build and update revision (UBR) set in CurrentVersion, and the
# hardware section the system UUID decoded from GetSystemFirmwareTable('RSMB') (Wine synthesizes the table). Then
# `cargo clippy` (check and lints) of the agent for x86_64-apple-darwin and aarch64-apple-darwin (no SDK: no link);
# the Windows code is linted too.
# Only Wine runs the .exe here, never a real Windows. Tools: .ci/prepare.d/30-cross-tools.sh, 40-windows-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Outside the clone, shared with 30-cross-agent.sh, so a warm machine compiles only the agent (BENCHMARKS.md).
export MUSTER_XBUILD_TARGET_DIR=${MUSTER_XBUILD_TARGET_DIR:-/var/cache/muster-xbuild}
work=$(mktemp -d)
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" WINEARCH=win64
wine=/usr/lib/wine/wine64
cleanup() {
  /usr/lib/wine/wineserver -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { printf '40-windows-agent: FAIL: %s\n' "$*" >&2; exit 1; }
step() { printf '== windows agent: %s\n' "$*" >&2; }

t0=$SECONDS
step "build and lint muster-agent.exe, check and lint both Apple targets"
deploy/cross/build-agent-windows.sh --out "$work/dist" windows macos
step "built and checked in $((SECONDS - t0)) s"
exe="$work/dist/windows-x86_64/muster-agent.exe"
file -b "$exe" | grep -q 'PE32+ executable' || fail "$exe is not a PE32+ executable: $(file -b "$exe")"

t1=$SECONDS
step "fresh Wine prefix"
"$wine" wineboot --init >/dev/null 2>&1 || fail "wineboot --init"
# Wine 8 presents itself as Windows 7 by default; the agent targets Windows 10 and later.
"$wine" winecfg -v win10 >/dev/null 2>&1 || fail "winecfg -v win10"
uninstall='Software\Microsoft\Windows\CurrentVersion\Uninstall'
add_program() { # root key, reg view flag, key name, display name, version, publisher, install date
  local key="$1\\$uninstall\\$3"
  "$wine" reg add "$key" /v DisplayName /d "$4" /f "$2" >/dev/null 2>&1 || fail "reg add $key"
  "$wine" reg add "$key" /v DisplayVersion /d "$5" /f "$2" >/dev/null 2>&1 || fail "reg add $key DisplayVersion"
  "$wine" reg add "$key" /v Publisher /d "$6" /f "$2" >/dev/null 2>&1 || fail "reg add $key Publisher"
  "$wine" reg add "$key" /v InstallDate /d "$7" /f "$2" >/dev/null 2>&1 || fail "reg add $key InstallDate"
}
add_program HKLM /reg:64 MusterCheck64 'Muster Check 64-bit' 1.2.3 'Muster 64 Ltd' 20240305
add_program HKLM /reg:32 MusterCheck32 'Muster Check 32-bit' 4.5.6 'Muster 32 Ltd' 20230117
add_program HKCU /reg:64 MusterCheckUser 'Muster Check per-user' 7.8.9 'Muster User Ltd' 20221231
# Wine writes no update revision, display version or edition; add them as Windows does, to find them in `os`.
version_key='HKLM\Software\Microsoft\Windows NT\CurrentVersion'
"$wine" reg add "$version_key" /v UBR /t REG_DWORD /d 3803 /f >/dev/null 2>&1 || fail "reg add UBR"
"$wine" reg add "$version_key" /v DisplayVersion /d 22H2 /f >/dev/null 2>&1 || fail "reg add DisplayVersion"
"$wine" reg add "$version_key" /v EditionID /d Professional /f >/dev/null 2>&1 || fail "reg add EditionID"
build=$("$wine" reg query "$version_key" /v CurrentBuild | tr -d '\r' | awk '$1 == "CurrentBuild" {print $3}')
[ -n "$build" ] || fail "no CurrentBuild in Wine's registry"

step "inventory under wine64"
"$wine" "$exe" --version | tr -d '\r' | grep -q '^muster-agent ' || fail "$exe --version"
"$wine" "$exe" inventory >"$work/inventory.json" 2>"$work/inventory.err" \
  || fail "inventory exited $?: $(cat "$work/inventory.err")"
tr -d '\r' <"$work/inventory.json" >"$work/report.json"
jq -e .agent.version "$work/report.json" >/dev/null || fail "inventory output is not a report: $(head -c 300 "$work/report.json")"

expect_program() { # key name, view, hive regex, name, version, publisher, ISO date
  local found
  found=$(jq -c --arg k "$1" '[.windows.programs[] | select(.key_name == $k)]' "$work/report.json")
  [ "$(jq length <<<"$found")" = 1 ] || fail "$1 reported $(jq length <<<"$found") times: $found"
  jq -e --arg view "$2" --arg hive "$3" --arg name "$4" --arg version "$5" --arg publisher "$6" --arg date "$7" \
    '.[0] | .view == $view and (.hive | test($hive)) and .name == $name and .version == $version
       and .publisher == $publisher and .install_date == $date and (.key | endswith($hive_key))' \
    --arg hive_key "\\$1" <<<"$found" >/dev/null || fail "$1: expected view $2, hive $3, $4 $5 by $6 on $7; got $found"
}
jq -e --arg build "$build.3803" '.os.id == "windows" and .os.build_id == $build and .os.version == "22H2"
    and (.os.version_id | endswith("." + $build)) and .windows.version.edition_id == "Professional"' \
  "$work/report.json" >/dev/null || fail "os from the registry: expected build $build.3803 22H2, got $(jq -c .os "$work/report.json")"
expect_program MusterCheck64 64 '^HKEY_LOCAL_MACHINE$' 'Muster Check 64-bit' 1.2.3 'Muster 64 Ltd' 2024-03-05
expect_program MusterCheck32 32 '^HKEY_LOCAL_MACHINE$' 'Muster Check 32-bit' 4.5.6 'Muster 32 Ltd' 2023-01-17
expect_program MusterCheckUser 64 '^HKEY_USERS\\S-1-5-21-' 'Muster Check per-user' 7.8.9 'Muster User Ltd' 2022-12-31
# SMBIOS through GetSystemFirmwareTable('RSMB') and our decoder: Wine builds a table whose system UUID is set even
# on a machine without DMI data.
jq -e '(.hardware.system.uuid | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))
    and ([.errors[] | select(.section == "hardware")] | length == 0)' "$work/report.json" >/dev/null \
  || fail "hardware from RSMB: $(jq -c '{system: .hardware.system, errors: [.errors[] | select(.section == "hardware")]}' "$work/report.json")"
jq -e '[.windows.uninstall_sources[] | select(.error != null)] | length == 0' "$work/report.json" >/dev/null \
  || fail "unreadable Uninstall keys: $(jq -c '.windows.uninstall_sources' "$work/report.json")"
step "$(jq '.windows.programs | length' "$work/report.json") programs from $(jq -c '[.windows.uninstall_sources[].key]' "$work/report.json")"
step "Wine part in $((SECONDS - t1)) s"

printf '40-windows-agent: muster-agent.exe built and run under Wine, Apple targets checked, in %s s\n' \
  "$((SECONDS - t0))" >&2
