"""The production backend: the job runs in a container of the runtime's image, through the docker CLI.

`docker run` with no network, a read-only root file system, every capability dropped but the three the
supervisor needs to become uid 65534 for the program and end it (CAP_SETUID, CAP_SETGID, CAP_KILL;
the program has none; no-new-privileges),
cgroup limits on memory (no swap), CPUs and processes, rlimits for CPU time and file size, tmpfs
mounts of bounded size for /output and /tmp, the program and /input bound read-only, and the GPUs
(`--gpus all`) when the job asks for them. The supervisor reports through a FIFO owned by root with mode
0600, so the program cannot write to it. The runtime's image must hold its Python at `runtime.python`
(docker/Dockerfile.runtime builds one from Debian's packages).

The same container, its mounts replaced by volumes or an init container, is what a Kubernetes Job
would run: see docs/code-phases.md for that seam.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from .base import (
    SUPERVISOR,
    BoundedCapture,
    Job,
    ReportReader,
    RunResult,
    SandboxUnavailable,
    finish,
    human_size,
    piped,
    program_env,
    supervisor_config,
)

NOBODY = 65534
GRACE_S = 15.0
DOCKER_MISSING = "The docker CLI is not installed on this worker (PENTATHLON_SANDBOX_BACKEND=docker)."
NO_IMAGE = "The runtime {name!r} names no container image; set its image in PENTATHLON_SANDBOX_RUNTIMES."


class DockerBackend:
    name = "docker"

    def __init__(self, *, docker: str = "docker", runtime_arg: str = "", uid: int = NOBODY) -> None:
        self.docker, self.runtime_arg, self.uid = docker, runtime_arg, uid

    def hardware(self, job: Job) -> str:
        gpu = ", all the worker's NVIDIA GPUs" if job.gpu else ""
        return f"{job.limits.cpus} CPU cores{gpu}, {human_size(job.limits.memory_bytes)} (container)"

    def command(self, job: Job, *, name: str, report_dir: Path, supervisor: Path = SUPERVISOR) -> list[str]:
        docker = shutil.which(self.docker)
        if docker is None:
            raise SandboxUnavailable(DOCKER_MISSING)
        if not job.runtime.image:
            raise SandboxUnavailable(NO_IMAGE.format(name=job.runtime.name))
        limits = job.limits
        config = supervisor_config(job)
        config["rlimits"].pop("RLIMIT_NPROC")  # the pids cgroup counts them (--pids-limit)
        config["memory_from"] = "cgroup"  # the container's own memory cgroup: usage, peak, OOM kills
        args = [docker, "run", "--rm", "--name", name, "--network", "none", "--read-only", "--init=false"]
        args += ["--user", "0:0", "--cap-drop", "ALL", "--cap-add", "SETUID", "--cap-add", "SETGID"]
        args += ["--cap-add", "KILL"]  # the supervisor (root) ends the program's processes (uid 65534)
        args += ["--security-opt", "no-new-privileges", "--ipc", "private", "--hostname", "sandbox"]
        args += ["--memory", str(limits.memory_bytes), "--memory-swap", str(limits.memory_bytes)]
        args += ["--cpus", str(limits.cpus), "--pids-limit", str(limits.processes)]
        args += ["--tmpfs", f"/output:rw,size={limits.output_bytes},mode=1777"]
        args += ["--tmpfs", f"/tmp:rw,size={limits.tmp_bytes},mode=1777"]
        args += ["-v", f"{job.program_dir}:/program:ro", "-v", f"{job.input_dir}:/input:ro"]
        args += ["-v", f"{supervisor}:/sandbox/supervisor.py:ro", "-v", f"{report_dir}:/report"]
        args += ["-w", "/program"]
        if job.gpu:
            args += ["--gpus", "all"]
        if self.runtime_arg:
            args += ["--runtime", self.runtime_arg]
        for key, value in program_env(job).items():
            args += ["-e", f"{key}={value}"]
        python = job.runtime.python
        args += ["--entrypoint", python, job.runtime.image, "-I", "-S", "/sandbox/supervisor.py"]
        args += ["--config", json.dumps(config), "--report-path", "/report/fifo", "--drop-to", str(self.uid)]
        args += ["--", python, job.entry, "--input", "/input", "--output", "/output"]
        return args

    def run(self, job: Job) -> RunResult:
        name = f"pentathlon-sandbox-{uuid.uuid4().hex[:16]}"
        with tempfile.TemporaryDirectory(prefix="sandbox-report-") as tmp:
            # `docker run -v` paths are the engine's: a worker that is itself a container keeps its
            # temporary directory on a host directory mounted at the same path (TMPDIR; docs/deploying.md),
            # so the supervisor is copied there rather than bound from this worker's site-packages.
            supervisor = Path(tmp) / "supervisor.py"
            shutil.copyfile(SUPERVISOR, supervisor)
            supervisor.chmod(0o644)
            report_dir = Path(tmp) / "report"
            report_dir.mkdir(mode=0o700)
            fifo = report_dir / "fifo"
            os.mkfifo(fifo, 0o600)
            args = self.command(job, name=name, report_dir=report_dir, supervisor=supervisor)
            spawned = time.monotonic()
            try:
                proc = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
            except OSError as exc:
                raise SandboxUnavailable(f"docker could not be started: {exc}") from exc
            # O_RDWR: opening never blocks, and the pipe never reports end-of-file before the writer comes.
            fd = os.open(fifo, os.O_RDWR)
            reader = _FifoReader(fd, proc)
            report = ReportReader(reader, limit=job.limits.output_bytes + 1024**2)
            out = BoundedCapture(piped(proc.stdout), job.limits.capture_bytes)
            err = BoundedCapture(piped(proc.stderr), job.limits.capture_bytes)
            timed_out = False
            try:
                proc.wait(timeout=job.limits.wall_s + GRACE_S)
            except subprocess.TimeoutExpired:
                timed_out = True
                subprocess.run([self.docker, "kill", name], capture_output=True, timeout=60, check=False)
                proc.wait(timeout=60)
            reader.done()
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
        if report.status is None and proc.returncode in (125, 126, 127) and not timed_out:
            # docker's own exit codes: the daemon, the image or the entrypoint failed, not the program
            raise SandboxUnavailable(f"docker could not run the job: {result.stderr.strip()[:500]}")
        return result


class _FifoReader:
    """A readable stream over the report FIFO that ends when the container is gone and the pipe is empty."""

    def __init__(self, fd: int, proc: subprocess.Popen[bytes]) -> None:
        self.fd, self.proc = fd, proc
        self._finished = False
        os.set_blocking(fd, False)

    def done(self) -> None:
        self._finished = True

    def read(self, size: int) -> bytes:
        import select

        while True:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.fd, size)
                except BlockingIOError:
                    continue
                if data:
                    return data
            if self._finished or self.proc.poll() is not None:
                try:
                    return os.read(self.fd, size)
                except BlockingIOError:
                    os.close(self.fd)
                    return b""
