"""Parse time and peak memory of the JSON top-k (docs/design.md, section 5) at three sizes.

    .venv/bin/python benchmarks/topk_json.py            # 4, 16 and 30 MiB of JSON
    .venv/bin/python benchmarks/topk_json.py --quick    # 4 MiB only

A phase shaped like EPIC-KITCHENS-100's test split (3,842 queries, a gallery of 9,668 clip ids of 14
characters) and a JSON top-k whose lists are as long as the size asks (k ids per query) in a deflated
zip. For each size a fresh interpreter runs what the worker runs, `load_entry` on the member with the
gallery's bounds (`TopkBounds.for_gallery`), and prints the time and the growth of its peak resident
memory (VmHWM after the call minus before, imports and the gallery excluded); a second one runs
`json.loads` on the same bytes, for comparison (the decoded object, not yet resolved to indices).

Prints figures only; no assertion.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MiB = 1024**2
QUERIES, GALLERY = 3_842, 9_668

_CHILD = """
import json, sys, time, zipfile

def hwm():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) * 1024

from evaluation.io import TopkBounds, inspect_submission, load_entry
gallery = [f"P{i // 1000:02d}_{i % 1000:03d}_clip{i:05d}"[:14] for i in range(VIDEOS)]
bounds = TopkBounds.for_gallery(rows=QUERIES, gallery=gallery)
bounds.gallery_index
if sys.argv[2] == "json.loads":
    with zipfile.ZipFile(sys.argv[1]) as archive:
        raw = archive.read(archive.namelist()[0])
before = hwm()
start = time.perf_counter()
if sys.argv[2] == "json.loads":
    shape = len(json.loads(raw))
else:
    manifest = inspect_submission(sys.argv[1])
    shape = load_entry(sys.argv[1], manifest, "MSRVTT", topk_bounds=bounds)["topk"].shape
print(json.dumps({"seconds": time.perf_counter() - start, "grown": hwm() - before, "shape": str(shape)}))
"""


def gallery_ids() -> list[str]:
    return [f"P{i // 1000:02d}_{i % 1000:03d}_clip{i:05d}"[:14] for i in range(GALLERY)]


def json_zip(path: Path, size: int) -> tuple[Path, int, int]:
    """A zip holding a JSON top-k of about `size` bytes: (path, bytes of JSON, k)."""
    ids = gallery_ids()
    per_id = len(json.dumps(ids[0])) + 2  # the quoted id, a comma and a space
    k = max(10, size // (QUERIES * per_id))
    lists = {f"query{q:05d}": [ids[(q * 7919 + c * 31) % GALLERY] for c in range(k)] for q in range(QUERIES)}
    body = json.dumps(lists).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("MSRVTT-val-predictions.json", body)
    return path, len(body), k


def run_child(path: Path, mode: str) -> dict[str, float | str]:
    code = _CHILD.replace("VIDEOS", str(GALLERY)).replace("QUERIES", str(QUERIES))
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    result: dict[str, float | str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smallest size only")
    args = parser.parse_args()
    sizes = [4 * MiB] if args.quick else [4 * MiB, 16 * MiB, 30 * MiB]
    print(
        f"JSON top-k, {QUERIES:,} queries x {GALLERY:,} gallery ids (load_entry vs json.loads, fresh interpreters)"
    )
    print(
        f"{'JSON':>9} {'k':>5} {'zip':>9} | {'load_entry':>10} {'peak':>9} | {'json.loads':>10} {'peak':>9}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            path, nbytes, k = json_zip(Path(scratch) / f"j{size}.zip", size)
            ours, plain = run_child(path, "load_entry"), run_child(path, "json.loads")
            print(
                f"{nbytes / MiB:7.1f}Mi {k:>5} {path.stat().st_size / MiB:7.1f}Mi |"
                f" {float(ours['seconds']):9.2f}s {float(ours['grown']) / MiB:7.1f}Mi |"
                f" {float(plain['seconds']):9.2f}s {float(plain['grown']) / MiB:7.1f}Mi"
            )


if __name__ == "__main__":
    main()
