#!/bin/sh
# Install (or upgrade, or remove) the Muster agent on this machine and enrol it with a collector.
#
#   install-agent.sh --collector https://collector.example:8443 --secret SECRET --ca-fingerprint SHA256 [--tags a,b]
#                    [--package muster-agent.deb|.rpm | --binary PATH] [--insecure] [--prefix DIR]
#   install-agent.sh --uninstall [--prefix DIR]
#
# Idempotent: running it again installs the new binary or package in place, rewrites the settings and restarts the
# service, and keeps the enrolment (host id and token) unless the collector changed. The secret may also come from
# the MUSTER_ENROLL_SECRET environment variable (better: it stays out of `ps` and shell history).
#
# --prefix DIR installs below DIR (binary, settings, state, unit) without touching the system's service manager:
# for tests and unprivileged trials.
set -eu

collector=""
secret=${MUSTER_ENROLL_SECRET:-}
fingerprint=""
ca_cert=""
tags=""
insecure=0
uninstall=0
package=""
binary=""
prefix=""
interval="1h"

say() { printf 'install-agent: %s\n' "$*" >&2; }
die() { printf 'install-agent: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --collector) [ $# -ge 2 ] || die "$1 needs a value"; collector=$2; shift 2 ;;
        --secret) [ $# -ge 2 ] || die "$1 needs a value"; secret=$2; shift 2 ;;
        --ca-fingerprint) [ $# -ge 2 ] || die "$1 needs a value"; fingerprint=$2; shift 2 ;;
        --ca-cert) [ $# -ge 2 ] || die "$1 needs a value"; ca_cert=$2; shift 2 ;;
        --tags) [ $# -ge 2 ] || die "$1 needs a value"; tags=$2; shift 2 ;;
        --interval) [ $# -ge 2 ] || die "$1 needs a value"; interval=$2; shift 2 ;;
        --package) [ $# -ge 2 ] || die "$1 needs a value"; package=$2; shift 2 ;;
        --binary) [ $# -ge 2 ] || die "$1 needs a value"; binary=$2; shift 2 ;;
        --prefix) [ $# -ge 2 ] || die "$1 needs a value"; prefix=$2; shift 2 ;;
        --insecure) insecure=1; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) usage 0 ;;
        *) say "unknown argument: $1"; usage 2 ;;
    esac
done

if [ -n "$prefix" ]; then
    mkdir -p "$prefix"
    prefix=$(cd "$prefix" && pwd)
fi
bin_path="$prefix/usr/bin/muster-agent"
config_path="$prefix/etc/muster/agent.toml"
state_dir="$prefix/var/lib/muster-agent"
unit_path="$prefix/etc/systemd/system/muster-agent.service"
script_dir=$(cd "$(dirname "$0")" && pwd)

# systemd is used only on the real system, and only when it is running.
use_systemd=0
if [ -z "$prefix" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    use_systemd=1
fi

installed_by_package() {
    [ -z "$prefix" ] || return 1
    if command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W -f '${Status}' muster-agent 2>/dev/null | grep -q 'ok installed'; then
        echo deb
    elif command -v rpm >/dev/null 2>&1 && rpm -q muster-agent >/dev/null 2>&1; then
        echo rpm
    else
        return 1
    fi
}

if [ "$uninstall" = 1 ]; then
    host_id=""
    if [ -f "$state_dir/agent.toml" ]; then
        host_id=$(sed -n 's/^host_id *= *"\(.*\)"/\1/p' "$state_dir/agent.toml")
    fi
    if [ "$use_systemd" = 1 ]; then
        systemctl disable --now muster-agent.service >/dev/null 2>&1 || true
    fi
    kind=$(installed_by_package || true)
    case "$kind" in
        deb) dpkg --purge muster-agent ;;
        rpm) rpm -e muster-agent ;;
        *)
            rm -f "$bin_path" "$unit_path" "$config_path"
            rmdir "$prefix/etc/muster" 2>/dev/null || true
            rm -rf "$state_dir"
            [ "$use_systemd" = 1 ] && systemctl daemon-reload
            ;;
    esac
    say "removed the agent, its settings and its enrolment from this machine"
    if [ -n "$host_id" ]; then
        say "the host record $host_id STAYS on the collector (with its history); delete it there if the machine is gone"
    else
        say "this machine was not enrolled; nothing is left on any collector"
    fi
    exit 0
fi

[ -n "$collector" ] || die "--collector https://HOST:8443 is required"
case "$collector" in
    https://*) ;;
    *) die "--collector must be an https:// URL" ;;
esac
[ -n "$secret" ] || [ -f "$state_dir/agent.toml" ] || die "--secret (or MUSTER_ENROLL_SECRET) is required to enrol"
# Trust on first use, only when asked: whoever answers on the network now becomes the trusted collector.
first_use_fingerprint() {
    command -v openssl >/dev/null 2>&1 || die "--insecure needs openssl to read the collector's CA"
    hostport=${collector#https://}
    hostport=${hostport%%/*}
    case "$hostport" in *:*) ;; *) hostport="$hostport:443" ;; esac
    # The last certificate the collector sends is its CA (the server certificate comes first).
    openssl s_client -connect "$hostport" -showcerts </dev/null 2>/dev/null \
        | awk '/BEGIN CERTIFICATE/{pem=""} {pem=pem $0 "\n"} /END CERTIFICATE/{last=pem} END{printf "%s", last}' \
        | openssl x509 -outform DER 2>/dev/null | openssl dgst -sha256 -r | cut -d' ' -f1
}
if [ -z "$fingerprint" ] && [ -z "$ca_cert" ] && [ ! -f "$state_dir/agent.toml" ]; then
    [ "$insecure" = 1 ] \
        || die "refusing to enrol without --ca-fingerprint SHA256 or --ca-cert FILE (muster-collector ca show prints them; --insecure trusts whatever answers)"
    fingerprint=$(first_use_fingerprint)
    [ ${#fingerprint} = 64 ] || die "could not read a CA certificate from $collector"
    say "WARNING: --insecure: trusting the CA $collector presented now, fingerprint $fingerprint;"
    say "WARNING: compare it with \`muster-collector ca show\` on the collector"
fi

# 1. The binary: a package (dpkg/rpm keep track of it), or a plain executable.
if [ -n "$package" ]; then
    [ -z "$prefix" ] || die "--package cannot be combined with --prefix; use --binary"
    [ -f "$package" ] || die "no such package: $package"
    case "$package" in
        *.deb) say "installing $package"; dpkg --force-confold -i "$package" ;;
        *.rpm) say "installing $package"; rpm -U --replacepkgs "$package" ;;
        *) die "--package must be a .deb or an .rpm" ;;
    esac
else
    if [ -z "$binary" ]; then
        if [ -x "$script_dir/muster-agent" ]; then
            binary="$script_dir/muster-agent"
        elif [ -x "$bin_path" ]; then
            binary="$bin_path"
        else
            die "give --package FILE or --binary PATH (the muster-agent executable)"
        fi
    fi
    [ -x "$binary" ] || die "not an executable: $binary"
    if [ "$binary" != "$bin_path" ]; then
        mkdir -p "$(dirname "$bin_path")"
        # Copy then rename: a running agent keeps its old inode, never a half-written file.
        cp "$binary" "$bin_path.new"
        chmod 0755 "$bin_path.new"
        mv -f "$bin_path.new" "$bin_path"
        say "installed $bin_path ($("$bin_path" --version))"
    fi
fi
[ -x "$bin_path" ] || die "$bin_path is missing after installation"

# 2. Settings, private to root: the service reads them; the secret is never written.
mkdir -p "$(dirname "$config_path")"
config_tmp="$config_path.tmp"
(
    umask 077
    {
        echo "# Written by install-agent.sh; re-running it rewrites this file."
        printf 'collector = "%s"\n' "$collector"
        [ -n "$fingerprint" ] && printf 'ca_fingerprint = "%s"\n' "$fingerprint"
        printf 'state_dir = "%s"\n' "$state_dir"
        printf 'interval = "%s"\n' "$interval"
    } >"$config_tmp"
)
chmod 0600 "$config_tmp"
mv -f "$config_tmp" "$config_path"

# 3. Enrolment, once: a re-run with the same collector keeps the host id and token.
enrolled_with=""
if [ -f "$state_dir/agent.toml" ]; then
    enrolled_with=$(sed -n 's/^collector *= *"\(.*\)"/\1/p' "$state_dir/agent.toml")
fi
if [ -n "$enrolled_with" ] && [ "${enrolled_with%/}" = "${collector%/}" ]; then
    say "already enrolled with $collector; identity kept"
else
    [ -n "$secret" ] || die "--secret is required to enrol with $collector"
    set -- --collector "$collector" --state-dir "$state_dir"
    if [ -n "$fingerprint" ]; then set -- "$@" --ca-fingerprint "$fingerprint"; else set -- "$@" --ca-cert "$ca_cert"; fi
    [ -n "$tags" ] && set -- "$@" --tags "$tags"
    MUSTER_ENROLL_SECRET=$secret "$bin_path" enroll "$@"
fi

# 4. The service.
if [ -n "$prefix" ] || [ "$(installed_by_package || true)" = "" ]; then
    mkdir -p "$(dirname "$unit_path")"
    if [ -f "$script_dir/systemd/muster-agent.service" ]; then
        unit_source="$script_dir/systemd/muster-agent.service"
    else
        die "systemd/muster-agent.service not found beside this script"
    fi
    sed -e "s#/usr/bin/muster-agent#$bin_path#g" -e "s#/etc/muster/agent.toml#$config_path#g" \
        -e "s#/var/lib/muster-agent#$state_dir#g" "$unit_source" >"$unit_path.tmp"
    mv -f "$unit_path.tmp" "$unit_path"
fi
if [ "$use_systemd" = 1 ]; then
    systemctl daemon-reload
    systemctl enable muster-agent.service >/dev/null 2>&1
    systemctl restart muster-agent.service
    say "muster-agent.service enabled and (re)started; it reports now and every $interval"
else
    say "systemd is not running here (or --prefix was given): no service was started; sending one report now"
    "$bin_path" report-now --state-dir "$state_dir"
    say "start the agent yourself: $bin_path run --config $config_path"
fi
say "check the set-up with: $bin_path doctor --config $config_path"
