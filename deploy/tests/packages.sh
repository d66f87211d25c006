#!/usr/bin/env bash
# Deployment test: builds both .deb packages and the agent .rpm and checks their contents and maintainer scripts,
# unpacks the agent packages into throwaway roots, lints the shell scripts, units and container/Kubernetes files,
# then runs install-agent.sh against a temporary prefix with a real collector on loopback: enrol, report, re-run (identity
# kept), doctor on a good and on broken set-ups (wrong pin, state directory open to others or locked), uninstall.
#
# Uses the binaries `cargo test`/`cargo build` left in target/debug (MUSTER_PROFILE=release for target/release), so
# it adds seconds, not a release build, to CI. Needs cargo-deb (installed with `cargo install cargo-deb --locked` when
# missing, about 80 s on 2 cores), dpkg-deb, rpmbuild and rpm2archive (Debian's `rpm`), jq, python3 with PyYAML,
# and when present shellcheck and systemd-analyze.
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=${MUSTER_PROFILE:-debug}
target_dir=${CARGO_TARGET_DIR:-target}
agent="$target_dir/$profile/muster-agent"
collector="$target_dir/$profile/muster-collector"
work=$(mktemp -d)
collector_pid=""
cleanup() {
  [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '== %s\n' "$*" >&2; }
fail() { printf 'packages.sh: FAIL: %s\n' "$*" >&2; exit 1; }
expect_contains() { grep -qF -- "$2" <<<"$1" || fail "$3: expected '$2' in: $1"; }

# Up to date after `cargo test`, so this only checks; it builds when run on its own.
build_flags=(-p muster-agent -p muster-collector)
[ "$profile" = release ] && build_flags+=(--release)
cargo build -q "${build_flags[@]}" 2>"$work/build.log" || { cat "$work/build.log" >&2; fail "cargo build"; }

step "lint: shell scripts, units"
for script in deploy/install-agent.sh deploy/debian/*/* ; do dash -n "$script"; done
if command -v shellcheck >/dev/null; then
  shellcheck -s sh deploy/install-agent.sh deploy/debian/*/* deploy/rpm/agent/*
  shellcheck --severity=warning deploy/tests/packages.sh deploy/quickstart.sh deploy/cross/build-agent.sh \
    deploy/rpm/build-agent-rpm.sh deploy/windows/build-msi.sh
fi
if command -v systemd-analyze >/dev/null; then
  # Only the missing /usr/bin binaries may be reported (they exist once the package is installed).
  out=$(systemd-analyze verify deploy/systemd/*.service 2>&1 || true)
  leftover=$(grep -v "is not executable: No such file or directory" <<<"$out" || true)
  [ -z "$leftover" ] || fail "systemd-analyze verify: $leftover"
fi

step "structure: Dockerfile, compose, Kubernetes"
python3 deploy/tests/check_manifests.py

step "macOS launchd daemon: the plist parses and runs what the docs install"
python3 - deploy/macos/com.muster.agent.plist <<'PY' || fail "deploy/macos/com.muster.agent.plist"
import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
assert p["Label"] == "com.muster.agent", p["Label"]
assert p["ProgramArguments"] == ["/usr/local/bin/muster-agent", "run", "--config", "/etc/muster/agent.toml"], p
assert p["UserName"] == "root" and p["RunAtLoad"] is True, p
assert p["KeepAlive"] == {"PathState": {"/var/lib/muster-agent/agent.toml": True}}, p["KeepAlive"]
assert p["Umask"] == 0o077 and p["ExitTimeOut"] >= 20, p
PY
"$agent" run --help | grep -q -- '--config <FILE>' || fail "muster-agent run has no --config (the plist passes it)"
grep -qF 'sudo cp deploy/macos/com.muster.agent.plist /Library/LaunchDaemons/' deploy/WINDOWS-MACOS.md \
  || fail "deploy/WINDOWS-MACOS.md does not say how to install the launchd daemon"

step "packages: cargo deb (agent, collector)"
if ! command -v cargo-deb >/dev/null; then
  cargo install cargo-deb --locked --version 3.8.0
fi
profile_flag=()
[ "$profile" = debug ] && profile_flag=(--profile dev)
for pkg in muster-agent muster-collector; do
  cargo deb -p "$pkg" --no-build "${profile_flag[@]}" --fast -o "$work/" 2>&1 | grep -v "dev profile is not supported\|debug symbols set\|^ *To enable" >&2 || true
done
agent_deb=$(ls "$work"/muster-agent_*.deb)
collector_deb=$(ls "$work"/muster-collector_*.deb)

contents=$(dpkg-deb -c "$agent_deb")
for want in "-rwxr-xr-x 0/0 .* ./usr/bin/muster-agent" "-rw------- 0/0 .* ./etc/muster/agent.toml" \
  "./usr/lib/systemd/system/muster-agent.service" "./usr/share/doc/muster-agent/README.deploy.md"; do
  grep -qE -- "${want//\//\\/}" <<<"$contents" || fail "agent deb lacks $want in: $contents"
done
info=$(dpkg-deb -I "$agent_deb")
expect_contains "$info" "Package: muster-agent" "agent control"
expect_contains "$info" "Depends: libc6" "agent control"
expect_contains "$(dpkg-deb -f "$agent_deb" Package)" "muster-agent" "agent control field"
ctl="$work/agent-control"
dpkg-deb -e "$agent_deb" "$ctl"
expect_contains "$(cat "$ctl/conffiles")" "/etc/muster/agent.toml" "agent conffiles"
expect_contains "$(cat "$ctl/postinst")" "install -d -m 0700 -o root -g root /var/lib/muster-agent" "agent postinst"
expect_contains "$(cat "$ctl/postinst")" "deb-systemd-helper enable muster-agent.service" "agent postinst"
expect_contains "$(cat "$ctl/prerm")" "deb-systemd-invoke stop muster-agent.service" "agent prerm"
expect_contains "$(cat "$ctl/postrm")" "rm -rf /var/lib/muster-agent" "agent postrm"
for script in postinst prerm postrm; do dash -n "$ctl/$script"; done

contents=$(dpkg-deb -c "$collector_deb")
for want in "./usr/bin/muster-collector" "-rw-r----- 0/0 .* ./etc/muster/collector.toml" \
  "./usr/lib/systemd/system/muster-collector.service"; do
  grep -qE -- "${want//\//\\/}" <<<"$contents" || fail "collector deb lacks $want in: $contents"
done
ctl="$work/collector-control"
dpkg-deb -e "$collector_deb" "$ctl"
expect_contains "$(dpkg-deb -f "$collector_deb" Depends)" "adduser" "collector depends"
expect_contains "$(cat "$ctl/postinst")" "adduser --system --ingroup muster" "collector postinst"
expect_contains "$(cat "$ctl/postinst")" "install -d -m 0700 -o muster -g muster /var/lib/muster" "collector postinst"
expect_contains "$(cat "$ctl/conffiles")" "/etc/muster/collector.toml" "collector conffiles"

# The agent RPM, from the same binary, with rpmbuild (.ci/prepare.d/20-rpm-tools.sh installs it for the dnf tests).
step "packages: rpmbuild (agent)"
agent_rpm=$(deploy/rpm/build-agent-rpm.sh --binary "$agent" --arch x86_64 --out "$work")
rpm_files=$(rpm -qlvp "$agent_rpm")
for want in "-rwxr-xr-x .* root .* /usr/bin/muster-agent" "-rw------- .* root .* /etc/muster/agent.toml" \
  "-rw-r--r-- .* /usr/lib/systemd/system/muster-agent.service" "/usr/share/doc/muster-agent/README.deploy.md"; do
  grep -qE -- "${want//\//\\/}" <<<"$rpm_files" || fail "agent rpm lacks $want in: $rpm_files"
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
nva=$(rpm -qp --qf '%{NAME} %{VERSION} %{ARCH}' "$agent_rpm")
[ "$nva" = "muster-agent $version x86_64" ] || fail "rpm name, version, arch: $nva"
expect_contains "$(rpm -qp --configfiles "$agent_rpm")" "/etc/muster/agent.toml" "rpm config files"
scripts=$(rpm -qp --scripts "$agent_rpm")
expect_contains "$scripts" "install -d -m 0700 -o root -g root /var/lib/muster-agent" "rpm %post"
expect_contains "$scripts" "systemctl disable --now muster-agent.service" "rpm %preun"
expect_contains "$scripts" "rm -rf /var/lib/muster-agent" "rpm %postun"
# Readable by RHEL 7's rpm 4.11: an xz payload, never zstd.
[ "$(rpm -qp --qf '%{PAYLOADCOMPRESSOR}' "$agent_rpm")" = xz ] || fail "rpm payload is not xz"
if rpm -qpR "$agent_rpm" | grep -q 'PayloadIsZstd'; then fail "rpm needs zstd payload support"; fi
rpm_root="$work/rpm-root"
mkdir -p "$rpm_root"
rpm2archive - <"$agent_rpm" | tar -xzf - -C "$rpm_root"
cmp "$rpm_root/usr/bin/muster-agent" "$agent" || fail "the rpm does not carry the binary it was given"
expect_contains "$("$rpm_root/usr/bin/muster-agent" --version)" "muster-agent" "binary unpacked from the rpm"

step "throwaway root: unpack the agent package and run what it installed"
root="$work/root"
dpkg-deb -x "$agent_deb" "$root"
expect_contains "$("$root/usr/bin/muster-agent" --version)" "muster-agent" "unpacked binary"
unit="$root/usr/lib/systemd/system/muster-agent.service"
for want in "ExecStart=/usr/bin/muster-agent run --config /etc/muster/agent.toml" "ProtectSystem=strict" \
  "ProtectHome=read-only" "NoNewPrivileges=yes" "ReadWritePaths=/var/lib/muster-agent" \
  "CapabilityBoundingSet=CAP_DAC_READ_SEARCH" "CPUQuota=" "MemoryMax=" "Restart=on-failure" "KillSignal=SIGTERM"; do
  expect_contains "$(cat "$unit")" "$want" "agent unit"
done
# The world-writable check must see the host's /tmp and /var/tmp, not a private pair (issue 16).
if grep -q '^PrivateTmp=' "$unit"; then fail "agent unit has PrivateTmp=: files.world_writable would judge systemd's /tmp"; fi
# The packaged settings are the defaults `run` uses (agent/src/config.rs tests the same file).
"$root/usr/bin/muster-agent" doctor --config "$root/etc/muster/agent.toml" --state-dir "$work/none" --no-inventory \
  >"$work/doctor-unenrolled.txt" && fail "doctor passed without an enrolment"
expect_contains "$(cat "$work/doctor-unenrolled.txt")" "PASS  config" "doctor on the packaged settings"

step "collector on loopback"
data="$work/collector-data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="https://127.0.0.1:$port"
"$collector" --data-dir "$data" serve --listen "127.0.0.1:$port" >"$work/collector.log" 2>&1 &
collector_pid=$!
for _ in $(seq 1 100); do
  fingerprint=$("$collector" --data-dir "$data" ca show --format json 2>/dev/null | jq -r .sha256_fingerprint) && \
    curl -sf --cacert "$data/tls/ca.pem" "$url/readyz" >/dev/null && break
  sleep 0.2
done
curl -sf --cacert "$data/tls/ca.pem" "$url/readyz" >/dev/null || fail "collector not ready: $(cat "$work/collector.log")"
secret=$("$collector" --data-dir "$data" enroll-secret create --label deploy-test --format json 2>/dev/null | jq -r .secret)
token=$("$collector" --data-dir "$data" token create --name t --role admin --format json 2>/dev/null | jq -r .token)
hosts() { curl -sf --cacert "$data/tls/ca.pem" -H "Authorization: Bearer $token" "$url/api/v1/hosts"; }

step "install-agent.sh: refusals"
prefix="$work/prefix"
out=$(deploy/install-agent.sh --collector "$url" --secret "$secret" --prefix "$prefix" --binary "$agent" 2>&1) \
  && fail "installed without a CA pin"
expect_contains "$out" "refusing to enrol without --ca-fingerprint" "no pin"
out=$(deploy/install-agent.sh --collector "http://127.0.0.1:$port" --secret "$secret" --ca-fingerprint "$fingerprint" \
  --prefix "$prefix" --binary "$agent" 2>&1) && fail "installed with an http:// collector"
expect_contains "$out" "must be an https:// URL" "http collector"

step "install-agent.sh: install, enrol, report"
deploy/install-agent.sh --collector "$url" --secret "$secret" --ca-fingerprint "$fingerprint" --tags deploy,test \
  --prefix "$prefix" --binary "$agent" 2>"$work/install1.log" || fail "install: $(cat "$work/install1.log")"
expect_contains "$(cat "$work/install1.log")" "systemd is not running here (or --prefix was given)" "no systemd said"
state="$prefix/var/lib/muster-agent"
config="$prefix/etc/muster/agent.toml"
host_id=$(sed -n 's/^host_id = "\(.*\)"/\1/p' "$state/agent.toml")
[ -n "$host_id" ] || fail "no host id after enrolment"
[ "$(stat -c %a "$config")" = 600 ] || fail "settings mode $(stat -c %a "$config")"
[ "$(stat -c %a "$state")" = 700 ] || fail "state mode $(stat -c %a "$state")"
[ "$(hosts | jq -r --arg id "$host_id" '[.hosts[] | select(.id == $id)] | length')" = 1 ] \
  || fail "host $host_id not listed by the collector: $(hosts)"

step "install-agent.sh: re-run keeps the identity"
deploy/install-agent.sh --collector "$url" --ca-fingerprint "$fingerprint" --prefix "$prefix" --binary "$agent" \
  2>"$work/install2.log" || fail "re-run: $(cat "$work/install2.log")"
expect_contains "$(cat "$work/install2.log")" "already enrolled with $url; identity kept" "re-run"
[ "$(sed -n 's/^host_id = "\(.*\)"/\1/p' "$state/agent.toml")" = "$host_id" ] || fail "host id changed on re-run"

step "doctor: good set-up"
"$prefix/usr/bin/muster-agent" doctor --config "$config" --format json >"$work/doctor.json" \
  || fail "doctor failed on a good set-up: $(cat "$work/doctor.json")"
for name in config "state directory" enrolment "ca pin" tls clock "host token" "section software"; do
  [ "$(jq -r --arg n "$name" '.checks[] | select(.name == $n) | .status' "$work/doctor.json")" != fail ] \
    || fail "doctor check $name failed"
  [ -n "$(jq -r --arg n "$name" '.checks[] | select(.name == $n) | .status' "$work/doctor.json")" ] \
    || fail "doctor has no check $name"
done
for name in config "state directory" enrolment "ca pin" tls clock "host token"; do
  [ "$(jq -r --arg n "$name" '.checks[] | select(.name == $n) | .status' "$work/doctor.json")" = pass ] \
    || fail "doctor check $name did not pass: $(cat "$work/doctor.json")"
done

doctor_fails() { # name expected-text: doctor exits 1 and the check fails with that text
  local out
  out=$("$prefix/usr/bin/muster-agent" doctor --config "$config" --no-inventory --format json) \
    && fail "doctor passed a broken set-up ($1)"
  [ "$(jq -r --arg n "$1" '.checks[] | select(.name == $n) | .status' <<<"$out")" = fail ] \
    || fail "doctor check $1 did not fail: $out"
  expect_contains "$(jq -r --arg n "$1" '.checks[] | select(.name == $n) | .detail' <<<"$out")" "$2" "doctor $1"
}

step "doctor: wrong pin in the settings"
cp "$config" "$work/agent.toml.good"
sed -i "s/^ca_fingerprint = .*/ca_fingerprint = \"$(printf '%064d' 0)\"/" "$config"
doctor_fails "ca pin" "is not the configured ca_fingerprint"
cp "$work/agent.toml.good" "$config"

step "doctor: stored CA is not the collector's"
cp "$state/ca.pem" "$work/ca.pem.good"
other="$work/other-collector"
"$collector" --data-dir "$other" serve --listen 127.0.0.1:0 --format json >"$work/other.json" 2>/dev/null &
other_pid=$!
for _ in $(seq 1 50); do [ -f "$other/tls/ca.pem" ] && break; sleep 0.2; done
kill "$other_pid"; wait "$other_pid" 2>/dev/null || true
cp "$other/tls/ca.pem" "$state/ca.pem"
doctor_fails "tls" "does not chain to the pinned CA"
cp "$work/ca.pem.good" "$state/ca.pem"

step "doctor: state directory open to others, and locked"
chmod 755 "$state"
doctor_fails "state directory" "mode 0755"
chmod 000 "$state"
doctor_fails "state directory" "mode 0000"
chmod 700 "$state"
"$prefix/usr/bin/muster-agent" doctor --config "$config" --no-inventory >/dev/null || fail "doctor after repair"

step "install-agent.sh --uninstall"
out=$(deploy/install-agent.sh --uninstall --prefix "$prefix" 2>&1)
expect_contains "$out" "the host record $host_id STAYS on the collector" "uninstall message"
for left in "$prefix/usr/bin/muster-agent" "$state" "$config"; do
  [ ! -e "$left" ] || fail "uninstall left $left behind"
done

step "metrics"
metrics=$(curl -sf --cacert "$data/tls/ca.pem" "$url/metrics") || fail "no /metrics"
for want in 'muster_reports_received_total' 'muster_enrolments_total{kind="new"} 1' 'muster_report_bytes_total' \
  'muster_ingest_duration_seconds_bucket' 'muster_findings'; do
  expect_contains "$metrics" "$want" "metrics"
done

printf 'packages.sh: all deployment checks passed\n' >&2
