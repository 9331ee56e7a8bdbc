"""The embedded default backend: bubblewrap (Debian package `bubblewrap`), no daemon, no image.

The sandbox gets fresh IPC, PID, network (no interface but its own loopback), UTS and cgroup
namespaces, an empty root holding only read-only binds of /usr, the runtime's directories, the program
and /input, size-bounded tmpfs mounts for /output and /tmp, a minimal /dev and its own /proc. The
program runs as an unprivileged uid with no capabilities and a clean environment; the supervisor
(`sandbox/supervisor.py`) is PID 1 and enforces wall time and the memory of all its processes
together, the kernel the per-process rlimits. When the worker has NVIDIA devices they are bound in.

Run by root (a production worker), bwrap needs no user namespace: it drops through `setpriv` inside to
a uid leased for this run alone (`RUN_UIDS`, held by a lock file while the run lasts), so RLIMIT_NPROC,
which the kernel counts per uid across the machine, counts this run's processes only: a fork bomb in
one sandbox cannot use up another's process limit. Run by anyone else, bwrap maps the caller to uid
65534 inside an unprivileged user namespace (the count is then the caller's user's).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from .base import (
    SUPERVISOR,
    BoundedCapture,
    Job,
    ReportReader,
    RunResult,
    SandboxUnavailable,
    cpu_set,
    finish,
    human_size,
    piped,
    program_env,
    supervisor_config,
)

NOBODY = 65534
#: The uids a root worker leases, one per running sandbox: far above any account or subordinate-id
#: range, below 2**31 (tools that read uids as signed integers stay correct).
RUN_UIDS = range(1_900_000_000, 1_900_000_000 + 4096)
RUN_UID_LOCKS = Path(tempfile.gettempdir()) / "pentathlon-sandbox-uids"
NO_RUN_UID = "Every sandbox uid of this worker is in use ({count} runs at once); try again later."
#: Seconds past the wall limit before the host kills the sandbox itself (the supervisor stops it first).
GRACE_S = 10.0
BWRAP_MISSING = (
    "bubblewrap (bwrap) is not installed on this worker; install the Debian package bubblewrap "
    "(see README) or set PENTATHLON_SANDBOX_BACKEND."
)


def _mkdirs(args: list[str], made: set[str], dest: str) -> None:
    """Create every missing ancestor of `dest` with mode 0755 (bwrap's own would be 0700)."""
    parts = PurePosixPath(dest).parents
    for parent in reversed(list(parts)):
        p = str(parent)
        if p == "/" or p in made:
            continue
        made.add(p)
        args += ["--perms", "0755", "--dir", p]


class BubblewrapBackend:
    name = "bubblewrap"

    def __init__(self, *, bwrap: str = "bwrap", uid: int | None = None) -> None:
        """`uid`: the program's uid; by default a uid leased per run under root, 65534 otherwise."""
        self.bwrap, self.uid = bwrap, uid

    @contextlib.contextmanager
    def run_uid(self) -> Iterator[int]:
        """The uid one run's program gets, held until the run ends (a lock file per uid: a lock dies
        with the process that held it, so a lost worker frees its uids)."""
        if self.uid is not None or os.geteuid() != 0:
            yield NOBODY if self.uid is None else self.uid
            return
        RUN_UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
        for uid in RUN_UIDS:
            fd = os.open(RUN_UID_LOCKS / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield uid
            finally:
                os.close(fd)
            return
        raise SandboxUnavailable(NO_RUN_UID.format(count=len(RUN_UIDS)))

    def hardware(self, job: Job) -> str:
        gpus = len(glob.glob("/dev/nvidia[0-9]*")) if job.gpu else 0
        cpu = platform.processor() or platform.machine()
        gpu = f", {gpus} NVIDIA GPU" if gpus else ""
        return f"{job.limits.cpus} CPU cores ({cpu}){gpu}, {human_size(job.limits.memory_bytes)}"

    def command(self, job: Job, *, report_fd: int = 3, uid: int | None = None) -> list[str]:
        """The bwrap command line of a job (the supervisor's report goes to `report_fd`), its program
        running as `uid` (default: the backend's uid, else 65534)."""
        uid = uid if uid is not None else (self.uid if self.uid is not None else NOBODY)
        bwrap = shutil.which(self.bwrap)
        if bwrap is None:
            raise SandboxUnavailable(BWRAP_MISSING)
        privileged = os.geteuid() == 0
        return [
            bwrap,
            *_namespace_args(privileged, uid),
            *_filesystem_args(job),
            *_entry_args(job, privileged, uid, report_fd),
        ]

    def run(self, job: Job) -> RunResult:
        with self.run_uid() as uid:
            return self._run(job, uid)

    def _run(self, job: Job, uid: int) -> RunResult:
        cores = cpu_set(job.limits.cpus)
        read_fd, write_fd = os.pipe()
        try:
            args = self.command(job, report_fd=write_fd, uid=uid)
        except SandboxUnavailable:
            os.close(read_fd)
            os.close(write_fd)
            raise
        spawned = time.monotonic()
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,
                preexec_fn=lambda: os.sched_setaffinity(0, cores),
            )
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            raise SandboxUnavailable(f"bwrap could not be started: {exc}") from exc
        os.close(write_fd)
        report = ReportReader(os.fdopen(read_fd, "rb", buffering=0), limit=job.limits.output_bytes + 1024**2)
        out = BoundedCapture(piped(proc.stdout), job.limits.capture_bytes)
        err = BoundedCapture(piped(proc.stderr), job.limits.capture_bytes)
        timed_out = False
        try:
            proc.wait(timeout=job.limits.wall_s + GRACE_S)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(proc)
        result = finish(
            job=job,
            backend=self.name,
            hardware=self.hardware(job),
            spawned_at=spawned,
            returncode=proc.returncode,
            timed_out=timed_out,
            report=report,
            stdout=out,
            stderr=err,
        )
        if report.status is None and not timed_out and _bwrap_failed(result.stderr):
            raise SandboxUnavailable(f"bubblewrap could not build the sandbox: {result.stderr.strip()[:500]}")
        return result


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL bwrap's whole session; its PID namespace dies with it (--die-with-parent)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _bwrap_failed(stderr: str) -> bool:
    return stderr.lstrip().startswith(("bwrap:", "setpriv:"))


def _namespace_args(privileged: bool, uid: int) -> list[str]:
    """New namespaces for everything but the file system; the user namespace only when not root
    (root drops to `uid` with setpriv instead, see _entry_args)."""
    args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    args += ["--die-with-parent", "--new-session", "--as-pid-1", "--hostname", "sandbox"]
    if privileged:
        return [*args, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return [*args, "--unshare-user", "--uid", str(uid), "--gid", str(uid), "--disable-userns"]


def _filesystem_args(job: Job) -> list[str]:
    """The sandbox's view: the system read-only, the runtime's mounts, /program and /input read-only,
    bounded /tmp and /output, the supervisor, and the GPU devices when the job has them."""
    limits = job.limits
    made: set[str] = set()
    args = ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        path = Path("/") / link
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    # /etc is not bound (its files say nothing a program needs); the loader's cache only.
    if Path("/etc/ld.so.cache").exists():
        args += ["--perms", "0755", "--dir", "/etc", "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
        made.add("/etc")
    # /tmp before the runtime: a runtime installed under /tmp (a checkout there) is bound on top of it
    args += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    made.add("/tmp")
    for mount in job.runtime.mounts:
        if mount.startswith("/usr/") or mount == "/usr":
            continue
        _mkdirs(args, made, mount)
        args += ["--ro-bind", mount, mount]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if job.gpu:
        for device in sorted(glob.glob("/dev/nvidia*")):
            args += ["--dev-bind", device, device]
    args += ["--ro-bind", str(job.program_dir), "/program", "--ro-bind", str(job.input_dir), "/input"]
    args += ["--perms", "0755", "--dir", "/sandbox", "--ro-bind", str(SUPERVISOR), "/sandbox/supervisor.py"]
    args += ["--perms", "0777", "--size", str(limits.output_bytes), "--tmpfs", "/output"]
    return args


def _entry_args(job: Job, privileged: bool, uid: int, report_fd: int) -> list[str]:
    """The program's environment, the drop to `uid` when bwrap runs as root, the supervisor and the
    program's own command line."""
    args = ["--chdir", "/program", "--clearenv"]
    for key, value in program_env(job).items():
        args += ["--setenv", key, value]
    if privileged:
        args += [
            "/usr/bin/setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ]
    python = job.runtime.python
    config = json.dumps(supervisor_config(job))
    args += [
        python,
        "-I",
        "-S",
        "/sandbox/supervisor.py",
        "--config",
        config,
        "--report-fd",
        str(report_fd),
        "--",
    ]
    return [*args, python, job.entry, "--input", "/input", "--output", "/output"]
