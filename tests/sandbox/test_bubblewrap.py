"""Hostile programs against the real bubblewrap sandbox: each ends with its own sentence, the worker
lives on, and the next run succeeds (docs/code-phases.md)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import textwrap
import threading
from pathlib import Path

import pytest

from sandbox import CRASH, MEMORY, TIMEOUT, Job, Limits, backend_get, runtime_get
from sandbox.base import BAD_OUTPUT, MiB
from sandbox.bubblewrap import NOBODY, RUN_UIDS, BubblewrapBackend

# every case runs a program in bubblewrap (make test-fast leaves them to make test)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap; see README)"
    ),
]

SMALL = Limits(
    wall_s=6, memory_bytes=384 * MiB, cpus=1, output_bytes=8 * MiB, tmp_bytes=8 * MiB, processes=48
)
GOOD = """
import argparse, os
p = argparse.ArgumentParser(); p.add_argument("--input"); p.add_argument("--output"); a = p.parse_args()
open(os.path.join(a.output, "submission.npz"), "wb").write(b"ok")
print("done", sorted(os.listdir(a.input)))
"""


def _run(tmp_path: Path, source: str, *, limits: Limits = SMALL, name: str = "run"):
    root = tmp_path / name
    for sub in ("program", "input", "output"):
        (root / sub).mkdir(parents=True)
    (root / "program" / "main.py").write_text(textwrap.dedent(source))
    (root / "input" / "queries.tsv").write_text("query_id\ttext\nq1\ta cat\n")
    for path in (root, root / "program", root / "input"):
        path.chmod(0o755)
    job = Job(
        program_dir=root / "program",
        input_dir=root / "input",
        output_dir=root / "output",
        runtime=runtime_get("python3-torch"),
        limits=limits,
    )
    return backend_get("bubblewrap").run(job), root


def _next_run_succeeds(tmp_path: Path) -> None:
    result, root = _run(tmp_path, GOOD, name="after")
    assert result.ok, result
    assert result.output_files == ["submission.npz"]
    assert (root / "output" / "submission.npz").read_bytes() == b"ok"
    assert "done ['queries.tsv']" in result.stdout


def test_a_good_program_runs_unprivileged_and_hands_back_its_output(tmp_path):
    result, root = _run(
        tmp_path,
        GOOD + "import os; print('uid', os.getuid(), os.getgid(), sorted(os.environ))\n",
    )
    assert result.ok, result
    uid, gid = (int(n) for n in re.search(r"uid (\d+) (\d+)", result.stdout).groups())
    assert uid == gid and (uid in RUN_UIDS if os.geteuid() == 0 else uid == NOBODY)  # root: leased per run
    assert result.output_files == ["submission.npz"]
    assert result.peak_memory_bytes > 0 and result.wall_s > 0
    assert result.hardware.startswith("1 CPU cores")


def test_no_network_not_even_the_workers_loopback(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    arrived: list = []

    def accept():
        for _ in range(20):
            try:
                arrived.append(listener.accept())
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    result, _ = _run(
        tmp_path,
        f"""
        import socket
        for host in ("127.0.0.1", "10.0.0.1", "1.1.1.1"):
            try:
                socket.create_connection((host, {port}), timeout=2)
                print("CONNECTED", host)
            except OSError as exc:
                print("refused", host, type(exc).__name__)
        """,
    )
    listener.close()
    thread.join(5)
    assert arrived == []
    assert "CONNECTED" not in result.stdout
    assert result.stdout.count("refused") == 3, result.stdout
    _next_run_succeeds(tmp_path)


def test_no_view_of_ground_truth_database_secrets_or_the_workers_environment(tmp_path, monkeypatch, settings):
    secret_file = tmp_path / "ground_truth.h5"
    secret_file.write_text("TOP-SECRET-TRUTH")
    database = Path(settings.DATABASES["default"]["NAME"]) if settings.DATABASES else None
    monkeypatch.setenv("PENTATHLON_TEST_SECRET", "hunter2-secret")
    paths = [str(secret_file), "/proc/1/environ", str(Path.cwd() / "config" / "settings" / "base.py")]
    if database and str(database) != ":memory:":
        paths.append(str(database))
    result, _ = _run(
        tmp_path,
        f"""
        import os
        for path in {paths!r}:
            try:
                print("GOT", path, open(path, "rb").read())
            except OSError as exc:
                print("denied", path, type(exc).__name__)
        print("ENV", sorted(os.environ.items()))
        print("ROOT", sorted(os.listdir("/")))
        """,
    )
    assert result.ok, result
    for path in paths:
        assert f"denied {path} " in result.stdout, result.stdout
    assert "GOT" not in result.stdout
    assert "TOP-SECRET" not in result.stdout and "hunter2" not in result.stdout
    env = result.stdout.split("ENV", 1)[1].split("ROOT")[0]
    assert "SECRET" not in env and "DJANGO" not in env and "DATABASE" not in env


@pytest.mark.slow
def test_a_fork_bomb_hits_the_process_limit(tmp_path):
    result, _ = _run(
        tmp_path,
        """
        import os, time
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
        """,
    )
    assert not result.ok
    assert result.failure_class == CRASH
    assert result.message.startswith("Your program tried to run more than 48 processes")
    _next_run_succeeds(tmp_path)


def test_a_memory_bomb_is_stopped_with_its_sentence(tmp_path):
    result, _ = _run(tmp_path, "chunks = []\nwhile True:\n    chunks.append(bytearray(32 * 1024 * 1024))\n")
    assert (result.failure_class, result.message) == (
        MEMORY,
        "Your program used more than 384 MiB of memory and was stopped.",
    )
    _next_run_succeeds(tmp_path)


def test_memory_of_all_processes_together_is_bounded(tmp_path):
    result, _ = _run(
        tmp_path,
        """
        import os, time
        for _ in range(6):
            if os.fork() == 0:
                block = bytearray(200 * 1024 * 1024)
                time.sleep(30)
        time.sleep(30)
        """,
    )
    assert result.failure_class == MEMORY, result
    assert result.wall_s < SMALL.wall_s
    _next_run_succeeds(tmp_path)


def test_an_endless_loop_ends_at_the_wall_time(tmp_path):
    result, _ = _run(tmp_path, "while True:\n    pass\n", limits=Limits(**{**SMALL.__dict__, "wall_s": 2}))
    assert (result.failure_class, result.message) == (
        TIMEOUT,
        "Your program ran longer than 2 s and was stopped.",
    )
    _next_run_succeeds(tmp_path)


def test_a_ten_gib_output_is_refused(tmp_path):
    result, root = _run(
        tmp_path,
        """
        block = b"x" * (1024 * 1024)
        with open("/output/submission.npz", "wb") as f:
            for _ in range(10 * 1024):
                f.write(block)
        """,
    )
    assert (result.failure_class, result.message) == (
        BAD_OUTPUT,
        "Your program wrote more than 8 MiB to /output (or /tmp) and was stopped.",
    )
    assert sum(p.stat().st_size for p in (root / "output").rglob("*")) <= SMALL.output_bytes
    _next_run_succeeds(tmp_path)


def test_input_and_program_are_read_only_and_stdout_is_bounded(tmp_path):
    result, _ = _run(
        tmp_path,
        """
        import sys
        for path in ("/input/queries.tsv", "/program/main.py", "/usr/evil"):
            try:
                open(path, "a").write("x")
                print("WROTE", path)
            except OSError as exc:
                print("read-only", path)
        sys.stdout.write("y" * (4 * 1024 * 1024))
        """,
    )
    assert result.ok
    assert "WROTE" not in result.stdout
    assert len(result.stdout) < 2 * SMALL.capture_bytes
    assert "more bytes not shown" in result.stdout


def test_a_crash_reports_its_status(tmp_path):
    result, _ = _run(tmp_path, "raise SystemExit(3)\n")
    assert (result.reason, result.failure_class, result.message) == (
        "exit",
        CRASH,
        "Your program exited with status 3.",
    )
    assert os.getpid() > 0  # the worker process is this one: it is still here


def test_a_busy_program_hits_the_cpu_time_limit_with_its_sentence(tmp_path):
    limits = Limits(**{**SMALL.__dict__, "wall_s": 30, "cpu_seconds": 2})
    result, _ = _run(tmp_path, "while True:\n    pass\n", limits=limits)
    assert (result.reason, result.failure_class, result.message) == (
        "cpu",
        TIMEOUT,
        "Your program used more than 2 s of CPU time and was stopped.",
    )
    assert 1.7 <= result.cpu_s < 6 and result.wall_s < 10  # rusage and the rlimit tick apart by a little
    _next_run_succeeds(tmp_path)


def test_a_program_that_ignores_the_cpu_warning_is_killed_at_the_hard_limit_with_the_same_sentence(tmp_path):
    limits = Limits(**{**SMALL.__dict__, "wall_s": 30, "cpu_seconds": 2})
    source = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    result, _ = _run(tmp_path, source, limits=limits)
    assert (result.reason, result.message) == (
        "cpu",
        "Your program used more than 2 s of CPU time and was stopped.",
    )
    # It ran on past the soft limit towards the hard one, two seconds later (3.59 s was measured once
    # under load: the accounting lags the kernel's check, so the bound stays clear of 4 s).
    assert result.cpu_s >= 3.0


def test_a_thread_bomb_hits_the_process_limit(tmp_path):
    result, _ = _run(
        tmp_path,
        """
        import threading, time
        while True:
            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        """,
    )
    assert (result.reason, result.failure_class) == ("processes", CRASH), result
    assert result.message.startswith("Your program tried to run more than 48 processes or threads")
    _next_run_succeeds(tmp_path)


def test_filling_tmp_is_bounded_and_said(tmp_path):
    result, _ = _run(
        tmp_path,
        """
        block = b"x" * (1024 * 1024)
        with open("/tmp/big", "wb") as f:
            for _ in range(10 * 1024):
                f.write(block)
        """,
    )
    assert (result.failure_class, result.message) == (
        BAD_OUTPUT,
        "Your program wrote more than 8 MiB to /output (or /tmp) and was stopped.",
    )
    _next_run_succeeds(tmp_path)


def test_limits_reach_the_program_as_rlimits(tmp_path):
    result, _ = _run(
        tmp_path,
        """
        import resource
        for name in ("RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_CORE"):
            print(name, *resource.getrlimit(getattr(resource, name)))
        """,
    )
    assert result.ok, result
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines["RLIMIT_AS"] == f"{384 * MiB} {384 * MiB}"
    assert lines["RLIMIT_NPROC"] == "48 48"
    assert lines["RLIMIT_FSIZE"] == f"{8 * MiB} {8 * MiB}"
    assert lines["RLIMIT_CPU"] == f"{SMALL.cpu_s} {SMALL.cpu_s + 2}"
    assert lines["RLIMIT_CORE"] == "0 0"


@pytest.mark.skipif(os.geteuid() != 0, reason="uids are leased per run only by a root worker")
def test_runs_at_once_get_uids_of_their_own_so_one_cannot_use_up_anothers_process_limit(
    tmp_path, monkeypatch
):
    monkeypatch.setattr("sandbox.bubblewrap.RUN_UID_LOCKS", tmp_path / "uids")  # no other run's leases
    backend = BubblewrapBackend()
    with backend.run_uid() as first, backend.run_uid() as second:
        assert first != second and {first, second} <= set(RUN_UIDS)
    with backend.run_uid() as again:
        assert again == first  # a finished run gives its uid back
