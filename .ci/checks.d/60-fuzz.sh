#!/usr/bin/env bash
# Every fuzz target for a short, bounded time on the seeds from testdata/ (fuzz/README.md): a crash, a timeout or
# runaway memory on any parser of untrusted bytes fails CI. Longer runs are recorded in fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 fuzz/run.py --seconds "${MUSTER_FUZZ_SECONDS:-20}"
