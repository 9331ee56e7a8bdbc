"""The one interface of every sandbox backend: a job in, a result out, each limit with its own sentence.

A backend (`sandbox.bubblewrap`, `sandbox.docker`; a Kubernetes Job would be a third, see
docs/code-phases.md) starts `sandbox/supervisor.py` as the first process of an isolated environment and
feeds it the program. Everything here is the part they share: the limits, the host side of the
supervisor's report, the bounded capture of the program's output and the classification of its end.
"""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

GiB = 1024**3
MiB = 1024**2

#: The failure classes a participant of a hidden phase sees, and nothing else.
TIMEOUT, MEMORY, CRASH, BAD_OUTPUT = "timeout", "memory", "crash", "bad_output"
FAILURE_CLASSES = (TIMEOUT, MEMORY, CRASH, BAD_OUTPUT)

WALL_LIMIT = "Your program ran longer than {seconds:g} s and was stopped."
CPU_LIMIT = "Your program used more than {seconds:g} s of CPU time and was stopped."
MEMORY_LIMIT = "Your program used more than {size} of memory and was stopped."
PROCESS_LIMIT = (
    "Your program tried to run more than {count} processes or threads at once, the limit; it failed "
    "when it could not start more."
)
OUTPUT_LIMIT = "Your program wrote more than {size} to /output (or /tmp) and was stopped."
EXIT_STATUS = "Your program exited with status {code}."
KILLED_BY = "Your program was killed by signal {name}."
NO_START = "Your program could not be started: {error}."
NO_REPORT = "Your program ended the sandbox's supervisor before it could report (status {code})."

_PAGE_OUT = "\n[... {skipped:,} more bytes not shown ...]\n"


def human_size(n: int) -> str:
    """1536 -> '1.5 KiB'; 8 GiB -> '8 GiB'.

    >>> human_size(8 * GiB), human_size(1536), human_size(100)
    ('8 GiB', '1.5 KiB', '100 bytes')
    """
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} bytes"


class SandboxUnavailable(Exception):  # noqa: N818 - the site's fault, not the program's
    """The sandbox could not run the job (backend missing, engine down): retry elsewhere, count nothing."""


@dataclass(frozen=True)
class Limits:
    """What one run may use. `processes` counts processes and threads of the sandbox's user."""

    wall_s: float = 600.0
    memory_bytes: int = 8 * GiB
    cpus: int = 2
    output_bytes: int = 1 * GiB
    tmp_bytes: int = 1 * GiB
    processes: int = 256
    open_files: int = 1024
    #: Captured bytes of stdout and of stderr each (the head and the tail are kept).
    capture_bytes: int = 64 * 1024
    #: CPU seconds of one process; None: the wall time on every allowed core, plus slack (`cpu_s`).
    cpu_seconds: int | None = None

    @property
    def cpu_s(self) -> int:
        """RLIMIT_CPU per process: `cpu_seconds`, else the wall time on every allowed core, plus slack."""
        if self.cpu_seconds is not None:
            return int(self.cpu_seconds)
        return int(self.wall_s * max(self.cpus, 1)) + 5


@dataclass(frozen=True)
class Runtime:
    """A Python the site offers to programs: the interpreter and the host directories it needs.

    Attributes:
        name, description: shown to organisers and participants (the kit's runtime description).
        python: the interpreter's path, as seen inside the sandbox (and, for bubblewrap, on the host).
        mounts: host directories bound read-only at the same path (the interpreter's prefix and its
            site-packages; /usr is always bound for the system libraries).
        image: the container image of the Docker backend (its own Python at `python`).
        packages: what a program may import, for the description.
    """

    name: str
    description: str
    python: str
    mounts: tuple[str, ...] = ()
    image: str = ""
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Job:
    """One run: `python main.py --input /input --output /output` in `program_dir`, inside the sandbox."""

    program_dir: Path
    input_dir: Path
    #: Host directory that receives /output's files after the run (created empty by the caller).
    output_dir: Path
    runtime: Runtime
    limits: Limits = field(default_factory=Limits)
    entry: str = "main.py"
    gpu: bool = False


@dataclass
class RunResult:
    """How a run ended. `ok` means the program exited with status 0 inside every limit."""

    ok: bool
    reason: str  # "" when ok; else wall, cpu, memory, processes, output, exit, signal, start, supervisor
    failure_class: str  # "" or one of FAILURE_CLASSES
    message: str
    exit_code: int | None
    wall_s: float
    cpu_s: float
    peak_memory_bytes: int
    stdout: str
    stderr: str
    output_files: list[str]
    #: Host-side timings for the overhead benchmark (monotonic seconds).
    spawned_at: float = 0.0
    program_started_at: float | None = None
    first_output_at: float | None = None
    program_ended_at: float | None = None
    finished_at: float = 0.0
    backend: str = ""
    hardware: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "failure_class": self.failure_class,
            "message": self.message,
            "exit_code": self.exit_code,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "peak_memory_bytes": self.peak_memory_bytes,
            "backend": self.backend,
            "hardware": self.hardware,
        }


class Backend(Protocol):
    name: str

    def run(self, job: Job) -> RunResult: ...

    def hardware(self, job: Job) -> str: ...


class ByteSource(Protocol):
    """What `ReportReader` reads: a binary file, or the docker backend's fifo reader."""

    def read(self, size: int, /) -> bytes: ...


def piped(stream: IO[bytes] | None) -> IO[bytes]:
    """A child's stdout or stderr that Popen was asked to pipe (subprocess types it Optional)."""
    if stream is None:
        raise SandboxUnavailable("the program was started without the pipe it was given")
    return stream


class BoundedCapture:
    """Drain a pipe in a thread, keeping its first and last `limit // 2` bytes; notes the first byte's time."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream, self.limit = stream, limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.first_at: float | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        half = max(self.limit // 2, 1)
        while chunk := self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536):
            if self.first_at is None:
                self.first_at = time.monotonic()
            self.total += len(chunk)
            room = half - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail = (self.tail + chunk)[-half:]

    def text(self, timeout: float = 5.0) -> str:
        self._thread.join(timeout)
        skipped = self.total - len(self.head) - len(self.tail)
        middle = _PAGE_OUT.format(skipped=skipped) if skipped > 0 else ""
        return bytes(self.head).decode(errors="replace") + middle + bytes(self.tail).decode(errors="replace")


class ReportReader:
    """Reads the supervisor's report pipe in a thread: one JSON line, then a tar of /output (bounded)."""

    def __init__(self, stream: ByteSource, *, limit: int) -> None:
        self.stream, self.limit = stream, limit
        self.status: dict[str, Any] | None = None
        self.data = bytearray()
        self.overflow = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = bytearray()
        while self.status is None:
            chunk = self.stream.read(4096)
            if not chunk:
                return
            buf += chunk
            if b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                try:
                    self.status = json.loads(line)
                except ValueError:
                    return
                self.data += rest
            elif len(buf) > 1 * MiB:
                return
        while chunk := self.stream.read(1 << 20):
            if len(self.data) + len(chunk) > self.limit:
                self.overflow = True
                continue  # keep draining so the supervisor is never blocked
            self.data += chunk

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def extract_output(data: bytes, dest: Path, *, limit: int) -> list[str]:
    """Unpack the supervisor's tar of /output into `dest`: regular files only, no path leaves `dest`."""
    names: list[str] = []
    total = 0
    dest = dest.resolve()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            if not member.isfile() or member.size + total > limit:
                continue
            target = (dest / member.name).resolve()
            if dest not in target.parents:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            if src is None:
                continue
            with open(target, "wb") as out:
                out.write(src.read())
            total += member.size
            names.append(str(target.relative_to(dest)))
    return sorted(names)


def supervisor_config(job: Job, *, output_dir: str = "/output") -> dict[str, Any]:
    """The supervisor's settings for a job: limits and the per-process rlimits of the program."""
    limits = job.limits
    rlimits: dict[str, int | list[int]] = {
        # Soft below hard: at the soft limit the kernel sends SIGXCPU (the CPU sentence); with both
        # equal it sends SIGKILL, which reads as any kill (setrlimit(2), "RLIMIT_CPU").
        "RLIMIT_CPU": [limits.cpu_s, limits.cpu_s + 2],
        "RLIMIT_FSIZE": max(limits.output_bytes, limits.tmp_bytes),
        "RLIMIT_NPROC": limits.processes,
        "RLIMIT_NOFILE": limits.open_files,
        "RLIMIT_CORE": 0,
    }
    # RLIMIT_AS bounds every mapping of one process (a MAP_SHARED bomb included); CUDA reserves more
    # address space than it uses, so with a GPU the data segment is limited instead.
    rlimits["RLIMIT_DATA"] = limits.memory_bytes
    if not job.gpu:
        rlimits["RLIMIT_AS"] = limits.memory_bytes
    return {
        "wall_s": limits.wall_s,
        "memory_bytes": limits.memory_bytes,
        "processes": limits.processes,
        "output_bytes": limits.output_bytes,
        "output_dir": output_dir,
        "cwd": "/program",
        "rlimits": rlimits,
    }


def program_env(job: Job) -> dict[str, str]:
    """The program's whole environment: nothing of the worker's."""
    threads = str(max(job.limits.cpus, 1))
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "NUMBA_NUM_THREADS": threads,
    }


_MEMORY_WORDS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "Unable to allocate")
# Python ignores SIGXFSZ, so a write past RLIMIT_FSIZE fails with EFBIG; a full tmpfs gives ENOSPC.
_OUTPUT_WORDS = ("No space left on device", "File too large")
# fork/clone past RLIMIT_NPROC fail with EAGAIN; Python's threads say so in their own words.
_PROCESS_WORDS = ("Resource temporarily unavailable", "can't start new thread")


def classify(
    *, job: Job, status: dict[str, Any] | None, returncode: int | None, timed_out: bool, stderr: str
) -> tuple[str, str, str]:
    """(reason, failure class, message) of a run; ("", "", "") when it succeeded."""
    limits = job.limits
    wall = WALL_LIMIT.format(seconds=limits.wall_s)
    if timed_out or (status or {}).get("reason") == "wall":
        if (status or {}).get("peak_processes", 0) >= limits.processes - 1:  # a fork bomb, stopped in time
            return "processes", CRASH, PROCESS_LIMIT.format(count=limits.processes)
        return "wall", TIMEOUT, wall
    if status is None:
        return "supervisor", CRASH, NO_REPORT.format(code=returncode)
    memory = MEMORY_LIMIT.format(size=human_size(limits.memory_bytes))
    if status.get("reason") == "memory":
        return "memory", MEMORY, memory
    if status.get("reason") == "start":
        return "start", CRASH, NO_START.format(error=status.get("error", "unknown error"))
    output = OUTPUT_LIMIT.format(size=human_size(limits.output_bytes))
    code = status.get("exit_code")
    if code == 0:
        return "", "", ""
    if status.get("oom_kills"):  # the container's memory cgroup killed a process
        return "memory", MEMORY, memory
    if code is not None and code < 0:
        sig = -code
        # SIGKILL past the limit: a process that caught SIGXCPU ran on to the hard limit.
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and status.get("cpu_s", 0) >= limits.cpu_s):
            return "cpu", TIMEOUT, CPU_LIMIT.format(seconds=limits.cpu_s)
        if sig == signal.SIGXFSZ:
            return "output", BAD_OUTPUT, output
    if status.get("output_bytes_used", 0) >= limits.output_bytes * 0.98 or any(
        word in stderr for word in _OUTPUT_WORDS
    ):
        return "output", BAD_OUTPUT, output
    if any(word in stderr for word in _MEMORY_WORDS):
        return "memory", MEMORY, memory
    if status.get("peak_processes", 0) >= limits.processes - 1 or any(
        word in stderr for word in _PROCESS_WORDS
    ):
        return "processes", CRASH, PROCESS_LIMIT.format(count=limits.processes)
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return "signal", CRASH, KILLED_BY.format(name=name)
    return "exit", CRASH, EXIT_STATUS.format(code=code)


def finish(
    *,
    job: Job,
    backend: str,
    hardware: str,
    spawned_at: float,
    returncode: int | None,
    timed_out: bool,
    report: ReportReader,
    stdout: BoundedCapture,
    stderr: BoundedCapture,
) -> RunResult:
    """Turn what a backend observed into a RunResult, unpacking /output into job.output_dir."""
    report.join(10.0)
    status = report.status
    err_text = stderr.text()
    reason, failure, message = classify(
        job=job, status=status, returncode=returncode, timed_out=timed_out, stderr=err_text
    )
    files: list[str] = []
    if status is not None and not report.overflow and report.data:
        try:
            files = extract_output(bytes(report.data), job.output_dir, limit=job.limits.output_bytes)
        except (tarfile.TarError, OSError):
            files = []
    status = status or {}
    return RunResult(
        ok=not reason,
        reason=reason,
        failure_class=failure,
        message=message,
        exit_code=status.get("exit_code"),
        wall_s=float(status.get("wall_s") or (time.monotonic() - spawned_at)),
        cpu_s=float(status.get("cpu_s") or 0.0),
        peak_memory_bytes=int(status.get("peak_memory_bytes") or 0),
        stdout=stdout.text(),
        stderr=err_text,
        output_files=files,
        spawned_at=spawned_at,
        program_started_at=status.get("program_started"),
        first_output_at=stdout.first_at,
        program_ended_at=status.get("program_ended"),
        finished_at=time.monotonic(),
        backend=backend,
        hardware=hardware,
    )


SUPERVISOR = Path(__file__).with_name("supervisor.py")


def cpu_set(cpus: int) -> set[int]:
    """The first `cpus` cores this process may use."""
    allowed = sorted(os.sched_getaffinity(0))
    return set(allowed[: max(1, min(cpus, len(allowed)))])
