#!/usr/bin/env bash
# The Windows and macOS agents, as far as this Linux machine can take them: builds muster-agent.exe with
# deploy/cross/build-agent-windows.sh and runs it under Wine 8 in a fresh prefix, after adding Uninstall entries to
# Wine's registry with `reg add` in the 64-bit view, the 32-bit view (WOW6432Node) and the user's hive (HKCU, which is
# HKEY_USERS\<sid>); `inventory` must report each once as a `software.packages` entry of kind `windows`, with the key
# it came from as its path, the view's arch, its version, publisher and install date, an MSI's product code in
# source_name, and leave out the entries Windows hides (SystemComponent, an update's ParentKeyName); MSIX packages
# added to the machine's and the user's package repositories must come once each as kind `msix`, bundles left out. A fresh prefix's
# own Uninstall key is empty here (Wine Mono and Gecko are not installed: WINEDLLOVERRIDES below, and this machine has
# neither package), so exactly the added entries are expected. The `os` section must carry the build and update
# revision (UBR) set in CurrentVersion, the host section the prefix's MachineGuid as its machine id, the hardware section the system UUID decoded from
# GetSystemFirmwareTable('RSMB') (Wine synthesizes the table), Wine's drives and this machine's network interfaces
# through CIM, and the one attached screen of the two EDIDs added to the registry, and the patches section the reboot flags (none set in a
# fresh prefix), the Windows Update Agent's offline search (created, then unsupported under Wine) and the installed
# updates added to the servicing stack's package store and the Uninstall key, the host
# section Wine's workgroup and the Entra ID join added to the registry, and the
# checks section the posture values added to the registry (firewall per profile, UAC, RDP with
# NLA, automatic updates policy, Defender's real-time protection, and its definitions applied in 2016, undecided as
# Wine has no Defender WMI namespace to say Defender is the active antivirus; SMB 1 and Secure Boot unset; BitLocker's WMI namespace absent; the
# account policy, which Wine's netapi32 does not serve, and the Guest account, missing from its account list). Then the same .exe enrols with a collector
# started here on 127.0.0.1 (its CA pinned by fingerprint, the secret in the environment) and reports over TLS; the
# collector's API must hold the host with its Windows build, tag, 4 programs, 3 MSIX packages and installed updates, and the failing checks as findings; a
# state directory Wine shows as readable by Everyone is refused. Then the MSI (built by deploy/windows/build-msi.sh
# with wixl) is installed by Wine's msiexec with the MUSTER_* properties: the program and the MusterAgent service are
# installed, the enrolment from the secret file is held for approval (this machine enrolled by hand just before) and
# approved, the service stops and starts cleanly (net stop/start) and delivers its spooled report, a newer MSI
# upgrades it in place (one product, enrolment kept, reporting again), and `msiexec /x` removes service and program
# but keeps the enrolment. Then `cargo clippy` (check and lints) of the agent for x86_64-apple-darwin and
# aarch64-apple-darwin (no SDK: no link); the Windows code is linted too.
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
add_dword() { # root key, reg view flag, key name, value name, number
  local key="$1\\$uninstall\\$3"
  "$wine" reg add "$key" /v "$4" /t REG_DWORD /d "$5" /f "$2" >/dev/null 2>&1 || fail "reg add $key $4"
}
add_program HKLM /reg:64 MusterCheck64 'Muster Check 64-bit' 1.2.3 'Muster 64 Ltd' 20240305
add_program HKLM /reg:32 MusterCheck32 'Muster Check 32-bit' 4.5.6 'Muster 32 Ltd' 20230117
add_program HKCU /reg:64 MusterCheckUser 'Muster Check per-user' 7.8.9 'Muster User Ltd' 20221231
# An MSI product (its key is the product code), and two entries Windows does not list as programs.
msi_code='{6A3F6E2B-0D4C-4E8A-9B1F-3C2D5E7A9B10}'
add_program HKLM /reg:64 "$msi_code" 'Muster Check MSI' 2.0.1 'Muster MSI Ltd' 20250630
add_dword HKLM /reg:64 "$msi_code" WindowsInstaller 1
add_dword HKLM /reg:64 "$msi_code" EstimatedSize 2048
add_program HKLM /reg:64 MusterCheckHidden 'Muster Check component' 1.0 'Muster 64 Ltd' 20240305
add_dword HKLM /reg:64 MusterCheckHidden SystemComponent 1
add_program HKLM /reg:64 MusterCheckKB1 'Update for Muster Check 64-bit (KB1)' 1 'Muster 64 Ltd' 20240501
"$wine" reg add "HKLM\\$uninstall\\MusterCheckKB1" /v ParentKeyName /d MusterCheck64 /f /reg:64 >/dev/null 2>&1 \
  || fail "reg add MusterCheckKB1 ParentKeyName"
# MSIX packages, by their full names (Microsoft's own, from Get-AppxPackage in Microsoft's support articles): the
# machine's package repository holds the Store app, its bundle (not listed) and a framework; the user's holds the
# Store again (listed once, from the machine's) and the Calculator, registered for that user alone.
appmodel='Software\Classes\Local Settings\Software\Microsoft\Windows\CurrentVersion\AppModel'
store=Microsoft.WindowsStore_22405.1401.9.0_x64__8wekyb3d8bbwe
vclibs=Microsoft.VCLibs.140.00_14.0.33519.0_x64__8wekyb3d8bbwe
calculator=Microsoft.WindowsCalculator_11.2210.0.0_x64__8wekyb3d8bbwe
for package in "$store" Microsoft.WindowsStore_22405.1401.9.0_neutral_~_8wekyb3d8bbwe "$vclibs"; do
  "$wine" reg add "HKLM\\$appmodel\\PackageRepository\\Packages\\$package" /f /reg:64 >/dev/null 2>&1 \
    || fail "reg add HKLM package $package"
done
for package in "$store" "$calculator"; do
  "$wine" reg add "HKCU\\$appmodel\\Repository\\Packages\\$package" /v PackageID /d "$package" /f >/dev/null 2>&1 \
    || fail "reg add HKCU package $package"
done
# The servicing stack's package store, as Windows keeps it (a fresh Wine prefix has none): an update of two packages,
# the installed cumulative update beside the one it superseded (0x50), and a part of Windows that is no update. The
# install times are FILETIME halves in decimal (2024-01-09 18:30:00, 2024-01-08 10:00:00, 2024-04-10 07:45:30 and
# 2023-12-12 09:00:00 UTC).
cbs='HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages'
add_package() { # identity, CurrentState, InstallTimeHigh, InstallTimeLow
  local key="$cbs\\$1" value
  for value in "CurrentState=$2" "InstallTimeHigh=$3" "InstallTimeLow=$4"; do
    "$wine" reg add "$key" /v "${value%%=*}" /t REG_DWORD /d "${value#*=}" /f /reg:64 >/dev/null 2>&1 \
      || fail "reg add $key ${value%%=*}"
  done
}
add_package 'Package_for_KB5034441~31bf3856ad364e35~amd64~~19041.3920.1.2' 112 31081257 3666428928
add_package 'Package_1_for_KB5034441~31bf3856ad364e35~amd64~~19041.3920.1.2' 112 31080985 1897533440
add_package 'Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4291.1.10' 112 31099675 258771200
add_package 'Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.3693.1.5' 80 31075545 2519623680
add_package 'Microsoft-Windows-Foundation-Package~31bf3856ad364e35~amd64~~10.0.19041.1' 112 31075545 2519623680
# A Microsoft Entra ID join as Windows records it: one JoinInfo key per join (named by its certificate's thumbprint)
# naming the tenant, and the tenant's name under TenantInfo.
tenant=72f988bf-86f1-41af-91ab-2d7cd011db47
cloud_join='HKLM\SYSTEM\CurrentControlSet\Control\CloudDomainJoin'
"$wine" reg add "$cloud_join\\JoinInfo\\3F2A9C1D7E5B4A6F8C0D1E2F3A4B5C6D7E8F9A0B" /v TenantId /d "$tenant" /f /reg:64 \
  >/dev/null 2>&1 || fail "reg add JoinInfo"
"$wine" reg add "$cloud_join\\TenantInfo\\$tenant" /v DisplayName /d 'Muster Test Tenant' /f /reg:64 >/dev/null 2>&1 \
  || fail "reg add TenantInfo"
# Wine writes no update revision, display version or edition; add them as Windows does, to find them in `os`.
version_key='HKLM\Software\Microsoft\Windows NT\CurrentVersion'
"$wine" reg add "$version_key" /v UBR /t REG_DWORD /d 3803 /f >/dev/null 2>&1 || fail "reg add UBR"
"$wine" reg add "$version_key" /v DisplayVersion /d 22H2 /f >/dev/null 2>&1 || fail "reg add DisplayVersion"
"$wine" reg add "$version_key" /v EditionID /d Professional /f >/dev/null 2>&1 || fail "reg add EditionID"
# Posture values as Windows and Group Policy write them (a fresh Wine prefix has none): the private firewall profile
# off, UAC on with consent prompts, Remote Desktop on without network level authentication, automatic updates
# turned off by policy, the user's screen saver locking after 10 minutes, Defender's real-time protection on and its
# definitions last applied on 2016-12-29 (a FILETIME, as Defender writes it). SMB 1 (its value, and Wine's WMI lists no
# SMB 1.0 feature) and Secure Boot stay unset, so their
# checks must say they cannot tell.
add_posture() { # key, value name, number
  "$wine" reg add "$1" /v "$2" /t REG_DWORD /d "$3" /f /reg:64 >/dev/null 2>&1 || fail "reg add $1 $2"
}
firewall_policy='HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy'
add_posture "$firewall_policy\\DomainProfile" EnableFirewall 1
add_posture "$firewall_policy\\StandardProfile" EnableFirewall 0
add_posture "$firewall_policy\\PublicProfile" EnableFirewall 1
add_posture 'HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' EnableLUA 1
add_posture 'HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' ConsentPromptBehaviorAdmin 5
add_posture 'HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server' fDenyTSConnections 0
add_posture 'HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp' UserAuthentication 0
add_posture 'HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU' NoAutoUpdate 1
add_posture 'HKLM\SOFTWARE\Microsoft\Windows Defender\Real-Time Protection' DisableRealtimeMonitoring 0
defender_signatures='HKLM\SOFTWARE\Microsoft\Windows Defender\Signature Updates'
"$wine" reg add "$defender_signatures" /v AVSignatureApplied /t REG_BINARY /d 009b558c8961d201 /f /reg:64 >/dev/null 2>&1 \
  || fail "reg add AVSignatureApplied"
"$wine" reg add "$defender_signatures" /v AVSignatureVersion /d 1.233.3411.0 /f /reg:64 >/dev/null 2>&1 \
  || fail "reg add AVSignatureVersion"
# The user's screen saver, as Windows stores it (strings): on, password-protected, 10 minutes.
for value in ScreenSaveActive=1 ScreenSaverIsSecure=1 ScreenSaveTimeOut=600; do
  "$wine" reg add 'HKCU\Control Panel\Desktop' /v "${value%%=*}" /d "${value#*=}" /f >/dev/null 2>&1 \
    || fail "reg add HKCU screen saver ${value%%=*}"
done
# Two screens as Windows records them, by device instance with the EDID it read (a real EIZO EV2785's and an Acer
# AL1716's, from testdata): the EIZO attached now (Plug and Play's Control subkey), the Acer unplugged since.
display_enum='HKLM\SYSTEM\CurrentControlSet\Enum\DISPLAY'
add_display() { # model, instance, EDID file, attached (1/0)
  local key="$display_enum\\$1\\$2" hex
  hex=$(od -An -v -tx1 "$3" | tr -d ' \n')
  "$wine" reg add "$key\\Device Parameters" /v EDID /t REG_BINARY /d "$hex" /f >/dev/null 2>&1 || fail "reg add $key EDID"
  if [ "$4" = 1 ]; then
    "$wine" reg add "$key\\Control" /v ActiveService /d monitor /f >/dev/null 2>&1 || fail "reg add $key Control"
  fi
}
add_display ENC2911 '5&2a1b3c4d&0&UID4352' agent/testdata/edid/glpi-agent/EV2785 1
add_display ACR06B4 '5&2a1b3c4d&0&UID4353' agent/testdata/edid/glpi-agent/acer-al1716 0
build=$("$wine" reg query "$version_key" /v CurrentBuild | tr -d '\r' | awk '$1 == "CurrentBuild" {print $3}')
[ -n "$build" ] || fail "no CurrentBuild in Wine's registry"

step "inventory under wine64"
"$wine" "$exe" --version | tr -d '\r' | grep -q '^muster-agent ' || fail "$exe --version"
"$wine" "$exe" inventory >"$work/inventory.json" 2>"$work/inventory.err" \
  || fail "inventory exited $?: $(cat "$work/inventory.err")"
tr -d '\r' <"$work/inventory.json" >"$work/report.json"
jq -e .agent.version "$work/report.json" >/dev/null || fail "inventory output is not a report: $(head -c 300 "$work/report.json")"

expect_program() { # key name, arch ("" for none), path regex, name, version, publisher, installed_at
  local found
  found=$(jq -c --arg k "\\$1" '[.software.packages[] | select(.kind == "windows" and (.path | endswith($k)))]' \
    "$work/report.json")
  [ "$(jq length <<<"$found")" = 1 ] || fail "$1 reported $(jq length <<<"$found") times: $found"
  jq -e --arg arch "$2" --arg path "$3" --arg name "$4" --arg version "$5" --arg publisher "$6" --arg at "$7" \
    '.[0] | (.arch // "") == $arch and (.path | test($path)) and .name == $name and .version == $version
       and .publisher == $publisher and .installed_at == $at' <<<"$found" >/dev/null \
    || fail "$1: expected arch '$2', path $3, $4 $5 by $6 on $7; got $found"
}
jq -e --arg build "$build.3803" '.os.id == "windows" and .os.build_id == $build and .os.version == "22H2"
    and (.os.version_id | endswith("." + $build)) and .windows.version.edition_id == "Professional"
    and .os.variant_id == "professional"' \
  "$work/report.json" >/dev/null || fail "os from the registry: expected build $build.3803 22H2, got $(jq -c .os "$work/report.json")"
key_re='\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\'
expect_program MusterCheck64 x64 "^HKLM\\\\SOFTWARE${key_re}MusterCheck64\$" 'Muster Check 64-bit' 1.2.3 'Muster 64 Ltd' \
  2024-03-05T00:00:00Z
expect_program MusterCheck32 x86 "^HKLM\\\\SOFTWARE\\\\WOW6432Node${key_re}MusterCheck32\$" 'Muster Check 32-bit' 4.5.6 \
  'Muster 32 Ltd' 2023-01-17T00:00:00Z
expect_program MusterCheckUser '' "^HKU\\\\S-1-5-21-[0-9-]+\\\\SOFTWARE${key_re}MusterCheckUser\$" 'Muster Check per-user' \
  7.8.9 'Muster User Ltd' 2022-12-31T00:00:00Z
expect_program "$msi_code" x64 "^HKLM\\\\SOFTWARE${key_re}" 'Muster Check MSI' 2.0.1 'Muster MSI Ltd' 2025-06-30T00:00:00Z
jq -e --arg code "$msi_code" '[.software.packages[] | select(.source_name == $code and .size_bytes == 2097152)]
    | length == 1' "$work/report.json" >/dev/null \
  || fail "MSI product code and size: $(jq -c '[.software.packages[] | select(.name == "Muster Check MSI")]' "$work/report.json")"
jq -e '[.software.packages[] | select(.name == "Muster Check component" or (.name | startswith("Update for")))]
    | length == 0' "$work/report.json" >/dev/null || fail "entries Windows hides were reported as packages"
# Exactly the added programs: the fresh prefix has none of its own (see the header).
jq -e '[.software.packages[] | select(.kind == "windows")] | length == 4' "$work/report.json" >/dev/null \
  || fail "expected the 4 listed programs, got $(jq -c '[.software.packages[].name]' "$work/report.json")"
# The MSIX packages: each once, from the first repository holding it, the bundle left out.
jq -e --arg store "$store" --arg vclibs "$vclibs" --arg calculator "$calculator" \
  --arg machine "HKLM\\SOFTWARE${appmodel#Software}\\PackageRepository\\Packages\\" \
  --arg user "\\$appmodel\\Repository\\Packages\\" '
    [.software.packages[] | select(.kind == "msix")] as $m
    | [$m[] | [.name, .version, .arch]] == [["Microsoft.VCLibs.140.00", "14.0.33519.0", "x64"],
        ["Microsoft.WindowsCalculator", "11.2210.0.0", "x64"], ["Microsoft.WindowsStore", "22405.1401.9.0", "x64"]]
      and $m[0].path == $machine + $vclibs and $m[2].path == $machine + $store
      and ($m[1].path | startswith("HKU\\S-1-5-21-") and endswith($user + $calculator))' "$work/report.json" >/dev/null \
  || fail "MSIX packages: $(jq -c '[.software.packages[] | select(.kind == "msix")]' "$work/report.json")"
jq -e '(.software.sources | length) >= 5 and all(.software.sources[]; .complete and ((.kind == "windows"
      and .format == "windows-uninstall") or (.kind == "msix" and .format == "windows-appmodel")))
    and ([.software.sources[] | select(.kind == "msix") | .packages] == [2, 1])
    and ([.errors[] | select(.section == "software")] | length == 0)
    and (.windows | has("programs") | not)' "$work/report.json" >/dev/null \
  || fail "Uninstall sources: $(jq -c '{sources: .software.sources, errors: [.errors[] | select(.section == "software")]}' \
    "$work/report.json")"
# Pending updates through the Windows Update Agent's COM API: Wine creates the update session and searcher but
# implements neither the offline search nor IAutomaticUpdates2, so both are unsupported there and nothing is pending.
jq -e '.patches.manager == "windows-update" and .patches.reboot_required.required == false
    and ([.errors[] | select(.section == "patches" and .kind != "unsupported")] | length == 0)
    and ([.errors[] | select(.section == "patches") | [.item, (.message | split(":")[0])]]
         == [["Windows Update Agent last search", "opening Automatic Updates"],
             ["Windows Update Agent search", "making the search offline"]])
    and (.patches | has("pending") or has("lists_updated_at") | not)' "$work/report.json" \
  >/dev/null || fail "patches: $(jq -c '{patches, errors: [.errors[] | select(.section == "patches")]}' "$work/report.json")"
# The host section from Windows itself, not from files: the prefix's MachineGuid as the machine id (Wine would show
# the Linux machine's /etc/machine-id at that path), the computer name, the boot time.
guid=$("$wine" reg query 'HKLM\Software\Microsoft\Cryptography' /v MachineGuid /reg:64 | tr -d '\r' \
  | awk '$1 == "MachineGuid" {print $3}')
[ -n "$guid" ] || fail "no MachineGuid in Wine's registry"
jq -e --arg id "$(tr -d '-' <<<"$guid" | tr 'A-F' 'a-f')" '.host.machine_id == $id and (.host.hostname | length > 0)
    and (.host.boot_time | length > 0)
    and ([.errors[] | select(.section == "host" and .item != "accounts.admin")] | length == 0)' "$work/report.json" \
  >/dev/null || fail "host section: expected machine id from MachineGuid $guid, got $(jq -c '{host, errors: [.errors[]
    | select(.section == "host")]}' "$work/report.json")"
# The accounts: Wine's NetLocalGroupGetMembers lists nobody in Administrators (found by its SID), which real
# Windows never does; without the members no account is reported (each would read as no administrator), and the
# report says why.
jq -e '.host.accounts == null
    and ([.errors[] | select(.section == "host" and .item == "accounts.admin") | .message]
      == ["Administrators listed no members, not even the built-in Administrator Windows keeps in it"])' \
  "$work/report.json" >/dev/null || fail "accounts under Wine: $(jq -c '{accounts: .host.accounts, errors: [.errors[]
    | select(.section == "host")]}' "$work/report.json")"
# The directories: Wine's NetGetJoinInformation answers workgroup "Workgroup"; the Entra ID join is the one added.
jq -e --arg tenant "$tenant" '.host.directory == {workgroup: "Workgroup",
    entra_tenants: [{id: $tenant, name: "Muster Test Tenant"}]}
    and ([.errors[] | select(.section == "host" and (.item | startswith("directory")))] | length == 0)' \
  "$work/report.json" >/dev/null || fail "host.directory: $(jq -c '{directory: .host.directory,
    errors: [.errors[] | select(.section == "host")]}' "$work/report.json")"
# The installed updates: the store's update packages (one per article, the latest time), then the Uninstall entry of
# an update; the last installation is the cumulative update's, since a product's update (KB1, later) is not Windows'.
expected_updates='[["KB5034441","2024-01-09T18:30:00Z",null,null],
  ["Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4291.1.10","2024-04-10T07:45:30Z",null,null],
  ["KB1","2024-05-01T00:00:00Z","Update for Muster Check 64-bit (KB1)","MusterCheck64"]]'
jq -e --argjson want "$expected_updates" '[.patches.installed_updates[] | [.id, .installed_at, .title, .product]] == $want
    and .patches.last_update_installed_at == "2024-04-10T07:45:30Z"' "$work/report.json" >/dev/null \
  || fail "installed updates: expected $expected_updates, got $(jq -c '.patches | {installed_updates, last_update_installed_at}' "$work/report.json")"
# The posture checks read from the registry, and those decided from the patches section.
expected_checks='{"accounts.guest":"unknown","boot.secure_boot":"not_applicable","disk.encryption":"unknown","firewall.active":"fail",
  "kernel.reboot_required":"pass","password.lockout":"unknown","password.max_days":"unknown",
  "updates.automatic":"fail","updates.security_pending":"unknown","windows.defender_realtime":"pass",
  "malware.definitions":"unknown",
  "windows.rdp_nla":"fail","windows.screen_lock":"pass","windows.smb1":"unknown","windows.uac":"pass"}'
jq -e --argjson want "$expected_checks" '([.checks[] | {(.id): .status}] | add) == $want
    and ([.errors[] | select(.section == "checks")] | length == 0)' "$work/report.json" >/dev/null \
  || fail "checks: expected $expected_checks, got $(jq -c '{checks: [.checks[] | {(.id): .status}] | add,
    errors: [.errors[] | select(.section == "checks")]}' "$work/report.json")"
# Without an SMB1 value the SMB 1.0 optional feature decides; Wine's WMI lists no such feature.
jq -e '.checks[] | select(.id == "windows.smb1") | .reason | endswith(", and no SMB1Protocol optional feature is listed")' \
  "$work/report.json" >/dev/null || fail "windows.smb1 under Wine: $(jq -c '.checks[] | select(.id == "windows.smb1")' "$work/report.json")"
# Defender's definitions are judged only where Defender says it is the antivirus protecting the machine (its WMI
# running mode); Wine has no Defender namespace, so the 2016 definitions decide nothing there.
jq -e '.checks[] | select(.id == "malware.definitions") | .reason
    | startswith("Microsoft Defender'"'"'s running mode could not be read from WMI ROOT\\Microsoft\\Windows\\Defender: ")' \
  "$work/report.json" >/dev/null \
  || fail "malware.definitions: $(jq -c '.checks[] | select(.id == "malware.definitions")' "$work/report.json")"
# BitLocker through WMI: Wine's WMI has no BitLocker namespace, so the check must say it could not read it.
jq -e '.checks[] | select(.id == "disk.encryption") | .reason
    | startswith("BitLocker'"'"'s volumes could not be read from WMI ROOT\\CIMV2\\Security\\MicrosoftVolumeEncryption: ")' \
  "$work/report.json" >/dev/null \
  || fail "disk.encryption under Wine: $(jq -c '.checks[] | select(.id == "disk.encryption")' "$work/report.json")"
# The local account policy: Wine's netapi32 does not serve NetUserModalsGet, and the checks say so. Its NetUserEnum
# lists only the signed-in user, without the built-in Guest account every Windows has, so that check cannot tell.
jq -e '([.checks[] | select(.id == "password.max_days" or .id == "password.lockout") | .reason]
    | length == 2 and all(startswith("the local account policy could not be read (NetUserModalsGet): level ")))
    and (.checks[] | select(.id == "password.lockout") | .reason | contains("level 3 failed"))' \
  "$work/report.json" >/dev/null \
  || fail "password checks under Wine: $(jq -c '[.checks[] | select(.id | startswith("password."))]' "$work/report.json")"
jq -e '.checks[] | select(.id == "accounts.guest") | .reason
    == "no account with relative id 501 among 1 local accounts"' \
  "$work/report.json" >/dev/null \
  || fail "guest account under Wine: $(jq -c '.checks[] | select(.id == "accounts.guest")' "$work/report.json")"
jq -e '.checks[] | select(.id == "firewall.active") | .evidence | any(endswith("StandardProfile\\EnableFirewall = 0"))' \
  "$work/report.json" >/dev/null || fail "firewall evidence: $(jq -c '.checks[0]' "$work/report.json")"
# SMBIOS through GetSystemFirmwareTable('RSMB') and our decoder: Wine builds a table whose system UUID is set even
# on a machine without DMI data. The volumes come from Windows (Wine's C: drive, its prefix, with a size), the
# drives from CIM's Win32_DiskDrive (Wine answers with one "Wine Disk Drive" per fixed drive), the screens from the
# EDIDs added above (the attached one only), and nothing from /sys or /proc, which Wine would answer from this Linux
# machine. Wine has no TPM namespace (ROOT\CIMV2\Security\MicrosoftTpm), so the TPM is the one hardware error, with
# what its WBEM code means.
jq -e '(.hardware.system.uuid | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))
    and ([.errors[] | select(.section == "hardware" and .item != "batteries") | [.item, .kind, .message]]
      == [["tpm", "io", "WMI ROOT\\CIMV2\\Security\\MicrosoftTpm: HRESULT Call failed with: 0x8004100E (no such namespace)"]])
    and .hardware.tpm == null
    and any(.hardware.filesystems[]; .mount_point == "C:\\" and .fs_type != "" and .total_bytes > 0
      and .used_bytes + .available_bytes == .total_bytes)
    and (.hardware.disks | length >= 1)
    and ([.hardware.disks[].name] | unique | length) == (.hardware.disks | length)
    and all(.hardware.disks[]; (.name | test("^PHYSICALDRIVE[0-9]+$")) and .model == "Wine Disk Drive"
      and .size_bytes > 0 and .transport == "sata")
    and any(.hardware.disks[]; .name == "PHYSICALDRIVE0" and .serial == "WINEHDISK" and .removable == false)
    and .hardware.monitors == [{connector: "DISPLAY\\ENC2911\\5&2a1b3c4d&0&UID4352", manufacturer_id: "ENC",
      product_code: 10513, serial_number: 68056070, model: "EV2785", manufactured_week: 28, manufactured_year: 2020,
      width_cm: 60, height_cm: 34}]' "$work/report.json" >/dev/null \
  || fail "hardware: $(jq -c '{system: .hardware.system, filesystems: .hardware.filesystems, disks: .hardware.disks,
    monitors: .hardware.monitors, tpm: .hardware.tpm, errors: [.errors[] | select(.section == "hardware")]}' \
    "$work/report.json")"
# Batteries: Wine's Win32_Battery answers from this Linux machine's power supplies (its system battery state). On a
# machine without a battery of its own, as the build machines are, there is none, nothing else is asked and nothing
# is recorded; with one, the pack must be reported from Win32_Battery, and the missing wear (Wine has no battery
# driver classes in ROOT\WMI) recorded.
host_batteries=0
for supply in /sys/class/power_supply/*; do
  [ "$(cat "$supply/type" 2>/dev/null)" = Battery ] && [ "$(cat "$supply/scope" 2>/dev/null)" != Device ] \
    && host_batteries=$((host_batteries + 1))
done
if [ "$host_batteries" -eq 0 ]; then
  jq -e '(.hardware.batteries // []) == [] and ([.errors[] | select(.item == "batteries")] == [])' \
    "$work/report.json" >/dev/null \
    || fail "batteries on a machine without one: $(jq -c '{batteries: .hardware.batteries,
      errors: [.errors[] | select(.item == "batteries")]}' "$work/report.json")"
else
  jq -e '((.hardware.batteries // []) | length >= 1) and any(.errors[]; .item == "batteries")' \
    "$work/report.json" >/dev/null \
    || fail "batteries: this machine has $host_batteries, the report: $(jq -c '{batteries: .hardware.batteries,
      errors: [.errors[] | select(.item == "batteries")]}' "$work/report.json")"
fi
# The adapters from CIM's Win32_NetworkAdapter and its configuration, which Wine fills from this machine's own
# interfaces: each Linux Ethernet interface with an IPv4 address must be there with its MAC address and that
# address (and up when Linux has it up).
checked=0
while read -r ifname mac state cidr; do
  checked=$((checked + 1))
  jq -e --arg mac "$mac" --arg cidr "$cidr" --arg state "$state" 'any(.hardware.network_interfaces[]; .mac == $mac
      and ((.addresses // []) | index($cidr)) and ($state != "UP" or .up))
    and all(.hardware.network_interfaces[] | (.addresses // [])[]; contains("%") | not)' \
    "$work/report.json" >/dev/null \
    || fail "adapter $ifname ($mac, $cidr) not reported: $(jq -c .hardware.network_interfaces "$work/report.json")"
done < <(ip -j addr show | jq -r '.[] | select(.link_type == "ether" and .address != null)
  | .ifname as $n | .address as $m | .operstate as $s
  | .addr_info[] | select(.family == "inet") | "\($n) \($m) \($s) \(.local)/\(.prefixlen)"')
[ "$checked" -gt 0 ] || fail "no Ethernet interface with an IPv4 address on this machine to compare the adapters with"
step "$(jq '[.software.packages[] | select(.kind == "windows")] | length' "$work/report.json") programs and $(
  jq '[.software.packages[] | select(.kind == "msix")] | length' "$work/report.json") MSIX packages from $(
  jq -c '[.software.sources[].path]' "$work/report.json")"

step "enrol and report over TLS to a collector on 127.0.0.1, the CA pinned by fingerprint"
# The collector binary the workspace's tests built (they run it), built here only when this check runs alone.
collector="${CARGO_TARGET_DIR:-target}/debug/muster-collector"
[ -x "$collector" ] || cargo build -q -p muster-collector
data="$work/collector"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="https://127.0.0.1:$port"
"$collector" --data-dir "$data" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
collector_pid=$!
cleanup_collector() {
  kill "$collector_pid" 2>/dev/null || true
  wait "$collector_pid" 2>/dev/null || true
  cleanup
}
trap cleanup_collector EXIT
ca=""
for _ in $(seq 1 120); do
  kill -0 "$collector_pid" 2>/dev/null || fail "the collector exited: $(cat "$work/serve.log")"
  if ca=$("$collector" --data-dir "$data" ca show --format json 2>/dev/null) && [ -n "$ca" ] \
    && curl -sf --max-time 2 --cacert "$(jq -r .ca_cert_path <<<"$ca")" -o /dev/null "$url/readyz"; then
    break
  fi
  sleep 0.5
done
curl -sf --max-time 2 --cacert "$(jq -r .ca_cert_path <<<"$ca")" -o /dev/null "$url/readyz" \
  || fail "the collector did not become ready on $url: $(cat "$work/serve.log")"
secret=$("$collector" --data-dir "$data" enroll-secret create --label wine --format json | jq -r .secret)
# Wine hands the environment to Windows programs: the secret never appears on a command line.
MUSTER_ENROLL_SECRET="$secret" "$wine" "$exe" enroll --collector "$url" \
  --ca-fingerprint "$(jq -r .sha256_fingerprint <<<"$ca")" --tags wine --state-dir 'C:\muster-agent' \
  >"$work/enroll.out" 2>&1 || fail "enroll under Wine exited $?: $(cat "$work/enroll.out")"
"$wine" "$exe" report-now --state-dir 'C:\muster-agent' >"$work/report-now.out" 2>&1 \
  || fail "report-now under Wine exited $?: $(cat "$work/report-now.out")"
token=$("$collector" --data-dir "$data" token create --name wine-check --role viewer --format json | jq -r .token)
api() { curl -sf --max-time 10 --cacert "$(jq -r .ca_cert_path <<<"$ca")" -H "Authorization: Bearer $token" "$url$1"; }
hosts=$(api /api/v1/hosts) || fail "GET /api/v1/hosts"
[ "$(jq '.hosts | length' <<<"$hosts")" = 1 ] || fail "expected the Wine host alone, got $hosts"
host=$(jq -r '.hosts[0].id' <<<"$hosts")
detail=$(api "/api/v1/hosts/$host") || fail "GET /api/v1/hosts/$host"
jq -e --arg build "$build.3803" '.sections.os.content.id == "windows" and .sections.os.content.build_id == $build
    and (.tags | index("wine"))' <<<"$detail" >/dev/null \
  || fail "the collector's record of the Wine host: $(jq -c '{os: .sections.os.content, tags}' <<<"$detail")"
jq -e '[.sections.patches.content.installed_updates[].id] == ["KB5034441",
    "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4291.1.10", "KB1"]' <<<"$detail" >/dev/null \
  || fail "the collector's installed updates: $(jq -c '.sections.patches.content' <<<"$detail")"
[ "$(jq '.sections.software.content.package_count' <<<"$detail")" = 7 ] \
  || fail "the collector holds $(jq '.sections.software.content.package_count' <<<"$detail") packages, not 4 programs and 3 MSIX packages"
# The failing checks become findings under the built-in policy (evaluated after the report is stored).
# Windows 10 22H2 (every edition) left regular support on 2025-10-14 and Extended Security Updates end on
# 2028-10-10 (endoflife.date's data in collector/policy/endoflife/os.json): which rule fires depends on today.
if [[ "$(date -u +%F)" < 2028-10-10 ]]; then os_rule=os.extended_support; else os_rule=os.end_of_life; fi
want_rules="[\"firewall.active\",\"$os_rule\",\"updates.automatic\",\"windows.rdp_nla\"]"
rules=""
for _ in $(seq 1 60); do
  rules=$(api "/api/v1/hosts/$host/findings?kind=rule&limit=100" | jq -c '[.findings[].rule_id] | sort') || true
  [ "$rules" = "$want_rules" ] && break
  sleep 0.5
done
[ "$rules" = "$want_rules" ] || fail "findings of the Wine host: expected $want_rules, got $rules"
step "enrolled as host $host and reported: os $(jq -c '.sections.os.content.name' <<<"$detail"), 4 programs and 3 MSIX packages stored"

step "the state directory's access list: a directory Everyone may read is refused"
# Wine derives a file's access list from its Unix mode: 0755 lets Everyone (S-1-1-0) read, as a directory someone
# widened with icacls would on Windows. The directory enrol created above passed the same check.
mkdir -m 0755 "$WINEPREFIX/drive_c/muster-open"
if "$wine" "$exe" report-now --state-dir 'C:\muster-open' >"$work/open.out" 2>&1; then
  fail "report-now accepted a state directory Everyone may read"
fi
grep -q 'state directory C:\\muster-open also grants access to S-1-1-0 (Everyone)' "$work/open.out" \
  || fail "the refusal of a wide state directory: $(tr -d '\r' <"$work/open.out")"

step "MSI: built with wixl, installed by Wine's msiexec, enrols from its properties, runs as the MusterAgent service"
deploy/windows/build-msi.sh --exe "$exe" --out "$work/dist/muster-agent.msi"
msi="Z:${work//\//\\}\\dist\\muster-agent.msi"
# Services live as long as the Wine session: a persistent server keeps the MSI's service from being killed (and
# started again as an automatic service) between the commands below. It is started once the earlier commands'
# session has ended (one started before wineboot leaves Wine's service database locked for the installer).
/usr/lib/wine/wineserver -w
/usr/lib/wine/wineserver -p || fail "wineserver -p"
# The installed .exe needs the Wine-only shim too; Wine has no bcryptprimitives.dll of its own, so system32 finds it.
cp "$work/dist/windows-x86_64/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
drive_c="$WINEPREFIX/drive_c"
# A secret file as Notepad writes it (CRLF); enrolment reads its first line.
printf '%s\r\n' "$("$collector" --data-dir "$data" enroll-secret create --label msi --format json | jq -r .secret)" \
  >"$drive_c/muster-secret.txt"
"$wine" msiexec /i "$msi" /qn /l*v 'C:\msi-install.log' \
  "MUSTER_COLLECTOR=$url" "MUSTER_CA_FINGERPRINT=$(jq -r .sha256_fingerprint <<<"$ca")" \
  'MUSTER_ENROLL_SECRET_FILE=C:\muster-secret.txt' MUSTER_TAGS=msi,wine >/dev/null 2>&1 \
  || fail "msiexec /i exited $?: $(tr -d '\0\r' <"$drive_c/msi-install.log" 2>/dev/null | grep -iE 'error|return value 3' | head -n 20)"
installed="$drive_c/Program Files/Muster/muster-agent.exe"
[ -f "$installed" ] || fail "the MSI did not install $installed"
state="$drive_c/ProgramData/Muster/agent"
[ -f "$state/agent.toml" ] || fail "the MSI's enrolment left no $state/agent.toml: $(ls -la "$drive_c/ProgramData/Muster" 2>&1)"
log="$drive_c/ProgramData/Muster/muster-agent.log"
service_state() { "$wine" sc query MusterAgent 2>/dev/null | tr -d '\r' | awk '$1 == "STATE" {print $4}'; }
wait_for() { # seconds, description, command...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 $((seconds * 2))); do "$@" && return 0; sleep 0.5; done
  fail "$what (service $(service_state)): $(cat "$log" 2>/dev/null)"
}
[ "$(service_state)" = RUNNING ] || fail "MusterAgent is $(service_state) after the install, not RUNNING"
# The same machine enrolled by hand above and reported: the MSI's enrolment would take its record over, so the
# collector holds it for an administrator, and the service keeps its report in the spool meanwhile.
wait_for 30 "the service did not report its held enrolment" grep -q 'enrolment_pending' "$log"
held=$("$collector" --data-dir "$data" enrolment list --format json)
[ "$(jq --arg h "$host" '[.[] | select(.host_id == $h and .state == "pending")] | length' <<<"$held")" = 1 ] \
  || fail "expected one held enrolment of host $host: $held"
"$collector" --data-dir "$data" enrolment approve "$(jq -r '.[0].id' <<<"$held")" >/dev/null 2>&1 \
  || fail "enrolment approve"
step "held enrolment approved; stop the service (it waits 5 min to retry), start it again: it sends the spool"
"$wine" net stop MusterAgent >/dev/null 2>&1 || fail "net stop MusterAgent exited $?"
[ "$(service_state)" = STOPPED ] || fail "MusterAgent is $(service_state) after net stop"
grep -q 'muster-agent: stopped$' "$log" || fail "no clean stop in the service log: $(cat "$log")"
"$wine" net start MusterAgent >/dev/null 2>&1 || fail "net start MusterAgent exited $?"
wait_for 60 "no delivered report from the restarted service" grep -q 'muster-agent: report [0-9a-f]* delivered' "$log"
[ "$(service_state)" = RUNNING ] || fail "MusterAgent is $(service_state) after net start"
[ "$(api /api/v1/hosts | jq '.hosts | length')" = 1 ] || fail "the MSI's enrolment made a second host record"
# The record was handed over: the hand-enrolled state directory's token no longer works (exit 3: enrol again).
code=0
"$wine" "$exe" report-now --state-dir 'C:\muster-agent' >"$work/replaced.out" 2>&1 || code=$?
[ "$code" = 3 ] || fail "report-now with the replaced token exited $code: $(tr -d '\r' <"$work/replaced.out")"

step "upgrade: a newer MSI, without properties, replaces the older product and keeps the enrolment"
deploy/windows/build-msi.sh --exe "$exe" --out "$work/dist/muster-agent-upgrade.msi" --version 0.99.0
msi="Z:${work//\//\\}\\dist\\muster-agent-upgrade.msi"
"$wine" msiexec /i "$msi" /qn >/dev/null 2>&1 || fail "msiexec /i of the newer MSI exited $?"
# Installed products: the Uninstall keys whose DisplayName is ours (Wine's reg has no /f search).
products=$("$wine" reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s 2>/dev/null | tr -d '\r' \
  | awk '/^HKEY/ {key = $0} $1 == "DisplayName" && $0 ~ /REG_SZ +Muster agent$/ {print key}')
[ "$(grep -c . <<<"$products")" = 1 ] || fail "after the upgrade these Muster agent products are registered: $products"
"$wine" reg query "$products" /v DisplayVersion 2>/dev/null | tr -d '\r' | grep -q 'REG_SZ *0\.99\.0$' \
  || fail "the registered product is not 0.99.0: $("$wine" reg query "$products" 2>&1 | tr -d '\r')"
[ "$(service_state)" = RUNNING ] || fail "MusterAgent is $(service_state) after the upgrade"
# A delivery after the upgrade's stop (the second in the log: the first was net stop's above), rather than a count
# of deliveries taken before msiexec, which a run once saw fail with both lines in the log.
wait_for 60 "no report after the upgrade" awk '/muster-agent: stopped$/ {stops++}
  stops >= 2 && /muster-agent: report [0-9a-f]* delivered/ {found = 1} END {exit !found}' "$log"
[ "$(grep -c 'muster-agent: stopped$' "$log")" = 2 ] || fail "the upgrade did not stop the old service cleanly: $(cat "$log")"
[ "$(api /api/v1/hosts | jq '.hosts | length')" = 1 ] || fail "the upgrade made a second host record"

step "uninstall: the service stops and goes, the program goes, the enrolment stays for a reinstall"
"$wine" msiexec /x "$msi" /qn >/dev/null 2>&1 || fail "msiexec /x exited $?"
[ ! -e "$installed" ] || fail "msiexec /x left $installed"
if "$wine" reg query 'HKLM\System\CurrentControlSet\Services\MusterAgent' >/dev/null 2>&1; then
  fail "msiexec /x left the MusterAgent service registered"
fi
[ "$(grep -c 'muster-agent: stopped$' "$log")" = 3 ] || fail "the uninstall did not stop the service cleanly: $(cat "$log")"
[ -f "$state/agent.toml" ] || fail "msiexec /x removed the enrolment in $state"
step "Wine part in $((SECONDS - t1)) s"

printf '40-windows-agent: muster-agent.exe built and run under Wine, Apple targets checked, in %s s\n' \
  "$((SECONDS - t0))" >&2
