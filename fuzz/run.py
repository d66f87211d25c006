#!/usr/bin/env python3
"""Builds the fuzz targets, seeds each from the real captures in testdata/, and runs each for a bounded time.

Why a script: the seeds are the repository's own checked-in test files (their sources and licences are in the
testdata READMEs), some decompressed or given the selector byte their target reads first, so nothing is copied into
the repository twice. The corpus a run grows stays in fuzz/corpus/ (not committed); a crash fails the run and leaves
its input in fuzz/artifacts/<target>/.

    fuzz/run.py                      # every target, 20 s each (what .ci/run does)
    fuzz/run.py --seconds 600 smbios # one target, longer
"""

import argparse
import gzip
import json
import lzma
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
AGENT = ROOT / "agent" / "testdata"
COLLECTOR = ROOT / "collector" / "testdata"


def files(base, pattern):
    found = sorted(p for p in base.glob(pattern) if p.is_file())
    if not found:
        sys.exit(f"fuzz/run.py: no seed matches {base / pattern}; was testdata moved?")
    return found


def raw(base, pattern, prefix=b""):
    return [(str(p.relative_to(ROOT)), prefix + p.read_bytes()) for p in files(base, pattern)]


def xz(base, pattern, prefix=b""):
    return [(str(p.relative_to(ROOT)), prefix + lzma.decompress(p.read_bytes())) for p in files(base, pattern)]


def gz(base, pattern, prefix=b""):
    return [(str(p.relative_to(ROOT)), prefix + gzip.decompress(p.read_bytes())) for p in files(base, pattern)]


def rpm_header_blobs(limit=8):
    """Package header blobs as the SQLite rpmdb stores them, selector 2 (see agent/src/fuzz.rs)."""
    (packed,) = files(AGENT, "pkgdb/rpm/cbl-mariner-2.0/rpmdb.sqlite.xz")
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as db:
        db.write(lzma.decompress(packed.read_bytes()))
        db.flush()
        rows = sqlite3.connect(db.name).execute("SELECT blob FROM Packages ORDER BY length(blob) LIMIT ?", (limit,))
        return [(f"header-{i}", b"\x02" + bytes(blob)) for i, (blob,) in enumerate(rows)]


def reports():
    """Report envelopes, plain (selector 0) and gzip'd (selector 1), as an agent sends them."""
    seeds = []
    for p in files(COLLECTOR, "reports/*.json"):
        envelope = json.dumps({"report_id": "fuzz-seed", "section_hashes": {}, "report": json.loads(p.read_bytes())})
        body = envelope.encode()
        seeds += [(p.name, b"\x00" + body), (p.name + ".gz", b"\x01" + gzip.compress(body))]
    return seeds


def smbios_sysfs_pairs():
    """A sysfs table with its entry point after a NUL, the layout `fuzz::smbios` reads."""
    return [
        (str(d.relative_to(ROOT)), (d / "DMI").read_bytes() + b"\x00" + (d / "smbios_entry_point").read_bytes())
        for d in (p.parent for p in files(AGENT, "smbios/**/smbios_entry_point"))
    ]


def sshd_with_drop_in():
    (main,) = files(AGENT, "checks/debian12/sshd_config")
    text = main.read_bytes()
    return [("sshd_config", text), ("with-drop-in", text + b"\x00PermitRootLogin no\nMatch User x\nPort 2\n")]


def decompressed(path, limit=64 << 10):
    """A compressed capture's first `limit` bytes: a large primary.xml cut short is still a good seed, and a whole
    one would make every mutation slow."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    elif path.suffix == ".zst":
        data = subprocess.run(["zstd", "-q", "-d", "-c"], input=data, capture_output=True, check=True).stdout
    return data[:limit]


def dnf_seeds():
    """repomd.xml and primary.xml of two real repositories, dnf-automatic and yum-cron configurations, and the
    updateinfo.xml the agent's dnf tests publish with modifyrepo_c (no public capture of one is checked in)."""
    seeds = raw(AGENT, "rpm-md/*/repodata/repomd.xml") + raw(AGENT, "dnf/*.conf")
    seeds += [(str(p.relative_to(ROOT)), decompressed(p)) for p in files(AGENT, "rpm-md/*/repodata/*-primary.xml.*")]
    (tests,) = files(ROOT / "agent/src/inventory/patches/dnf", "tests.rs")
    updateinfo = re.search(r"<updates>.*?</updates>", tests.read_text(), re.S)
    if updateinfo is None:
        sys.exit("fuzz/run.py: no <updates> document in agent/src/inventory/patches/dnf/tests.rs")
    return seeds + [("updateinfo.xml", updateinfo.group(0).encode())]


def yarn_with_manifest():
    """A yarn.lock, a NUL and the package.json beside it, as `fuzz::language` reads them (selector 1)."""
    return [
        (str(p.relative_to(ROOT)) + "+package.json", b"\x01" + p.read_bytes() + b"\x00" + (p.parent / "package.json").read_bytes())
        for p in files(AGENT, "lang/**/yarn.lock")
    ]


def language_seeds():
    """Each file kind with the selector byte `fuzz::language` reads first."""
    lang = "lang/**/"
    return (
        raw(AGENT, lang + "METADATA", b"\x00") + raw(AGENT, lang + "PKG-INFO", b"\x00")
        + raw(AGENT, lang + "package.json", b"\x01") + raw(AGENT, lang + "package-lock.json", b"\x01")
        + raw(AGENT, lang + "pnpm-lock.yaml", b"\x01") + raw(AGENT, lang + "yarn.lock", b"\x01") + yarn_with_manifest()
        + raw(AGENT, lang + "*.gemspec", b"\x02")
        + raw(AGENT, lang + "*.jar", b"\x03") + raw(AGENT, lang + "*.war", b"\x03")
        # The Rust fixture only: the Go one is 1.2 MB, and its section is seeded alone below.
        + raw(AGENT, lang + "muster-cargo-fixture", b"\x04")
        + raw(AGENT, "lang/sections/*", b"\x05")
    )


# Release code with debug assertions and no sanitizer: the fuzzed code has no `unsafe`, so AddressSanitizer would
# only slow the run and the C libraries' build (SQLite, zstd, xz); `--sanitizer address` is one flag away for a
# longer run (fuzz/README.md).
FLAGS = ["-O", "--sanitizer", "none", "--debug-assertions"]

SEEDS = {
    "report_decoder": reports,
    "osv": lambda: raw(COLLECTOR, "advisories/ubuntu/*.json", b"\x00") + raw(COLLECTOR, "advisories/*/*.jsonl", b"\x01"),
    "dpkg_status": lambda: raw(AGENT, "pkgdb/dpkg/**/status") + raw(AGENT, "pkgdb/dpkg/**/status.d/*"),
    "rpmdb": lambda: raw(AGENT, "pkgdb/rpm/syft-bdb/Packages", b"\x00")
    + xz(AGENT, "pkgdb/rpm/libuuid/Packages.xz", b"\x00")
    + xz(AGENT, "pkgdb/rpm/sle15-bci/Packages.db.xz", b"\x01")
    + rpm_header_blobs(),
    "apk": lambda: raw(AGENT, "pkgdb/apk/**/installed"),
    "pacman": lambda: raw(AGENT, "pkgdb/pacman/**/desc"),
    "os_release": lambda: raw(AGENT, "os-release/*"),
    "smbios": lambda: raw(AGENT, "smbios/**/*.bin") + raw(AGENT, "smbios/**/*.dat") + smbios_sysfs_pairs(),
    "apt": lambda: raw(AGENT, "apt/debian-12/var/lib/apt/lists/*InRelease")
    + raw(AGENT, "apt/compressed/*_Packages")
    + raw(AGENT, "apt/debian-12/etc/apt/sources.list.d/*"),
    "sshd_config": sshd_with_drop_in,
    "disposal_signatures": lambda: raw(AGENT, "smbios/u-root/*.bin") + disk_images(),
    "dnf": dnf_seeds,
    "language": language_seeds,
    "edid": lambda: raw(AGENT, "edid/**/*"),
    "bolt": lambda: raw(AGENT, "containers/*-root/**/*.db") + xz(AGENT, "containers/bolt/shapes.db.xz"),
    "logins": lambda: raw(AGENT, "logins/**/wtmp") + gz(AGENT, "logins/**/lastlog.gz"),
    "snap_flatpak": lambda: raw(AGENT, "bundles/root/snap/**/snap.yaml")
    + raw(AGENT, "bundles/root/home/**/flatpak/app/**/metadata")
    + raw(AGENT, "bundles/root/home/**/flatpak/app/**/deploy")
    + raw(AGENT, "bundles/root/home/**/flatpak/app/**/*.appdata.xml"),
}


def disk_images():
    """The first 128 KiB of small volumes made by the real tools (cryptsetup, mkfs.ext4, mkswap, sfdisk), the bytes
    the disposal check must recognise as "not wiped"; a tool that is missing is skipped."""
    made = []
    tools = {
        "luks2": ["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
                  "--pbkdf-force-iterations", "1000", "--key-file", "-"],
        "ext4": ["mkfs.ext4", "-q", "-F"],
        "swap": ["mkswap"],
        "gpt": ["sfdisk", "--quiet"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, command in tools.items():
            if shutil.which(command[0]) is None:
                continue
            image = Path(tmp) / name
            with open(image, "wb") as f:
                f.truncate(32 << 20)
            given = b"label: gpt\n,,L\n" if name == "gpt" else b"fuzz"
            if subprocess.run([*command, str(image)], input=given, capture_output=True).returncode == 0:
                made.append((name, image.read_bytes()[: 128 << 10]))
    return made


def regressions(target):
    """Inputs a fuzzer once found (fuzz/regressions/<target>/, see fuzz/README.md), replayed on every run."""
    found = FUZZ / "regressions" / target
    return [(p.name, p.read_bytes()) for p in sorted(found.glob("*"))] if found.is_dir() else []


def seed(target, corpus):
    corpus.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS[target]() + regressions(target):
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        (corpus / f"seed-{safe}").write_bytes(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help="targets to run (default: all)")
    parser.add_argument("--seconds", type=int, default=20, help="time per target (default 20)")
    args = parser.parse_args()
    targets = args.targets or list(SEEDS)
    unknown = [t for t in targets if t not in SEEDS]
    if unknown:
        sys.exit(f"fuzz/run.py: unknown target(s) {unknown}; known: {list(SEEDS)}")

    cargo = ["cargo", "+nightly", "fuzz"]
    subprocess.run([*cargo, "build", *FLAGS], cwd=FUZZ, check=True)
    failed = []
    for target in targets:
        corpus = FUZZ / "corpus" / target
        seed(target, corpus)
        print(f"== {target}: {len(list(corpus.iterdir()))} inputs, {args.seconds} s", flush=True)
        # -timeout: one input taking seconds is a finding (a hostile file must not stall collection);
        # -rss_limit_mb: the agent is meant to stay small, and the collector bounds each report's memory.
        run = subprocess.run(
            [*cargo, "run", *FLAGS, target, str(corpus), "--",
             f"-max_total_time={args.seconds}", "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"],
            cwd=FUZZ, env={**os.environ, "RUST_BACKTRACE": "1"}, check=False,
        )
        if run.returncode != 0:
            failed.append(target)
    if failed:
        sys.exit(f"fuzz/run.py: crashes or timeouts in {failed}; inputs are in fuzz/artifacts/")
    print(f"fuzz/run.py: {len(targets)} targets ran {args.seconds} s each without a finding")


if __name__ == "__main__":
    main()
