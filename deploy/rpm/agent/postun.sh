# muster-agent %postun: on erase ($1 = 0), remove the enrolment; the host record stays on the collector.
if [ "$1" -eq 0 ]; then
    rm -rf /var/lib/muster-agent
fi
if command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
