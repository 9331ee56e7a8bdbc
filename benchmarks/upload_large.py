"""1 GB upload through the resumable chunked API: the web process's peak RSS, and a resume after the
client is SIGKILLed mid-transfer.

    .venv/bin/python benchmarks/upload_large.py            # embedded stack (SQLite), nothing else needed

Starts gunicorn on a fresh full-scale seed, writes a ~1.08 GB full-scale test-phase submission
(.npz; MSRVTT/MSVD float32, the rest float64), uploads it with the CLI's chunked client in a
subprocess, kills that subprocess with SIGKILL at ~40 %, runs it again (it resumes from the offset
the server reports), and prints the transfer figures and the gunicorn workers' peak RSS (VmHWM).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLIENT = r"""
import sys
from pathlib import Path
from cli.client import ApiClient
server, token, phase, path, state = sys.argv[1:6]
client = ApiClient(server, token)
fields = {"phase": phase, "method_name": "1 GB upload", "description": "", "paper_url": "", "code_url": "",
          "is_public": "false"}
result = client.upload_chunked(fields, file_path=Path(path), state_path=Path(state))
print("SUBMISSION", result["id"], result["status"], result["checksum_sha256"])
"""


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> int:
    import json

    import numpy as np
    import requests

    from evaluation import synthetic
    from evaluation.ground_truth import read_ground_truth
    from tests.integration.stack import Stack

    with tempfile.TemporaryDirectory(prefix="pentathlon-upload-") as tmp:
        root = Path(tmp)
        var = root / "var"
        var.mkdir()
        stack = Stack(
            var,
            database_url=f"sqlite:///{var / 'db.sqlite3'}",
            web_workers=1,
            web_threads=4,
            extra_env={"PENTATHLON_SUBMISSION_MAX_BYTES": str(2 * 1024**3)},
        )
        try:
            stack.manage("migrate", "--no-input", "-v", "0")
            stack.manage("seed_pentathlon", "--scale", "full")
            truth = read_ground_truth(next((var / "private" / "ground_truth").rglob("test-*.h5")))
            matrices = synthetic.similarity_matrices(truth, seed=5)
            for name in ("DiDeMo", "YouCook2", "ActivityNet"):
                matrices[name] = matrices[name].astype(np.float64)
            path = root / "full-test.npz"
            synthetic.write_npz_submission(path, matrices)
            del matrices
            size = path.stat().st_size
            print(f"file: {size:,} bytes ({size / 1e9:.2f} GB), full-scale test phase")
            stack.start_web()
            pids = stack.web_pids()
            before = {pid: rss_kib(pid, "VmRSS") for pid in pids}
            headers = stack.token()
            token = headers["Authorization"].split()[1]
            phase = stack.phase_id("test")
            state = root / "uploads.json"
            argv = [sys.executable, "-c", CLIENT, stack.base_url, token, str(phase), str(path), str(state)]
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            start = time.monotonic()
            # The client's output goes to a file: an unread pipe fills (64 KiB) and blocks the client.
            first_log = open(root / "client-first.log", "wb")  # noqa: SIM115 - closed after the kill
            first = subprocess.Popen(argv, cwd=REPO, env=env, stdout=first_log, stderr=subprocess.STDOUT)
            upload_id, offset = None, 0
            while offset < 0.4 * size:
                if first.poll() is not None:
                    raise RuntimeError(f"the client ended early: {(root / 'client-first.log').read_text()}")
                if upload_id is None and state.exists() and state.read_text().strip() not in ("", "{}"):
                    upload_id = next(iter(json.loads(state.read_text()).values()))
                if upload_id:
                    offset = requests.get(
                        f"{stack.base_url}/api/v1/uploads/{upload_id}/", headers=headers, timeout=30
                    ).json()["offset"]
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait()
            first_log.close()
            killed_at = time.monotonic() - start
            offset = requests.get(
                f"{stack.base_url}/api/v1/uploads/{upload_id}/", headers=headers, timeout=30
            ).json()["offset"]
            print(
                f"client SIGKILLed after {killed_at:.1f} s; the server reports offset {offset:,} "
                f"({100 * offset / size:.0f} %)"
            )
            resume_start = time.monotonic()
            done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                raise RuntimeError(done.stdout + done.stderr)
            resumed = time.monotonic() - resume_start
            total = time.monotonic() - start
            line = next(text for text in done.stdout.splitlines() if text.startswith("SUBMISSION"))
            print(f"resumed from {offset:,} and completed in {resumed:.1f} s: {line}")
            transferred = size  # bytes sent once, except the chunk cut by the kill
            print(
                f"end to end {total:.1f} s (incl. checksum, inspection and storage of the file): "
                f"{transferred / 1e6 / total:.0f} MB/s"
            )
            for pid in pids:
                print(
                    f"gunicorn worker pid {pid}: RSS before {before[pid] / 1024:.0f} MiB, "
                    f"now {rss_kib(pid, 'VmRSS') / 1024:.0f} MiB, peak (VmHWM) {rss_kib(pid, 'VmHWM') / 1024:.0f} MiB "
                    f"for a {size / 2**20:.0f} MiB upload"
                )
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    sys.exit(main())
