#!/usr/bin/env python3
"""The collector's peak memory under hostile report bodies, and whether a well-behaved host is served meanwhile.

A release collector on embedded SQLite (default limits) is sent, from HOSTS enrolled hosts at once and for ROUNDS
rounds: zstd and gzip bombs that decode to just under and just over `max_decompressed_bytes` (64 MiB), a report of
1,000,000 packages, JSON nested 1,000,000 deep, and bodies over `max_body_bytes`. A well-behaved host sends its real
report (~140 packages) five times a second throughout. Printed: the answers by status and error code, the benign host's answers and
latency, and the collector's RSS before and its peak (VmHWM) after. The documented bound is in deploy/README.md
("Connection limits"): 4 reports in flight on SQLite, each up to 64 MiB decoded.

Usage: loadgen/bench/hostile.py [--hosts 16] [--rounds 3]   (needs `cargo build --release -p muster-collector`;
the binary is $CARGO_TARGET_DIR/release/muster-collector, default target/)
"""

import argparse
import collections
import gzip
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64 << 20


def zstd(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout


def envelope(report_body: bytes) -> bytes:
    return b'{"report_id":"hostile","section_hashes":{},"report":' + report_body + b"}"


def bodies():
    """(name, encoding, bytes): the hostile corpus, built once."""
    real = (ROOT / "collector/testdata/reports/debian12-thinkpad-t480s.json").read_bytes()
    report = json.loads(real)
    # Valid JSON that decodes to just under the limit: a report whose padding is whitespace.
    under = envelope(real)
    under += b" " * (LIMIT - 1024 - len(under))
    over = under + b" " * 4096
    # The smallest package entries, so a million of them fit under the decoded limit and meet `max_packages`.
    many = dict(report, software=dict(report["software"], packages=[{"name": "p", "version": "1"}] * 1_000_000))
    deep = b"[" * 1_000_000 + b"]" * 1_000_000
    return [
        ("zstd bomb under the limit", "zstd", zstd(under)),
        ("zstd bomb over the limit", "zstd", zstd(over)),
        ("gzip bomb over the limit", "gzip", gzip.compress(over, 9)),
        ("1,000,000 packages", "zstd", zstd(envelope(json.dumps(many).encode()))),
        ("JSON 1,000,000 deep", "zstd", zstd(envelope(deep))),
        ("body over max_body_bytes", None, b"{" + b" " * (5 << 20)),
    ]


class Collector:
    def __init__(self, binary, data):
        self.binary, self.data = binary, data
        out = open(data / "serve.json", "w+")
        self.process = subprocess.Popen(
            [binary, "--data-dir", data, "--format", "json", "serve", "--listen", "127.0.0.1:0"],
            stdout=out, stderr=open(data / "collector.log", "w"),
        )
        for _ in range(200):
            out.seek(0)
            try:
                self.url = json.loads(out.read())["url"].rstrip("/")
                break
            except ValueError:
                time.sleep(0.1)
        else:
            raise SystemExit("the collector did not start; see collector.log")
        # Loopback to a collector started here: the CA is its own, so the answer is not verified.
        self.tls = ssl.create_default_context()
        self.tls.check_hostname = False
        self.tls.verify_mode = ssl.CERT_NONE

    def cli(self, *args):
        out = subprocess.run([self.binary, "--data-dir", self.data, "--format", "json", *args],
                             capture_output=True, check=True)
        return json.loads(out.stdout)

    def post(self, path, body, token=None, encoding=None):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if encoding:
            headers["content-encoding"] = encoding
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, context=self.tls, timeout=300) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, {"error": text[:80].decode(errors="replace")}
        except (ConnectionError, urllib.error.URLError):
            # The collector answers an oversize body's headers with 413 and closes without reading the rest; curl
            # shows that answer, urllib fails on the send instead.
            return 0, {"error": "closed while sending"}

    def status_kib(self, key):
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.process.terminate()
        self.process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binary = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "muster-collector"
    corpus = bodies()
    with tempfile.TemporaryDirectory() as tmp:
        c = Collector(binary, Path(tmp))
        try:
            secret = c.cli("enroll-secret", "create", "--label", "hostile")["secret"]

            def enrol(i):
                status, answer = c.post("/api/v1/agent/enroll", json.dumps(
                    {"secret": secret, "hostname": f"hostile-{i}", "machine_id": f"{i:032x}",
                     "agent_version": "0.1.0"}).encode())
                assert status == 200, answer
                return answer["host_token"]

            tokens = [enrol(i) for i in range(args.hosts + 1)]
            benign = tokens.pop()
            real = json.loads((ROOT / "collector/testdata/reports/debian12-thinkpad-t480s.json").read_bytes())
            status, answer = c.post("/api/v1/agent/report", zstd(json.dumps(
                {"report_id": "benign-0", "section_hashes": {}, "report": real}).encode()), benign, "zstd")
            assert status == 200, answer
            rss_before = c.status_kib("VmRSS")

            answers = collections.Counter()
            # `counter[key] += 1` is a read and a write: attackers share one counter, so they take turns.
            answers_lock = threading.Lock()
            benign_answers, benign_ms = collections.Counter(), []
            done = threading.Event()

            def attacker(token):
                for _ in range(args.rounds):
                    for name, encoding, body in corpus:
                        status, answer = c.post("/api/v1/agent/report", body, token, encoding)
                        with answers_lock:
                            answers[(name, status, answer.get("error"))] += 1

            def well_behaved():
                n = 0
                while not done.is_set():
                    n += 1
                    body = zstd(json.dumps({"report_id": f"benign-{n}", "section_hashes": {},
                                            "report": real}).encode())
                    started = time.monotonic()
                    status, answer = c.post("/api/v1/agent/report", body, benign, "zstd")
                    benign_ms.append((time.monotonic() - started) * 1000)
                    benign_answers[(status, answer.get("error") or answer.get("status"))] += 1
                    time.sleep(0.2)

            threads = [threading.Thread(target=attacker, args=(t,)) for t in tokens]
            watcher = threading.Thread(target=well_behaved)
            started = time.monotonic()
            watcher.start()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            done.set()
            watcher.join()
            elapsed = time.monotonic() - started
            peak = c.status_kib("VmHWM")
        finally:
            c.stop()

    print(f"hosts {args.hosts}, rounds {args.rounds}, {elapsed:.0f} s")
    print("| body | status | error | answers |\n| --- | --- | --- | --- |")
    for (name, status, error), n in sorted(answers.items()):
        print(f"| {name} | {status} | {error} | {n} |")
    benign_ms.sort()
    p99 = benign_ms[min(len(benign_ms) - 1, int(len(benign_ms) * 0.99))] if benign_ms else 0
    print(f"benign host: {dict(benign_answers)}, p50 {benign_ms[len(benign_ms) // 2]:.0f} ms, p99 {p99:.0f} ms")
    print(f"collector RSS before {rss_before / 1024:.0f} MiB, peak (VmHWM) {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
