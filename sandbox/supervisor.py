"""The sandbox's first process: starts the participant's program, watches it, reports, hands back /output.

Runs INSIDE the sandbox as PID 1 of its own PID namespace (bubblewrap `--as-pid-1`, Docker `--init`-less
entrypoint), under the sandbox's unprivileged user, with the runtime's interpreter and nothing but the
standard library. As PID 1 it cannot be killed from inside the namespace, so a program cannot silence it.

Protocol (file descriptor ``--report-fd``, default 3; stdout/stderr are the program's own):
one JSON line (the status), then a tar stream of /output's regular files. The host reads both with
bounds (`sandbox.base`). Usage::

    python supervisor.py --config '{...json...}' -- python main.py --input /input --output /output
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
import time
from typing import IO, Any

PR_SET_DUMPABLE = 4
POLL_S = 0.05


def _nondumpable() -> None:
    """Keep the program (same uid) out of this process's /proc entries and file descriptors."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _limit(config: dict[str, Any], drop_to: int | None) -> None:
    """In the program's process, before exec: its own session, the per-process limits, its user."""
    os.setsid()
    if drop_to is not None:  # a container starts the supervisor as root with CAP_SETUID/SETGID only
        os.setgroups([])
        os.setgid(drop_to)
        os.setuid(drop_to)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    for name, value in config.get("rlimits", {}).items():
        soft, hard = value if isinstance(value, list) else (value, value)
        resource.setrlimit(getattr(resource, name), (soft, hard))


def _processes() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]


def _memory_of(pids: list[int]) -> int:
    """The processes' proportional set size together (shared pages counted once); RSS where PSS is unreadable."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
            continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cgroup_memory() -> tuple[int, int, int] | None:
    """(usage, peak, OOM kills) of this container's memory cgroup (v2, else v1); None outside one."""
    events = {}
    if os.path.exists("/sys/fs/cgroup/memory.current"):
        current = _read_int("/sys/fs/cgroup/memory.current") or 0
        peak = _read_int("/sys/fs/cgroup/memory.peak") or current
        path = "/sys/fs/cgroup/memory.events"
    elif os.path.exists("/sys/fs/cgroup/memory/memory.usage_in_bytes"):
        current = _read_int("/sys/fs/cgroup/memory/memory.usage_in_bytes") or 0
        peak = _read_int("/sys/fs/cgroup/memory/memory.max_usage_in_bytes") or current
        path = "/sys/fs/cgroup/memory/memory.oom_control"
    else:
        return None
    try:
        with open(path) as f:
            events = dict(line.split()[:2] for line in f if len(line.split()) >= 2)
    except OSError:
        pass
    return current, peak, int(events.get("oom_kill", 0))


def _kill_all() -> None:
    """SIGKILL every other process of the namespace until none is left (a fork bomb races one pass)."""
    for _ in range(10000):
        try:
            os.kill(-1, signal.SIGKILL)  # from PID 1: every other process it may signal
        except (ProcessLookupError, PermissionError):
            pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        time.sleep(0.01)


def _usage(path: str) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def _send_output(report: IO[bytes], root: str, limit: int) -> None:
    """Write /output's regular files (no links, devices or fifos) as a tar stream, at most `limit` bytes."""
    sent = 0
    with tarfile.open(fileobj=report, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20) as tar:
        for base, dirs, files in os.walk(root, followlinks=False):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(base, name)
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                except OSError:
                    continue
                with os.fdopen(fd, "rb") as f:
                    st = os.fstat(f.fileno())
                    if not (st.st_mode & 0o170000 == 0o100000) or sent + st.st_size > limit:
                        continue
                    info = tarfile.TarInfo(os.path.relpath(path, root))
                    info.size, info.mode, info.mtime = st.st_size, 0o644, int(st.st_mtime)
                    tar.addfile(info, f)
                    sent += st.st_size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--report-fd", type=int, default=3)
    parser.add_argument("--report-path", help="a FIFO to write the report to, instead of --report-fd")
    parser.add_argument("--drop-to", type=int, help="run the program as this uid and gid")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    config = json.loads(args.config)
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if args.report_path:
        report = open(args.report_path, "wb", buffering=0)  # noqa: SIM115 - held to the end
    else:
        report = os.fdopen(args.report_fd, "wb", buffering=0)
    _nondumpable()
    wall = float(config["wall_s"])
    memory = int(config["memory_bytes"])
    output_root, output_limit = config.get("output_dir", "/output"), int(config["output_bytes"])
    from_cgroup = config.get("memory_from") == "cgroup"
    status: dict[str, Any] = {"reason": "", "peak_memory_bytes": 0, "peak_processes": 0}
    started = time.monotonic()
    try:
        child = subprocess.Popen(
            argv,
            cwd=config.get("cwd", "/program"),
            preexec_fn=lambda: _limit(config, args.drop_to),
            close_fds=True,
        )
    except OSError as exc:
        status.update(reason="start", error=str(exc), exit_code=None, signal=None)
        report.write((json.dumps(status) + "\n").encode())
        return 0
    status["program_started"] = started
    code: int | None = None
    while code is None:
        # Reap every orphan (PID 1's duty); notice the program's own end.
        while True:
            try:
                pid, wstatus = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid, wstatus = 0, 0
            if pid == 0:
                break
            if pid == child.pid:
                code = wstatus
        if code is not None:
            break
        pids = _processes()
        cgroup = _cgroup_memory() if from_cgroup else None
        used = cgroup[0] if cgroup else _memory_of(pids)
        status["peak_memory_bytes"] = max(status["peak_memory_bytes"], used)
        status["peak_processes"] = max(status["peak_processes"], len(pids))
        if used > memory:
            status["reason"] = "memory"
            break
        if time.monotonic() - started > wall:
            status["reason"] = "wall"
            break
        time.sleep(POLL_S)
    ended = time.monotonic()
    _kill_all()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    status["cpu_s"] = usage.ru_utime + usage.ru_stime
    status["peak_memory_bytes"] = max(status["peak_memory_bytes"], usage.ru_maxrss * 1024)
    cgroup = _cgroup_memory() if from_cgroup else None
    if cgroup:
        status["peak_memory_bytes"] = max(status["peak_memory_bytes"], cgroup[1])
        status["oom_kills"] = cgroup[2]
    status["program_ended"] = ended
    status["wall_s"] = ended - started
    if code is not None:
        status["exit_code"] = os.waitstatus_to_exitcode(code)
    status["output_bytes_used"] = _usage(output_root)
    report.write((json.dumps(status) + "\n").encode())
    try:
        _send_output(report, output_root, output_limit)
    except BrokenPipeError:
        return 0
    report.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
