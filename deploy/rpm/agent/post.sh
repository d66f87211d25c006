# muster-agent %post: private state directory; enable the unit (it starts once the machine is enrolled).
install -d -m 0700 -o root -g root /var/lib/muster-agent
chmod 0600 /etc/muster/agent.toml
if command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    systemctl enable muster-agent.service >/dev/null 2>&1 || :
    # An upgrade ($1 = 2) restarts a running agent on the new binary; the identity is kept.
    if [ "$1" -gt 1 ]; then
        systemctl try-restart muster-agent.service >/dev/null 2>&1 || :
    fi
fi
