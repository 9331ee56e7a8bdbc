"""The web process's memory on the upload road: peak RSS growth of a real gunicorn worker per upload.

    .venv/bin/python benchmarks/upload_memory.py

A throw-away site (SQLite, `seed_pentathlon --scale full`) served by gunicorn (one worker, one thread).
Before each upload the worker's peak RSS is reset (`/proc/<pid>/clear_refs`, 5) and after the answer
it is read (VmHWM): the growth is what that one request cost the web process. Uploads, each through
`POST /api/v1/submissions/create/` as the demo participant:

* the hostile 3.4 MiB zip of a 150 MiB top-k CSV (refused at the first row beyond the phase's queries);
* honest similarity `.npz` files of the validation phase's MSRVTT (9,940 x 497, 20 MB) and the test
  phase's MSRVTT (59,794 x 2,990, 715 MB), accepted (scoring is the worker's: eager Celery is off here).

Prints figures only; no assertion. Linux only.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._site import Server, configure  # noqa: E402

MiB = 1024**2


def _worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="pentathlon-upload-memory-"))
    env = configure(
        str(work),
        extra={
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_BROKER_URL": f"filesystem://{work}/broker",
            "PENTATHLON_THROTTLE_UPLOAD": "off",
        },
    )
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    from django.core.management import call_command

    from challenge.models import Phase
    from challenge.publication import phase_published_truth
    from tests.evaluation.test_io_bounds import csv_bomb

    call_command("seed_pentathlon", "--scale", "full", verbosity=0)
    val, test = Phase.objects.get(slug="val"), Phase.objects.get(slug="test")
    for phase in (val, test):
        phase.max_submissions_per_day = phase.max_submissions_total = None
        phase.save()
    files = [("hostile: 150 MiB CSV in a zip", val, csv_bomb(work / "bomb.zip", "MSRVTT"))]
    rng = np.random.default_rng(0)
    for label, phase in (("honest: val MSRVTT sims", val), ("honest: test MSRVTT sims", test)):
        d = phase_published_truth(phase=phase).datasets["MSRVTT"]
        path = work / f"{phase.slug}-sims.npz"
        np.savez(path, MSRVTT=rng.standard_normal((d.num_queries, d.num_videos), dtype=np.float32))
        files.append((label, phase, path))

    server = Server(env, workers=1, threads=1)
    try:
        pid = _worker_pid(server.process.pid)
        token = requests.post(
            server.url + "/api/v1/auth/token/",
            data={"username": "participant", "password": "pentathlon-participant"},
            timeout=30,
        ).json()["token"]
        headers = {"Authorization": f"Token {token}"}
        requests.get(server.url + "/api/v1/", headers=headers, timeout=30)  # warm imports
        print(f"gunicorn worker {pid}: RSS {_rss(pid) / MiB:.0f} MiB after start")
        print(f"{'upload':<32} {'file':>10} {'answer':>7} {'time':>7} {'peak RSS growth':>16}")
        for label, phase, path in files:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            before = _rss(pid)
            started = time.monotonic()
            with open(path, "rb") as handle:
                response = requests.post(
                    server.url + "/api/v1/submissions/create/",
                    data={"phase": phase.id, "method_name": "bench"},
                    files={"file": (path.name, handle)},
                    headers=headers,
                    timeout=600,
                )
            took = time.monotonic() - started
            growth = _hwm(pid) - before
            size = path.stat().st_size / MiB
            print(
                f"{label:<32} {size:>7.1f} MiB {response.status_code:>7} {took:>6.1f}s {growth / MiB:>12.1f} MiB"
            )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
