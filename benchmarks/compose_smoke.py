"""The production stack end to end: build the images without a registry, `compose up`, score
submissions sent through the participants' CLI, then fault drills. Prints every figure it measures.

    sudo python benchmarks/compose_smoke.py            # or `make compose-smoke`; root: debootstrap, dockerd

Needs a running Docker engine, `docker compose` or `docker-compose`, and (for the first run) debootstrap
and a Debian mirror. The host's Python needs only the CLI's dependencies (numpy, h5py, requests, rich).

1. Images. `pentathlon/debian:bookworm` from `debootstrap --variant=minbase` and `docker import`; on it
   docker/offline/*.Dockerfile make the Python, PostgreSQL and Redis images; docker/Dockerfile makes the
   site's image with PYTHON_IMAGE pointed at the local Python image and without torch (the CPU workers
   score with numpy; torch is only for `train_baseline`). Layers are cached: a second run builds nothing.
2. `compose up` of the whole stack under its own project name (`pentathlon-smoke`, its own volumes),
   published on 127.0.0.1 only; waits on every healthcheck; `docker compose config` of the GPU profile.
3. Seeds the Video Pentathlon at full scale; as the demo participant, downloads the validation phase's
   starter kit with `pentathlon kit`, builds similarity matrices of the kit's shapes, packs an .npz and a
   CodaLab zip with `pentathlon pack`, submits both with `pentathlon submit` and checks the results
   (every dataset scored; the zip's top-10 lists score R@1/5/10 exactly like the matrices they came from).
4. Drills: `docker kill` of the CPU worker while it scores, then a restart; Redis restarted while a
   message waits in its queue; PostgreSQL restarted while a submission is scored; web restarted in the
   middle of a chunked upload (the CLI is paused mid-transfer, then run again: it resumes).
   Every submission must end FINISHED, and scored once (`scored_count == 1`).
5. `compose down -v` (unless --keep-up).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker" / "compose.yml"
OFFLINE = REPO / "docker" / "offline"
PROJECT = "pentathlon-smoke"
DEBIAN_IMAGE = "pentathlon/debian:bookworm"
PYTHON_IMAGE = "pentathlon/python:3.11-bookworm"
POSTGRES_IMAGE = "pentathlon/postgres:15-bookworm"
REDIS_IMAGE = "pentathlon/redis:7.0-bookworm"
APP_IMAGE = "pentathlon:smoke"
SERVICES = ("postgres", "redis", "web", "worker-cpu", "beat")
PARTICIPANT = ("participant", "pentathlon-participant")
CHALLENGE = "video-pentathlon"
#: The server's chunk size in the smoke stack: many chunks, so a restart lands mid-upload.
SMOKE_CHUNK_BYTES = 2 * 1024**2

FIGURES: dict[str, Any] = {}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def figure(name: str, value: Any, unit: str = "") -> None:
    FIGURES[name] = value
    shown = f"{value:.1f}" if isinstance(value, float) else str(value)
    log(f"FIGURE {name}: {shown}{(' ' + unit) if unit else ''}")


def run(
    argv: list[str],
    *,
    check: bool = True,
    capture: bool = False,
    env: dict[str, str] | None = None,
    **kw: Any,
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        argv,
        check=False,
        text=True,
        capture_output=capture,
        env={**os.environ, **(env or {})},
        **kw,
    )
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-3000:] if capture else ""
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(argv)}\n{detail}")
    return result


# --- tools -----------------------------------------------------------------------------------------


def compose_cli() -> list[str]:
    """`docker compose` (v2) when the plugin is installed, else the standalone `docker-compose`."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise SystemExit("Neither `docker compose` nor `docker-compose` is installed; install one of them.")


def _client_major(docker: str) -> int:
    out = subprocess.run(
        [docker, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
    )
    try:
        return int(out.stdout.strip().split(".")[0])
    except ValueError:
        return 0


def build_cli() -> tuple[list[str], dict[str, str]]:
    """A BuildKit build command (the Dockerfiles use RUN --mount caches).

    buildx when installed; else a docker client older than 23, whose `docker build` is BuildKit with
    DOCKER_BUILDKIT=1 (newer clients without buildx fall back to the legacy builder).
    """
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0:
        return ["docker", "buildx", "build", "--load"], {}
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / "docker"
        if candidate.is_file() and os.access(candidate, os.X_OK) and 0 < _client_major(str(candidate)) < 23:
            return [str(candidate), "build"], {"DOCKER_BUILDKIT": "1"}
    raise SystemExit("No BuildKit builder: install docker buildx, or use a docker client older than 23.")


def debian_mirror() -> str:
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split()
            if line.startswith("URIs:") and len(words) > 1 and "security" not in words[1]:
                return words[1]
            if words[:1] == ["deb"] and "security" not in line:
                return next(w for w in words[1:] if w.startswith("http"))
    return "http://deb.debian.org/debian"


def host_ca_bundle() -> str | None:
    """The CA bundle this host's own pip trusts; the image's pip gets it as a build secret."""
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


# --- 1. images --------------------------------------------------------------------------------------


def build_images(*, rebuild_base: bool) -> None:
    started = time.monotonic()
    if rebuild_base or not image_exists(DEBIAN_IMAGE):
        if not shutil.which("debootstrap"):
            raise SystemExit("debootstrap is not installed (apt-get install debootstrap).")
        mirror = debian_mirror()
        log(f"debootstrap --variant=minbase bookworm from {mirror}")
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="pentathlon-rootfs-") as rootfs:
            run(["debootstrap", "--variant=minbase", "bookworm", rootfs, mirror], capture=True)
            security = mirror.rsplit("/debian", 1)[0] + "/debian-security"
            Path(rootfs, "etc/apt/sources.list").write_text(
                f"deb {mirror} bookworm main\ndeb {mirror} bookworm-updates main\n"
                f"deb {security} bookworm-security main\n"
            )
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            run(["docker", "import", "-", DEBIAN_IMAGE], stdin=tar.stdout, capture=True)
            tar.wait()
        figure("build_debian_base_s", time.monotonic() - t0, "s")
    build, build_env = build_cli()
    steps = [
        (PYTHON_IMAGE, OFFLINE / "python.Dockerfile", OFFLINE, {"DEBIAN_IMAGE": DEBIAN_IMAGE}),
        (POSTGRES_IMAGE, OFFLINE / "postgres.Dockerfile", OFFLINE, {"DEBIAN_IMAGE": DEBIAN_IMAGE}),
        (REDIS_IMAGE, OFFLINE / "redis.Dockerfile", OFFLINE, {"DEBIAN_IMAGE": DEBIAN_IMAGE}),
        # TORCH_VERSION empty: no torch in the image (see docker/Dockerfile).
        (
            APP_IMAGE,
            REPO / "docker" / "Dockerfile",
            REPO,
            {"PYTHON_IMAGE": PYTHON_IMAGE, "TORCH_VERSION": ""},
        ),
    ]
    for tag, dockerfile, context, args in steps:
        t0 = time.monotonic()
        argv = [*build, "--network", "host", "-f", str(dockerfile), "-t", tag]
        for key, value in args.items():
            argv += ["--build-arg", f"{key}={value}"]
        if tag == APP_IMAGE and (bundle := host_ca_bundle()):
            argv += ["--secret", f"id=ca-certificates,src={bundle}"]  # for pip behind a TLS-inspecting proxy
        log(f"building {tag}")
        run([*argv, str(context)], env=build_env, capture=True)
        figure(f"build_{tag.split('/')[-1].split(':')[0]}_s", time.monotonic() - t0, "s")
    size = run(["docker", "image", "inspect", "-f", "{{.Size}}", APP_IMAGE], capture=True).stdout.strip()
    figure("app_image_mb", round(int(size) / 1e6), "MB")
    figure("build_total_s", time.monotonic() - started, "s")


# --- 2. the stack -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """`compose` on the smoke project, with its own env file."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env_file = workdir / "smoke.env"
        self.env_file.write_text(
            "\n".join(
                [
                    f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}",
                    "DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost",
                    # The CLI talks plain HTTP to the loopback port: no TLS proxy in front here.
                    "DJANGO_SECURE_COOKIES=false",
                    "DJANGO_SECURE_SSL_REDIRECT=false",
                    f"POSTGRES_PASSWORD={secrets.token_hex(24)}",
                    f"PENTATHLON_IMAGE={APP_IMAGE}",
                    f"POSTGRES_IMAGE={POSTGRES_IMAGE}",
                    f"REDIS_IMAGE={REDIS_IMAGE}",
                    "PENTATHLON_HTTP_BIND=127.0.0.1",
                    f"PENTATHLON_HTTP_PORT={port}",
                    f"PENTATHLON_UPLOAD_CHUNK_BYTES={SMOKE_CHUNK_BYTES}",
                    "CELERY_STOP_GRACE_PERIOD=60s",
                    "",
                ]
            )
        )
        self.base = [*compose_cli(), "--env-file", str(self.env_file), "-f", str(COMPOSE_FILE), "-p", PROJECT]

    def __call__(self, *args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
        return run([*self.base, *args], check=check, capture=capture, cwd=REPO)

    def container(self, service: str) -> str:
        ids = self("ps", "-q", service).stdout.split()
        if not ids:
            raise SystemExit(f"no container for {service}")
        return ids[0]

    def health(self, service: str) -> str:
        state = run(
            [
                "docker",
                "inspect",
                "-f",
                "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                self.container(service),
            ],
            capture=True,
        ).stdout.split()
        return state[1] if len(state) > 1 else state[0]

    def wait_healthy(self, services: tuple[str, ...] = SERVICES, timeout: float = 600) -> float:
        started = time.monotonic()
        pending = set(services)
        while pending:
            for service in sorted(pending):
                if self.health(service) == "healthy":
                    pending.discard(service)
            if time.monotonic() - started > timeout:
                self("ps", capture=False, check=False)
                raise SystemExit(f"not healthy after {timeout:.0f} s: {sorted(pending)}")
            if pending:
                time.sleep(1)
        return time.monotonic() - started

    def manage(self, *args: str) -> str:
        return self("exec", "-T", "web", "python", "manage.py", *args).stdout

    def submissions(self) -> list[dict[str, Any]]:
        code = (
            "import json; from challenge.models import Submission as S; "
            "print(json.dumps(list(S.objects.order_by('id').values("
            "'id', 'method_name', 'status', 'attempts', 'scored_count', 'error_message'))))"
        )
        out = self.manage("shell", "-c", code)
        return json.loads(out.strip().splitlines()[-1])


def check_loopback_only(stack: Stack) -> None:
    """The only published port is the site's, on 127.0.0.1."""
    published = []
    for service in SERVICES:
        ports = run(["docker", "port", stack.container(service)], capture=True).stdout.split("\n")
        published += [f"{service}: {line.strip()}" for line in ports if line.strip()]
    log("published ports: " + "; ".join(published))
    wrong = [line for line in published if "-> 127.0.0.1:" not in line]
    if wrong or len(published) != 1:
        raise SystemExit(f"the stack must publish only the site, on 127.0.0.1: {published}")
    figure("published_ports", published)


# --- 3. the participant -------------------------------------------------------------------------------


class Participant:
    """The CLI from the host, with its own config directory."""

    def __init__(self, workdir: Path, server: str) -> None:
        self.server = server
        self.env = {"PENTATHLON_CONFIG_DIR": str(workdir / "cli-config"), "PENTATHLON_SERVER": server}
        self.argv = [sys.executable, "-m", "cli.main"]

    def __call__(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess:
        return run([*self.argv, *args], check=check, capture=True, env=self.env, cwd=REPO, input=input)

    def token(self) -> str:
        """The token `pentathlon login` stored for this server."""
        credentials = json.loads((Path(self.env["PENTATHLON_CONFIG_DIR"]) / "credentials.json").read_text())
        return credentials["servers"][self.server]["token"]

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*self.argv, *args],
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def submit(self, phase: int, path: Path, name: str, *extra: str) -> dict[str, Any]:
        return self.json("submit", str(phase), str(path), "--method-name", name, *extra)

    def submit_no_wait(self, phase: int, path: Path, name: str) -> int:
        """The submission's id (`submit --no-wait` prints a sentence, not JSON)."""
        out = self("submit", str(phase), str(path), "--method-name", name, "--no-wait").stdout
        match = re.search(r"Submission #(\d+)", out)
        if not match:
            raise SystemExit(f"no submission id in {out!r}")
        return int(match.group(1))

    def wait(self, submission_id: int, timeout: float = 900) -> dict[str, Any]:
        return self.json("status", str(submission_id), "--wait", "--timeout", str(timeout), "--interval", "1")

    def status(self, submission_id: int) -> dict[str, Any]:
        return self.json("status", str(submission_id))


def build_submissions(
    kit: Path, out: Path, participant: Participant, *, seed: int, dtype: str = "float32"
) -> dict[str, Path]:
    """Similarity matrices of the kit's shapes (random: the participant has no ground truth), packed by the CLI."""
    import numpy as np

    shapes = json.loads((kit / "shapes.json").read_text())["datasets"]
    matrices = out / f"matrices-{seed}"
    matrices.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, shape in shapes.items():
        queries = len((kit / name / "queries.txt").read_text().split())
        videos = len((kit / name / "videos.txt").read_text().split())
        assert (queries, videos) == (shape["num_queries"], shape["num_videos"]), name
        np.save(matrices / f"{name}.npy", rng.standard_normal((queries, videos)).astype(dtype))
    files = {"npz": out / f"submission-{seed}.npz", "zip": out / f"submission-{seed}.zip"}
    participant("pack", str(matrices), "-o", str(files["npz"]), "--kit", str(kit), "--force")
    participant("pack", str(matrices), "-o", str(files["zip"]), "--topk", "10", "--kit", str(kit), "--force")
    return files


def t2v(submission: dict[str, Any]) -> dict[str, tuple[float, ...]]:
    """Text-to-video R@1, R@5, R@10 of each dataset, from the CLI's JSON of a scored submission."""
    datasets = (submission.get("results") or {}).get("datasets") or {}
    return {name: tuple(round(m["t2v"][k], 6) for k in ("R1", "R5", "R10")) for name, m in datasets.items()}


def wait_status(
    participant: Participant,
    submission_id: int,
    wanted: set[str],
    timeout: float = 300,
    interval: float = 0.1,
) -> str:
    """Poll the submission in-process (a CLI run per poll would miss a short stage)."""
    import requests

    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Token {participant.token()}"}
    while time.monotonic() < deadline:
        data = requests.get(
            f"{participant.server}/api/v1/submissions/{submission_id}/", headers=headers, timeout=10
        ).json()
        if data["status"] in wanted:
            return f"{data['status']} ({(data.get('progress') or {}).get('stage', '')})"
        time.sleep(interval)
    raise SystemExit(f"submission {submission_id} never reached {wanted}")


# --- 4. drills ------------------------------------------------------------------------------------


def drill_worker_kill(stack: Stack, participant: Participant, phase: int, path: Path) -> list[int]:
    """SIGKILL the worker container while it scores, start it again: the lease expires, beat re-queues.

    A warm worker scores a validation submission in about a second, so the kill can land after the
    result; the drill then counts as missed and runs again with a new submission.
    """
    ids = []
    for attempt in range(1, 6):
        sub = participant.submit_no_wait(phase, path, f"drill: worker killed while scoring ({attempt})")
        ids.append(sub)
        wait_status(participant, sub, {"running"}, interval=0.02)
        worker = stack.container("worker-cpu")
        killed_at = time.monotonic()
        run(["docker", "kill", worker], capture=True)
        after_kill = participant.status(sub)
        log(f"killed worker-cpu ({worker[:12]}); submission {sub} is {after_kill['status']}")
        run(["docker", "start", worker], capture=True)
        if after_kill["status"] == "running":
            break
        log("the kill came after the result: again with a new submission")
    else:
        raise SystemExit("the worker finished before every kill; no drill ran")
    figure("drill_worker_kill_tries", attempt)
    final = participant.wait(sub)
    figure("drill_worker_kill_recovery_s", time.monotonic() - killed_at, "s (kill to result)")
    figure("drill_worker_kill_worker_healthy_s", stack.wait_healthy(("worker-cpu",)), "s (after the result)")
    if final["status"] != "finished":
        raise SystemExit(f"submission {sub} ended {final['status']}: {final.get('error_message')}")
    return ids


def drill_redis_restart(stack: Stack, participant: Participant, phase: int, path: Path) -> list[int]:
    # The worker is stopped, so the message waits in Redis across the restart (append-only file).
    stack("stop", "worker-cpu")
    queued = participant.submit_no_wait(phase, path, "drill: queued across a Redis restart")
    time.sleep(2)  # appendfsync everysec
    restarted_at = time.monotonic()
    stack("restart", "redis")
    figure("drill_redis_healthy_s", stack.wait_healthy(("redis",)), "s")
    stack("start", "worker-cpu")
    final = participant.wait(queued)
    figure("drill_redis_queued_result_s", time.monotonic() - restarted_at, "s (restart to result)")
    if final["status"] != "finished":
        raise SystemExit(f"queued submission {queued} ended {final['status']}")
    # After the restart: web enqueues and the worker consumes again.
    after = participant.submit(phase, path, "drill: submitted after a Redis restart")
    if after["status"] != "finished":
        raise SystemExit(f"submission {after['id']} after the Redis restart ended {after['status']}")
    figure("drill_redis_services_healthy_s", stack.wait_healthy(), "s (all services, after)")
    return [queued, after["id"]]


def drill_postgres_restart(stack: Stack, participant: Participant, phase: int, path: Path) -> list[int]:
    sub = participant.submit_no_wait(phase, path, "drill: PostgreSQL restarted while scoring")
    seen = wait_status(participant, sub, {"running"}, interval=0.02)
    restarted_at = time.monotonic()
    stack("restart", "postgres")
    log(f"restarted postgres; submission {sub} was {seen} when the restart began")
    figure("drill_postgres_healthy_s", stack.wait_healthy(("postgres",)), "s")
    # The first API requests after the restart: do they fail on connections the restart closed?
    errors = 0
    for _ in range(12):
        probe = participant("challenges", check=False)
        if probe.returncode != 0:
            errors += 1
            log(f"request after the PostgreSQL restart failed: {probe.stderr.strip()[:200]}")
    figure("drill_postgres_failed_requests_after", errors, "of 12 CLI requests")
    final = participant.wait(sub)
    figure("drill_postgres_recovery_s", time.monotonic() - restarted_at, "s (restart to result)")
    if final["status"] != "finished":
        raise SystemExit(f"submission {sub} ended {final['status']}: {final.get('error_message')}")
    after = participant.submit(phase, path, "drill: submitted after a PostgreSQL restart")
    if after["status"] != "finished":
        raise SystemExit(f"submission {after['id']} after the PostgreSQL restart ended {after['status']}")
    figure("drill_postgres_services_healthy_s", stack.wait_healthy(), "s (all services, after)")
    return [sub, after["id"]]


def drill_web_restart(stack: Stack, participant: Participant, phase: int, path: Path, work: Path) -> int:
    """The CLI's chunked upload is paused after a few chunks, web restarts, the CLI carries on or is run again."""
    state = Path(participant.env["PENTATHLON_CONFIG_DIR"]) / "uploads.json"
    argv = ["submit", str(phase), str(path), "--method-name", "drill: web restarted mid-upload",
            "--chunked-above", "1", "--no-wait"]  # fmt: skip
    size = path.stat().st_size
    first = participant.popen(*argv)
    offset = 0
    deadline = time.monotonic() + 120
    while offset < 3 * SMOKE_CHUNK_BYTES:
        if first.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the upload ended before it could be interrupted: {first.communicate()}")
        if state.is_file() and (ids := list(json.loads(state.read_text()).values())):
            offset = upload_offset(participant, ids[0])
        time.sleep(0.05)
    first.send_signal(signal.SIGSTOP)
    offset = upload_offset(participant, ids[0])
    restarted_at = time.monotonic()
    stack("restart", "web")
    figure("drill_web_restart_command_s", time.monotonic() - restarted_at, "s")
    first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    runs = 1
    if first.returncode != 0:
        log(f"the interrupted CLI exited {first.returncode}: {err.strip()[-300:]}")
        healthy = stack.wait_healthy(("web",))
        figure("drill_web_healthy_s", healthy, "s (after the restart)")
        again = participant(*argv)
        runs, out = 2, again.stdout
    sub = int(re.search(r"Submission #(\d+)", out).group(1))
    figure("drill_web_upload_resumed_from_bytes", offset, f"of {size}")
    figure("drill_web_cli_runs", runs)
    figure("drill_web_recovery_s", time.monotonic() - restarted_at, "s (restart to upload complete)")
    final = participant.wait(sub)
    if final["status"] != "finished":
        raise SystemExit(f"submission {sub} ended {final['status']}: {final.get('error_message')}")
    return sub


def upload_offset(participant: Participant, upload_id: str) -> int:
    """The bytes the server holds of a chunked upload, asked the way the CLI asks when it resumes."""
    import requests

    response = requests.get(
        f"{participant.server}/api/v1/uploads/{upload_id}/",
        headers={"Authorization": f"Token {participant.token()}"},
        timeout=10,
    )
    return int(response.json()["offset"]) if response.status_code == 200 else 0


# --- main ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-build", action="store_true", help="use the images already built")
    parser.add_argument("--rebuild-base", action="store_true", help="debootstrap the Debian base again")
    parser.add_argument("--no-drills", action="store_true")
    parser.add_argument("--keep-up", action="store_true", help="leave the stack running (and its volumes)")
    parser.add_argument("--port", type=int, default=0, help="loopback port of the site (default: a free one)")
    args = parser.parse_args(argv)

    total = time.monotonic()
    if not args.skip_build:
        build_images(rebuild_base=args.rebuild_base)
    work = Path(tempfile.mkdtemp(prefix="pentathlon-compose-smoke-"))
    stack = Stack(work, args.port or free_port())
    stack("--profile", "gpu", "config", "--quiet")
    log("compose config (with the gpu profile) is valid")
    stack("down", "-v", "--remove-orphans", check=False)
    ok = False
    try:
        t0 = time.monotonic()
        stack("up", "-d", "--no-build")
        figure("up_returned_s", time.monotonic() - t0, "s")
        stack.wait_healthy()
        figure("time_to_healthy_s", time.monotonic() - t0, "s (up to every healthcheck passing)")
        migrate = run(
            ["docker", "inspect", "-f", "{{.State.ExitCode}}", stack.container("migrate")], capture=True
        ).stdout.strip()
        if migrate != "0":
            raise SystemExit(f"migrate exited {migrate}")
        check_loopback_only(stack)

        t0 = time.monotonic()
        stack.manage("seed_pentathlon", "--scale", "full")
        figure("seed_full_s", time.monotonic() - t0, "s")

        participant = Participant(work, stack.url)
        participant("login", "--username", PARTICIPANT[0], "--password-stdin", input=PARTICIPANT[1] + "\n")
        phases = participant.json("phases", CHALLENGE)
        phase = next(p["id"] for p in phases if p["slug"] == "val")
        t0 = time.monotonic()
        participant("kit", str(phase), "-o", str(work / "kit"))
        figure("kit_download_s", time.monotonic() - t0, "s")
        files = build_submissions(work / "kit", work, participant, seed=1)
        figure("npz_bytes", files["npz"].stat().st_size)
        figure("zip_bytes", files["zip"].stat().st_size)

        results = {}
        for kind, path in files.items():
            t0 = time.monotonic()
            final = participant.submit(phase, path, f"smoke: {kind}", "--kit", str(work / "kit"))
            figure(
                f"submission_to_result_{kind}_s", time.monotonic() - t0, "s (CLI submit, upload to result)"
            )
            if final["status"] != "finished":
                raise SystemExit(f"{kind} submission ended {final['status']}: {final.get('error_message')}")
            results[kind] = participant.json("results", str(final["id"]))
        scores = {kind: t2v(result) for kind, result in results.items()}
        datasets = sorted(scores["npz"])
        log(f"datasets scored: {datasets}; npz overall {results['npz']['results'].get('overall_score')}")
        if len(datasets) != 5 or scores["npz"] != scores["zip"]:
            raise SystemExit(f"results differ between the npz and the zip: {scores}")
        log("the CodaLab zip scored t2v R@1/R@5/R@10 exactly like the npz it was packed from")

        if not args.no_drills:
            # float64: twice the bytes of the float32 one, so scoring lasts long enough to be interrupted.
            big = build_submissions(work / "kit", work, participant, seed=2, dtype="float64")["npz"]
            figure("drill_npz_bytes", big.stat().st_size)
            drill_worker_kill(stack, participant, phase, big)
            drill_redis_restart(stack, participant, phase, files["zip"])
            drill_postgres_restart(stack, participant, phase, big)
            drill_web_restart(stack, participant, phase, big, work)

        time.sleep(5)  # anything still re-delivered would show up as a second score
        rows = stack.submissions()
        lost = [r for r in rows if r["status"] != "finished"]
        twice = [r for r in rows if r["scored_count"] > 1]
        for row in rows:
            log(f"submission {row['id']}: {row['status']}, attempts {row['attempts']}, scored {row['scored_count']}"
                f" ({row['method_name']})")  # fmt: skip
        figure("submissions", len(rows))
        figure("submissions_lost", len(lost))
        figure("submissions_scored_twice", len(twice))
        ok = not lost and not twice
    finally:
        if not ok:
            stack("ps", capture=False, check=False)
            stack("logs", "--tail", "40", capture=False, check=False)
        if not args.keep_up:
            stack("down", "-v", "--remove-orphans", check=False)
            shutil.rmtree(work, ignore_errors=True)
    figure("smoke_total_s", time.monotonic() - total, "s")
    print(json.dumps(FIGURES, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
