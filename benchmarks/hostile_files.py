"""Refusal cost of hostile directories (docs/design.md, section 5): does it grow with the file?

    .venv/bin/python benchmarks/hostile_files.py            # three sizes of each attack
    .venv/bin/python benchmarks/hostile_files.py --quick    # the two smaller sizes only

For each size a fresh interpreter runs `inspect_submission` (what the upload and the worker run
first) on the file and prints the time to its refusal and the growth of its peak resident memory
(VmHWM after the call minus VmHWM before it, imports excluded):

* a zip whose central directory lists N entries (10k, 100k, 1M; zip64 end record), refused from its
  end record before `zipfile` lists the directory;
* an HDF5 file whose /MSRVTT group holds N hard links to one array (3k, 30k, 300k), refused from the
  group's length before it is listed;
* a ~150 MiB top-k CSV in a ~3.4 MiB zip, refused at the first row beyond the phase's queries by
  `check_topk_lists` (the upload's check), at three sizes of CSV (15, 50, 150 MiB).

Prints figures only; no assertion.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MiB = 1024**2

_CHILD = """
import json, sys, time
from evaluation.errors import SubmissionError
from evaluation.io import inspect_submission
from evaluation.validation import DatasetShape, check_manifest, check_topk_lists

def hwm():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) * 1024

before = hwm()
start = time.perf_counter()
try:
    manifest = inspect_submission(sys.argv[1])
    shapes = {"MSRVTT": DatasetShape(num_queries=1000, num_videos=1000)}
    check_manifest(manifest, shapes)
    check_topk_lists(sys.argv[1], manifest, shapes)
    outcome = "accepted"
except SubmissionError as exc:
    outcome = exc.detail
print(json.dumps({"seconds": time.perf_counter() - start, "grown": hwm() - before, "outcome": outcome}))
"""


def directory_zip(path: Path, entries: int) -> Path:
    """One 1-byte local file listed `entries` times by the central directory, with a zip64 end record."""
    crc = zlib.crc32(b"1")
    name = b"x.csv"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, 1, 1, len(name), 0) + name + b"1"
    with open(path, "wb") as out:
        out.write(local)
        size = 0
        for start in range(0, entries, 10_000):
            block = bytearray()
            for index in range(start, min(start + 10_000, entries)):
                member = f"{index:07d}-val-predictions.csv".encode()
                block += struct.pack(
                    "<4s6H3L5HLL", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, 1, 1, len(member), 0, 0, 0, 0, 0, 0
                )
                block += member
            out.write(block)
            size += len(block)
        record_at = len(local) + size
        out.write(
            struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, len(local))
        )
        out.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1))
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    return path


def linked_h5(path: Path, links: int) -> Path:
    """/MSRVTT/sims plus `links` hard links to it, in the compact 'latest' format (dense link storage)."""
    with h5py.File(path, "w", libver="latest") as handle:
        group = handle.create_group("MSRVTT")
        group.create_dataset("sims", data=np.zeros((10, 10), np.float32))
        links_of = group.id.links
        for index in range(links):
            links_of.create_hard(f"l{index:07d}".encode(), group.id, b"sims")
    return path


def csv_zip(path: Path, megabytes: int) -> Path:
    """A top-k CSV of `megabytes` MiB, 200-row blocks each repeated 30 times (about 45:1 deflated)."""
    rng = np.random.default_rng(0)
    pool = []
    for _ in range(64):
        rows = rng.integers(0, 1000, size=(200, 10))
        pool.append(("\n".join(",".join(map(str, row)) for row in rows) + "\n").encode() * 30)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("MSRVTT-val-predictions.csv", "w", force_zip64=True) as member:
            written = 0
            while written < megabytes * MiB:
                block = pool[(written // len(pool[0])) % len(pool)]
                member.write(block)
                written += len(block)
    return path


def refuse(path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the two smaller sizes of each attack")
    args = parser.parse_args()
    cases = [
        ("zip directory", "entries", (10_000, 100_000, 1_000_000), directory_zip, ".zip"),
        ("hdf5 group", "links", (3_000, 30_000, 300_000), linked_h5, ".h5"),
        ("csv in a zip", "MiB of CSV", (15, 50, 150), csv_zip, ".zip"),
    ]
    print(f"{'attack':<14} {'size':>16} {'file MiB':>9} {'refused in':>11} {'peak growth':>12}  message")
    with tempfile.TemporaryDirectory() as tmp:
        for label, unit, sizes, build, suffix in cases:
            for size in sizes[:2] if args.quick else sizes:
                path = build(Path(tmp) / f"case{suffix}", size)
                result = refuse(path)
                print(
                    f"{label:<14} {f'{size:,} {unit}':>16} {path.stat().st_size / MiB:>9.1f}"
                    f" {result['seconds'] * 1000:>9.1f} ms {result['grown'] / MiB:>8.1f} MiB  {result['outcome'][:70]}"
                )
                path.unlink()


if __name__ == "__main__":
    main()
