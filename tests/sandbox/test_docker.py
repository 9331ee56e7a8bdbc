"""The docker backend against a real engine, where one is running (skipped, saying why, elsewhere).

The image is PENTATHLON_SANDBOX_TEST_IMAGE, else the first local image of PENTATHLON_SANDBOX_IMAGES
below that exists; it needs only /usr/bin/python3 (the programs here import nothing else).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from sandbox import CRASH, MEMORY, TIMEOUT, Job, Limits, Runtime, backend_get
from sandbox.base import BAD_OUTPUT, MiB

CANDIDATES = ("pentathlon/python:3.11-bookworm", "python:3.11-slim", "debian:bookworm")


def _image() -> str | None:
    if shutil.which("docker") is None:
        return None
    names = (
        [os.environ["PENTATHLON_SANDBOX_TEST_IMAGE"]]
        if os.environ.get("PENTATHLON_SANDBOX_TEST_IMAGE")
        else []
    )
    for name in [*names, *CANDIDATES]:
        try:
            found = subprocess.run(
                ["docker", "image", "inspect", name], capture_output=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if found.returncode == 0:
            return name
    return None


IMAGE = _image()
pytestmark = pytest.mark.skipif(
    IMAGE is None,
    reason="needs a running Docker engine and a local image with /usr/bin/python3 "
    "(PENTATHLON_SANDBOX_TEST_IMAGE, or one of " + ", ".join(CANDIDATES) + ")",
)

SMALL = Limits(
    wall_s=6, memory_bytes=256 * MiB, cpus=1, output_bytes=8 * MiB, tmp_bytes=8 * MiB, processes=48
)


def _run(tmp_path: Path, source: str, *, limits: Limits = SMALL, name: str = "run"):
    root = tmp_path / name
    for sub in ("program", "input", "output"):
        (root / sub).mkdir(parents=True)
    (root / "program" / "main.py").write_text(textwrap.dedent(source))
    (root / "input" / "videos.txt").write_text("v1\n")
    for path in (tmp_path, root, root / "program", root / "input"):
        path.chmod(0o755)
    runtime = Runtime(name="test", description="", python="/usr/bin/python3", image=IMAGE or "")
    job = Job(root / "program", root / "input", root / "output", runtime=runtime, limits=limits)
    return backend_get("docker").run(job), root


def test_a_good_program_runs_as_nobody_and_hands_back_its_output(tmp_path):
    result, root = _run(
        tmp_path,
        """
        import os
        print("uid", os.getuid(), sorted(os.environ))
        open("/output/submission.npz", "wb").write(b"ok")
        try:
            open("/report/fifo", "wb").write(b"forged")
            print("FORGED")
        except OSError:
            print("no report access")
        """,
    )
    assert result.ok, result
    assert "uid 65534" in result.stdout and "FORGED" not in result.stdout
    assert (root / "output" / "submission.npz").read_bytes() == b"ok"


def test_no_network(tmp_path):
    result, _ = _run(
        tmp_path,
        """
        import socket
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=2)
            print("CONNECTED")
        except OSError:
            print("refused")
        """,
    )
    assert result.ok and "refused" in result.stdout


@pytest.mark.parametrize(
    ("source", "failure", "start"),
    [
        (
            "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n",
            MEMORY,
            "Your program used more than 256 MiB",
        ),
        ("while True:\n    pass\n", TIMEOUT, "Your program ran longer than 6 s"),
        (
            "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n",
            CRASH,
            "Your program tried to run more than 48",
        ),
        (
            "f = open('/output/x', 'wb')\nwhile True:\n    f.write(b'x' * 1048576)\n",
            BAD_OUTPUT,
            "Your program wrote more than 8 MiB",
        ),
    ],
    ids=["memory", "wall", "fork", "output"],
)
@pytest.mark.slow
def test_each_limit_ends_with_its_sentence_and_the_next_run_succeeds(tmp_path, source, failure, start):
    result, _ = _run(tmp_path, source)
    assert result.failure_class == failure, result
    assert result.message.startswith(start)
    after, _ = _run(tmp_path, "print('fine')\n", name="after")
    assert after.ok and after.stdout == "fine\n"
