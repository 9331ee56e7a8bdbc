"""The embedded default backend: bubblewrap (Debian package `bubblewrap`), no daemon, no image.

The sandbox gets fresh IPC, PID, network (no interface but its own loopback), UTS and cgroup
namespaces, an empty root holding only read-only binds of /usr, the runtime's directories, the program
and /input, size-bounded tmpfs mounts for /output and /tmp, a minimal /dev and its own /proc. The
program runs as uid/gid 65534 with no capabilities and a clean environment; the supervisor
(`sandbox/supervisor.py`) is PID 1 and enforces wall time and the memory of all its processes
together, the kernel the per-process rlimits. When the worker has NVIDIA devices they are bound in.

Run by root (a production worker), bwrap needs no user namespace: it drops to uid 65534 through
`setpriv` inside, so RLIMIT_NPROC counts the sandbox user's processes. Run by anyone else, bwrap maps
the caller to uid 65534 inside an unprivileged user namespace.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import signal
import subprocess
import time
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
    program_env,
    supervisor_config,
)

NOBODY = 65534
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

    def __init__(self, *, bwrap: str = "bwrap", uid: int = NOBODY) -> None:
        self.bwrap, self.uid = bwrap, uid

    def hardware(self, job: Job) -> str:
        gpus = len(glob.glob("/dev/nvidia[0-9]*")) if job.gpu else 0
        cpu = platform.processor() or platform.machine()
        gpu = f", {gpus} NVIDIA GPU" if gpus else ""
        return f"{job.limits.cpus} CPU cores ({cpu}){gpu}, {human_size(job.limits.memory_bytes)}"

    def command(self, job: Job, *, report_fd: int = 3) -> list[str]:
        """The bwrap command line of a job (the supervisor's report goes to `report_fd`)."""
        bwrap = shutil.which(self.bwrap)
        if bwrap is None:
            raise SandboxUnavailable(BWRAP_MISSING)
        privileged = os.geteuid() == 0
        limits = job.limits
        args = [
            bwrap,
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
        args += ["--die-with-parent", "--new-session", "--as-pid-1", "--hostname", "sandbox"]
        if privileged:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user", "--uid", str(self.uid), "--gid", str(self.uid), "--disable-userns"]
        made: set[str] = set()
        args += ["--ro-bind", "/usr", "/usr"]
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
        args += [
            "--perms",
            "0755",
            "--dir",
            "/sandbox",
            "--ro-bind",
            str(SUPERVISOR),
            "/sandbox/supervisor.py",
        ]
        args += ["--perms", "0777", "--size", str(limits.output_bytes), "--tmpfs", "/output"]
        args += ["--chdir", "/program", "--clearenv"]
        for key, value in program_env(job).items():
            args += ["--setenv", key, value]
        if privileged:
            args += [
                "/usr/bin/setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.uid}",
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
        args += [python, job.entry, "--input", "/input", "--output", "/output"]
        return args

    def run(self, job: Job) -> RunResult:
        cores = cpu_set(job.limits.cpus)
        read_fd, write_fd = os.pipe()
        try:
            args = self.command(job, report_fd=write_fd)
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
        out = BoundedCapture(proc.stdout, job.limits.capture_bytes)
        err = BoundedCapture(proc.stderr, job.limits.capture_bytes)
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


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL bwrap's whole session; its PID namespace dies with it (--die-with-parent)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _bwrap_failed(stderr: str) -> bool:
    return stderr.lstrip().startswith(("bwrap:", "setpriv:"))
