#!/usr/bin/env bash
# Muster quick start: one command from a fresh clone to a collector with this machine enrolled and reported.
#
# Builds the release binaries, starts `muster-collector serve` on embedded SQLite in ./muster-data, enrols a local
# agent through the real enrolment path (enrolment secret + pinned CA fingerprint, over TLS), sends one report over
# TLS, creates an admin API token, prints how to query the API, and keeps the collector in the foreground until
# Ctrl-C. Running it again reuses the data directory: same CA, same database, same enrolled agent, same admin token.
#
# Settings (environment):
#   MUSTER_QUICKSTART_DIR   data directory (default ./muster-data)
#   MUSTER_QUICKSTART_LISTEN address to listen on (default 127.0.0.1:8443)
#   MUSTER_QUICKSTART_BUILD set to 0 to skip `cargo build` and use the binaries already built
#   CARGO_TARGET_DIR        where cargo builds (default ./target)
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=${MUSTER_QUICKSTART_DIR:-./muster-data}
listen=${MUSTER_QUICKSTART_LISTEN:-127.0.0.1:8443}
agent_state="$data_dir/agent"
token_file="$data_dir/quickstart-admin-token"
target_dir=${CARGO_TARGET_DIR:-target}
collector="$target_dir/release/muster-collector"
agent="$target_dir/release/muster-agent"
# A wildcard listen address is reached through loopback, a name the collector's certificate always covers.
case "$listen" in
  0.0.0.0:*) url="https://127.0.0.1:${listen##*:}" ;;
  "[::]:"*) url="https://[::1]:${listen##*:}" ;;
  *) url="https://$listen" ;;
esac

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

# The value of a top-level string field in the one JSON document a `--format json` command prints.
json_field() {
  if command -v jq >/dev/null; then
    jq -er --arg f "$1" '.[$f]'
  else
    tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" | grep .
  fi
}

command -v curl >/dev/null || die "curl is needed (to wait for the collector and for the sample API call)"

if [ "${MUSTER_QUICKSTART_BUILD:-1}" != 0 ]; then
  say "Building release binaries (the first build takes a few minutes)"
  cargo build --release -p muster-collector -p muster-agent
fi
[ -x "$collector" ] && [ -x "$agent" ] || die "missing $collector or $agent: build them first"

mkdir -p "$data_dir"
# Refuse to start a second collector over a running one (ours from an earlier run, or anything else on the port).
if curl -sk --max-time 2 -o /dev/null "$url/healthz"; then
  die "something already answers on $url; stop it (or set MUSTER_QUICKSTART_LISTEN) and run this again"
fi

say "Starting the collector on $url (SQLite in $data_dir)"
"$collector" --data-dir "$data_dir" serve --listen "$listen" &
collector_pid=$!
stop_collector() {
  if kill -0 "$collector_pid" 2>/dev/null; then
    kill -TERM "$collector_pid" 2>/dev/null || true
    wait "$collector_pid" 2>/dev/null || true
  fi
}
trap stop_collector EXIT
trap 'exit 130' INT TERM

# The CA exists once `serve` has started; readiness means the database answers too.
ca_json=""
for _ in $(seq 1 120); do
  kill -0 "$collector_pid" 2>/dev/null || die "the collector exited during start-up (see its messages above)"
  if ca_json=$("$collector" --data-dir "$data_dir" ca show --format json 2>/dev/null) && [ -n "$ca_json" ]; then
    ca_cert=$(json_field ca_cert_path <<<"$ca_json")
    if curl -sf --max-time 2 --cacert "$ca_cert" -o /dev/null "$url/readyz"; then
      break
    fi
  fi
  sleep 0.5
done
curl -sf --max-time 2 --cacert "${ca_cert:-/nonexistent}" -o /dev/null "$url/readyz" \
  || die "the collector did not become ready on $url within 60 s"
fingerprint=$(json_field sha256_fingerprint <<<"$ca_json") || die "no fingerprint in: $ca_json"

enrol() {
  say "Enrolling this machine (state in $agent_state, CA pinned by fingerprint $fingerprint)"
  local secret
  secret=$("$collector" --data-dir "$data_dir" enroll-secret create --label quickstart --format json | json_field secret) \
    || die "could not create an enrolment secret"
  MUSTER_ENROLL_SECRET="$secret" "$agent" enroll --collector "$url" --ca-fingerprint "$fingerprint" \
    --tags quickstart --state-dir "$agent_state"
}

if [ -f "$agent_state/agent.toml" ]; then
  say "The local agent is already enrolled (state in $agent_state)"
else
  enrol
fi

report_now() {
  "$agent" report-now --state-dir "$agent_state"
}
say "Reporting this machine over TLS"
set +e
report_now
status=$?
set -e
if [ "$status" = 3 ]; then
  # The collector no longer knows this agent's token (its database was reset): enrol again, as the agent advised.
  enrol
  report_now
elif [ "$status" != 0 ]; then
  die "the report was not delivered (exit status $status)"
fi

# One admin token per data directory, kept (private) for re-runs while it still works.
admin_token=""
if [ -f "$token_file" ]; then
  admin_token=$(cat "$token_file")
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca_cert" -H "Authorization: Bearer $admin_token" \
    "$url/api/v1/hosts") || code=000
  [ "$code" = 200 ] || admin_token=""
fi
if [ -z "$admin_token" ]; then
  say "Creating an admin API token"
  admin_token=$("$collector" --data-dir "$data_dir" token create --name quickstart-admin --role admin --format json \
    | json_field token) || die "could not create an admin token"
  (umask 077 && printf '%s\n' "$admin_token" >"$token_file")
fi

# The first console user. A one-time password is printed while nobody has chosen a real one; once the admin has
# signed in and chosen a password, re-runs leave it alone.
console_login=""
user_state=$("$collector" --data-dir "$data_dir" user list --format json) || die "could not list console users"
if ! grep -q '"name": *"admin"' <<<"$user_state"; then
  say "Creating the console user admin"
  otp=$("$collector" --data-dir "$data_dir" user add admin --role admin --format json 2>/dev/null \
    | json_field one_time_password) || die "could not create the console user"
  console_login="user admin, one-time password $otp; choose your own at first sign-in"
elif tr -d ' \n' <<<"$user_state" | grep -q '"name":"admin"[^}]*"must_change_password":true'; then
  otp=$("$collector" --data-dir "$data_dir" user reset-password admin --format json 2>/dev/null \
    | json_field one_time_password) || die "could not reset the console user's one-time password"
  console_login="user admin, one-time password $otp; choose your own at first sign-in"
else
  console_login="user admin with the password you chose (forgot it: $collector --data-dir $data_dir user reset-password admin)"
fi

cat >&2 <<EOF

Muster is running.

  Console         $url/   ($console_login)
  API             $url/api/v1/
  OpenAPI         $url/api/v1/openapi.json
  CA certificate  $ca_cert
  CA SHA-256      $fingerprint
  Admin token     $admin_token   (also in $token_file)

  Try:
    curl --cacert $ca_cert -H "Authorization: Bearer $admin_token" $url/api/v1/hosts

  Report again:   $agent report-now --state-dir $agent_state
  Check agent:    $agent doctor --state-dir $agent_state
  Enrol another machine: $collector --data-dir $data_dir enroll-secret create --label NAME, then on it
                  MUSTER_ENROLL_SECRET=SECRET muster-agent enroll --collector https://THIS-HOST:8443 --ca-fingerprint $fingerprint
                  (listen on a reachable address with MUSTER_QUICKSTART_LISTEN=0.0.0.0:8443)

The collector runs in the foreground; Ctrl-C stops it.
EOF
wait "$collector_pid"
