"""One big submission end to end: a full-scale test-phase similarity .npz (about 934 MB, five datasets,
float32) from the participants' client to a finished result, with the time of each stage.

    .venv/bin/python benchmarks/big_submission.py [--runs 1]

Real processes on loopback (tests/integration/stack.py): gunicorn (1 worker x 4 threads), one Celery
worker (solo pool), the embedded default (SQLite file, filesystem broker). The test phase is seeded at
full scale and the file is built in its published order. The client is the CLI's resumable chunked
upload (`pentathlon submit` uses it for large files). Printed per run: the upload (the client's
sha256 of the file, declared first so that a repeated file is refused before any byte is sent; the
chunks; the completion: the server's checks and storage), upload end to queued, queued to picked up by
the worker, scoring (picked up to finished) and the whole, from the client's first byte to finished,
for three files of growing size (three small datasets, MSRVTT alone, all five); each run sends new
files (other seeds), since the server refuses a file the team already submitted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deadline_rush import django_for  # noqa: E402

#: The files sent, smallest first: how the cost grows with the size (float32, full-scale test phase).
SIZES = (
    ("DiDeMo + YouCook2 + ActivityNet", ("DiDeMo", "YouCook2", "ActivityNet")),
    ("MSRVTT", ("MSRVTT",)),
    ("all five datasets", ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")),
)


def _submit(client, phase, path: Path, size: int, root: Path, method: str) -> tuple:  # noqa: ANN001
    """Upload through the CLI's chunked client, wait for the end; the row and the stage figures."""
    from challenge.models import Submission

    fields = {"phase": str(phase.id), "method_name": method, "is_public": "false"}
    marks: dict[str, float] = {}

    def progress(offset: int) -> None:
        marks.setdefault("first", time.time())  # the client has hashed the file; chunks start
        if offset >= size:  # every chunk acknowledged; what follows is the completion call
            marks.setdefault("chunks", time.time())

    began = time.time()
    created = client.upload_chunked(fields, file_path=path, state_path=root / "state.json", progress=progress)
    uploaded = time.time()
    chunks = marks.get("chunks", uploaded)
    first = marks.get("first", began)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        row = Submission.objects.get(id=created["id"])
        if row.is_final_state:
            break
        time.sleep(0.05)  # polling for the end, bounded above
    done = row.finished_at.timestamp() if row.finished_at else float("nan")
    return row, (
        f"upload {uploaded - began:.2f} s ({size / 1e6 / (uploaded - began):.0f} MB/s: client hash "
        f"{first - began:.2f} s, chunks {chunks - first:.2f} s, completion {uploaded - chunks:.2f} s), "
        f"upload end -> queued {row.queued_at.timestamp() - uploaded:+.2f} s, "
        f"queue wait {(row.started_at - row.queued_at).total_seconds():.2f} s, "
        f"scoring {(row.finished_at - row.started_at).total_seconds():.2f} s, whole {done - began:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--chunk-mib", type=int, help="the server's chunk size (default: its setting)")
    args = parser.parse_args()

    from tests.integration.stack import Stack

    with tempfile.TemporaryDirectory(prefix="pentathlon-big-") as tmp:
        root = Path(tmp)
        var = root / "var"
        var.mkdir()
        stack = Stack(
            var,
            database_url=f"sqlite:///{var / 'db.sqlite3'}",
            web_workers=1,
            web_threads=4,
            extra_env={
                "PENTATHLON_THROTTLE_UPLOAD": "off",
                "PENTATHLON_SUBMISSION_MAX_BYTES": str(2 * 1024**3),
                **(
                    {"PENTATHLON_UPLOAD_CHUNK_BYTES": str(args.chunk_mib * 1024**2)} if args.chunk_mib else {}
                ),
            },
        )
        try:
            stack.manage("migrate", "--no-input", "-v", "0")
            stack.manage("seed_pentathlon", "--scale", "full")
            django_for(stack)
            import numpy as np

            from challenge.models import Phase
            from challenge.publication import phase_published_truth
            from cli.client import ApiClient
            from evaluation import synthetic

            phase = Phase.objects.get(challenge__slug="video-pentathlon", slug="test")
            Phase.objects.filter(id=phase.id).update(max_submissions_total=None, max_submissions_per_day=None)
            truth = phase_published_truth(phase=phase)
            stack.start_web()
            stack.start_worker()
            token = stack.token()["Authorization"].split()[1]
            client = ApiClient(stack.base_url, token)
            for run in range(args.runs):
                # A new file each run: the server refuses a file the team already submitted.
                matrices = synthetic.similarity_matrices(truth, seed=5 + run)
                matrices = {name: m.astype(np.float32, copy=False) for name, m in matrices.items()}
                for label, names in SIZES:
                    path = root / f"test-{run}-{len(names)}.npz"
                    synthetic.write_npz_submission(path, {n: matrices[n] for n in names})
                    size = path.stat().st_size
                    row, figures = _submit(client, phase, path, size, root, f"big {run} {label}")
                    print(f"run {run + 1}, {label}, {size / 1e6:.0f} MB: {row.status}; {figures}")
                    path.unlink()
                del matrices
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    sys.exit(main())
