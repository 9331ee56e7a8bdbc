"""The production stack end to end: build the images without a registry, `compose up`, score
submissions sent through the participants' CLI, then fault drills. Prints every figure it measures.

    sudo python benchmarks/compose_smoke.py            # or `make compose-smoke`; root: debootstrap, dockerd

Needs a running Docker engine, `docker compose` or `docker-compose`, and (for the first run) debootstrap
and a Debian mirror. The host's Python needs only the CLI's dependencies (numpy, h5py, requests, rich).

1. Images. `pentathlon/debian:bookworm` from `debootstrap --variant=minbase` and `docker import`; on it
   docker/offline/*.Dockerfile make the Python, PostgreSQL, Redis and proxy (nginx) images; docker/Dockerfile makes the
   site's image with PYTHON_IMAGE pointed at the local Python image and without torch (the CPU workers
   score with numpy; torch is only for `train_baseline`); docker/Dockerfile.code-worker adds Debian's
   docker CLI to it for worker-code; docker/Dockerfile.runtime makes the code phase's runtime with
   python3, numpy and h5py only (`python3-numpy`). Layers are cached: a second run builds nothing.
2. `compose up` of the whole stack under its own project name (`pentathlon-smoke`, its own volumes),
   the proxy published on 127.0.0.1 only; waits on every healthcheck; `docker compose config` of the GPU
   profile.
3. Seeds the Video Pentathlon at full scale; as the demo participant, downloads the validation phase's
   starter kit with `pentathlon kit`, builds similarity matrices of the kit's shapes, packs an .npz and a
   CodaLab zip with `pentathlon pack`, submits both with `pentathlon submit` and checks the results
   (every dataset scored; the zip's top-10 lists score R@1/5/10 exactly like the matrices they came from).
   Then the relevance presets (`seed_preset`; a CLI submission each, whose metrics must equal the
   evaluation core's on the same file against the published ground truth, copied from the web
   container) and the code phase on `worker-code` (profile `code`, the docker sandbox through the
   engine's socket): the kit's example program scores; a program that tries the network gets none,
   fails with its own message, and the next program scores on the same worker.
4. Drills, each with its own files (the server refuses a team's repeated file): `docker kill` of the
   CPU worker while it scores, then a restart; Redis restarted while a message waits in its queue;
   PostgreSQL restarted while a submission is scored; web restarted in the middle of a chunked upload
   (the CLI is paused mid-transfer, then run again: it resumes); six uploads that send their headers
   and part of their body, then stall, while a plain GET must still answer through the proxy (and,
   straight to gunicorn inside the web container, once PENTATHLON_REQUEST_BODY_TIMEOUT frees them).
   Every submission must end FINISHED, and scored once (`scored_count == 1`).
5. `compose down -v` (unless --keep-up). Every figure is printed, a failed drill included; the exit
   status is 0 only when every step and every drill held.
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
from collections.abc import Callable
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
PROXY_IMAGE = "pentathlon/proxy:bookworm"
APP_IMAGE = "pentathlon:smoke"
CODE_WORKER_IMAGE = "pentathlon-code-worker:smoke"
#: The runtime of the smoke's code phase: Debian's Python with numpy and h5py, no torch (python3-torch
#: from Debian is a large download; the example program needs numpy only).
RUNTIME_IMAGE = "pentathlon-runtime:numpy-smoke"
RUNTIME_NAME = "python3-numpy"
RUNTIME_PACKAGES = "python3 python3-numpy python3-h5py"
SERVICES = ("postgres", "redis", "web", "proxy", "worker-cpu", "worker-code", "beat")
PARTICIPANT = ("participant", "pentathlon-participant")
CHALLENGE = "video-pentathlon"
#: Relevance presets seeded beside the Pentathlon: several relevant items per query, then graded relevance.
PRESETS = (("dcase-audio-retrieval", "full"), ("epic-kitchens-mir", "tiny"))
#: Server and local scores may differ by float rounding only (the metrics are in percent).
METRIC_TOLERANCE = 1e-4
#: The server's chunk size in the smoke stack: many chunks, so a restart lands mid-upload.
SMOKE_CHUNK_BYTES = 2 * 1024**2
#: Uploads left stalled in the slow-body drill: gunicorn's 3 workers x 2 threads.
STALLED_UPLOADS = 6
#: The app server's body read timeout in the smoke stack (short, so the direct check is quick).
SMOKE_BODY_TIMEOUT_S = 5
#: A plain GET must answer within this while uploads stall.
STALLED_GET_LIMIT_S = 5.0

FIGURES: dict[str, Any] = {}
DRILLS: dict[str, str] = {}


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
    base_env: dict[str, str] | None = None,
    **kw: Any,
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        argv,
        check=False,
        text=True,
        capture_output=capture,
        env={**(os.environ if base_env is None else base_env), **(env or {})},
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
        (PROXY_IMAGE, OFFLINE / "nginx.Dockerfile", OFFLINE, {"DEBIAN_IMAGE": DEBIAN_IMAGE}),
        # TORCH_VERSION empty: no torch in the image (see docker/Dockerfile).
        (
            APP_IMAGE,
            REPO / "docker" / "Dockerfile",
            REPO,
            {"PYTHON_IMAGE": PYTHON_IMAGE, "TORCH_VERSION": ""},
        ),
        # worker-code: the site image plus Debian's docker CLI; its jobs run in the runtime's image.
        (
            CODE_WORKER_IMAGE,
            REPO / "docker" / "Dockerfile.code-worker",
            REPO / "docker",
            {"PENTATHLON_IMAGE": APP_IMAGE},
        ),
        (
            RUNTIME_IMAGE,
            REPO / "docker" / "Dockerfile.runtime",
            REPO / "docker",
            {"DEBIAN_IMAGE": DEBIAN_IMAGE, "RUNTIME_PACKAGES": RUNTIME_PACKAGES},
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
        figure(f"build_{tag.split('/')[-1].split(':')[0].replace('-', '_')}_s", time.monotonic() - t0, "s")
    size = run(["docker", "image", "inspect", "-f", "{{.Size}}", APP_IMAGE], capture=True).stdout.strip()
    figure("app_image_mb", round(int(size) / 1e6), "MB")
    figure("build_total_s", time.monotonic() - started, "s")


# --- 2. the stack -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: Variables of the host's shell that compose would put above the smoke's env file (CI exports
#: DATABASE_URL and REDIS_URL for the suite's own servers, for one): compose never sees them.
_HOST_SETTINGS = ("DJANGO_", "PENTATHLON_", "POSTGRES_", "CELERY_", "GUNICORN_", "AWS_", "COMPOSE_")
_HOST_URLS = {"DATABASE_URL", "REDIS_URL", "CACHE_URL", "PROXY_IMAGE"}


def compose_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_HOST_SETTINGS) and name not in _HOST_URLS
    }


class Stack:
    """`compose` on the smoke project, with its own env file (and none of the host's settings)."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env_file = workdir / "smoke.env"
        # worker-code's jobs: a host directory at the same path inside it (`docker run -v` is the host's).
        self.job_dir = workdir / "sandbox-jobs"
        self.job_dir.mkdir(exist_ok=True)
        runtimes = {
            RUNTIME_NAME: {
                "description": "Debian's Python 3.11 with numpy and h5py (the smoke's runtime, no torch)",
                "python": "/usr/bin/python3",
                "image": RUNTIME_IMAGE,
                "packages": ["numpy", "h5py"],
            }
        }
        self.env_file.write_text(
            "\n".join(
                [
                    f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}",
                    "DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost",
                    # The CLI talks plain HTTP to the loopback port: no TLS proxy in front of the
                    # stack's own proxy here, so it is the only one that appends X-Forwarded-For.
                    "DJANGO_SECURE_COOKIES=false",
                    "DJANGO_SECURE_SSL_REDIRECT=false",
                    "PENTATHLON_NUM_PROXIES=1",
                    f"PENTATHLON_REQUEST_BODY_TIMEOUT={SMOKE_BODY_TIMEOUT_S}",
                    f"POSTGRES_PASSWORD={secrets.token_hex(24)}",
                    f"PENTATHLON_IMAGE={APP_IMAGE}",
                    f"POSTGRES_IMAGE={POSTGRES_IMAGE}",
                    f"REDIS_IMAGE={REDIS_IMAGE}",
                    f"PROXY_IMAGE={PROXY_IMAGE}",
                    "PENTATHLON_HTTP_BIND=127.0.0.1",
                    f"PENTATHLON_HTTP_PORT={port}",
                    f"PENTATHLON_UPLOAD_CHUNK_BYTES={SMOKE_CHUNK_BYTES}",
                    "CELERY_STOP_GRACE_PERIOD=60s",
                    "PENTATHLON_CODE_QUEUE=code",
                    f"PENTATHLON_CODE_WORKER_IMAGE={CODE_WORKER_IMAGE}",
                    f"PENTATHLON_SANDBOX_JOB_DIR={self.job_dir}",
                    f"PENTATHLON_SANDBOX_DEFAULT_RUNTIME={RUNTIME_NAME}",
                    "",
                ]
            )
        )
        self.base = [*compose_cli(), "--env-file", str(self.env_file), "-f", str(COMPOSE_FILE), "-p", PROJECT]
        self.base += ["--profile", "code"]  # worker-code, with the engine's socket
        # JSON from the environment, not the env file: docker-compose 1.x's dotenv cannot parse it there.
        self.env = {"PENTATHLON_SANDBOX_RUNTIMES": json.dumps(runtimes)}

    def __call__(
        self, *args: str, check: bool = True, capture: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess:
        return run(
            [*self.base, *args],
            check=check,
            capture=capture,
            cwd=REPO,
            input=input,
            env=self.env,
            base_env=compose_env(),
        )

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
    """The only published port is the proxy's, on 127.0.0.1: gunicorn is reached only through it."""
    published = []
    for service in SERVICES:
        ports = run(["docker", "port", stack.container(service)], capture=True).stdout.split("\n")
        published += [f"{service}: {line.strip()}" for line in ports if line.strip()]
    log("published ports: " + "; ".join(published))
    wrong = [line for line in published if "-> 127.0.0.1:" not in line or not line.startswith("proxy:")]
    if wrong or len(published) != 1:
        raise SystemExit(f"the stack must publish only the proxy, on 127.0.0.1: {published}")
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
    kit: Path,
    out: Path,
    participant: Participant,
    *,
    seed: int,
    dtype: str = "float32",
    kinds: tuple[str, ...] = ("npz", "zip"),
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
    files = {kind: out / f"submission-{seed}.{kind}" for kind in kinds}
    for kind, path in files.items():
        topk = ["--topk", "10"] if kind == "zip" else []
        participant("pack", str(matrices), "-o", str(path), *topk, "--kit", str(kit), "--force")
    shutil.rmtree(matrices)
    return files


class FreshFiles:
    """A new file for each submission of the drills: the server refuses a team's repeated file (409)."""

    def __init__(self, kit: Path, out: Path, participant: Participant) -> None:
        self.kit, self.out, self.participant = kit, out, participant
        self.seed = 100

    def __call__(self, kind: str = "npz", dtype: str = "float64") -> Path:
        """float64 by default: twice the bytes of float32, so scoring lasts long enough to be interrupted."""
        self.seed += 1
        return build_submissions(
            self.kit, self.out, self.participant, seed=self.seed, dtype=dtype, kinds=(kind,)
        )[kind]


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


def drill_worker_kill(stack: Stack, participant: Participant, phase: int, fresh: FreshFiles) -> list[int]:
    """SIGKILL the worker container while it scores, start it again: the lease expires, beat re-queues.

    A warm worker scores a validation submission in about a second, so the kill can land after the
    result; the drill then counts as missed and runs again with a new submission.
    """
    ids = []
    for attempt in range(1, 6):
        sub = participant.submit_no_wait(phase, fresh(), f"drill: worker killed while scoring ({attempt})")
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


def drill_redis_restart(stack: Stack, participant: Participant, phase: int, fresh: FreshFiles) -> list[int]:
    # The worker is stopped, so the message waits in Redis across the restart (append-only file).
    queued_file, after_file = fresh("zip"), fresh("zip")
    stack("stop", "worker-cpu")
    queued = participant.submit_no_wait(phase, queued_file, "drill: queued across a Redis restart")
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
    after = participant.submit(phase, after_file, "drill: submitted after a Redis restart")
    if after["status"] != "finished":
        raise SystemExit(f"submission {after['id']} after the Redis restart ended {after['status']}")
    figure("drill_redis_services_healthy_s", stack.wait_healthy(), "s (all services, after)")
    return [queued, after["id"]]


def drill_postgres_restart(
    stack: Stack, participant: Participant, phase: int, fresh: FreshFiles
) -> list[int]:
    after_file = fresh()
    sub = participant.submit_no_wait(phase, fresh(), "drill: PostgreSQL restarted while scoring")
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
    after = participant.submit(phase, after_file, "drill: submitted after a PostgreSQL restart")
    if after["status"] != "finished":
        raise SystemExit(f"submission {after['id']} after the PostgreSQL restart ended {after['status']}")
    figure("drill_postgres_services_healthy_s", stack.wait_healthy(), "s (all services, after)")
    return [sub, after["id"]]


def drill_web_restart(stack: Stack, participant: Participant, phase: int, fresh: FreshFiles) -> int:
    """The CLI's chunked upload is paused after a few chunks, web restarts, the CLI carries on or is run again."""
    path = fresh()
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


#: Run inside the web container (`python -`): STALLED uploads straight to gunicorn, then a timed GET.
_DIRECT_STALL = """
import json, socket, sys, time, urllib.request
count, token, host, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
head = (
    "POST /api/v1/submissions/create/ HTTP/1.1\\r\\nHost: %s\\r\\nAuthorization: Token %s\\r\\n"
    "Content-Type: multipart/form-data; boundary=stall\\r\\nContent-Length: 1000000\\r\\n\\r\\n"
    "--stall\\r\\nContent-Disposition: form-data; name=\\"file\\"; filename=\\"s.npz\\"\\r\\n\\r\\n" % (host, token)
).encode() + b"x" * 1000
stalled = [socket.create_connection(("127.0.0.1", 8000), timeout=120) for _ in range(count)]
for sock in stalled:
    sock.sendall(head)
time.sleep(1)
started = time.monotonic()
request = urllib.request.Request("http://127.0.0.1:8000/api/v1/challenges/", headers={"Host": host})
try:
    status = urllib.request.urlopen(request, timeout=limit).status
except Exception as exc:
    status = repr(exc)
elapsed = time.monotonic() - started
answers = []
for sock in stalled:
    try:
        answers.append(sock.recv(64).split(b"\\r\\n")[0].decode())
    except OSError as exc:
        answers.append(repr(exc))
    sock.close()
print(json.dumps({"get_s": elapsed, "get_status": status, "stalled_answers": answers}))
"""


def stalled_upload(server: str, token: str) -> socket.socket:
    """An upload that sends its headers and the first 64 KiB of a 64 MiB multipart body, then nothing."""
    host, port = server.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = (
        f"POST /api/v1/submissions/create/ HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Token {token}\r\n"
        "Content-Type: multipart/form-data; boundary=stall\r\nContent-Length: 67108864\r\n\r\n"
        '--stall\r\nContent-Disposition: form-data; name="file"; filename="stalled.npz"\r\n\r\n'
    )
    sock.sendall(head.encode() + secrets.token_bytes(64 * 1024))
    return sock


def drill_stalled_uploads(stack: Stack, participant: Participant) -> None:
    """Six uploads stall mid-body: through the proxy a plain GET answers at once (nginx holds the bodies,
    gunicorn never sees them); straight to gunicorn the body read timeout frees its threads."""
    import requests

    token = participant.token()
    stalled = [stalled_upload(participant.server, token) for _ in range(STALLED_UPLOADS)]
    try:
        time.sleep(2)  # whatever they would hold, they hold now
        started = time.monotonic()
        try:
            status = requests.get(f"{stack.url}/api/v1/challenges/", timeout=60).status_code
        except requests.RequestException as exc:
            status = repr(exc)
        elapsed = time.monotonic() - started
        figure("drill_stalled_uploads", STALLED_UPLOADS, "uploads stalled mid-body through the proxy")
        figure(
            "drill_stalled_uploads_get_ms",
            elapsed * 1000,
            f"ms (a plain GET through the proxy, status {status})",
        )
        started = time.monotonic()
        challenges = participant("challenges", check=False)
        figure(
            "drill_stalled_uploads_cli_s", time.monotonic() - started, "s (`pentathlon challenges` meanwhile)"
        )
    finally:
        for sock in stalled:
            sock.close()
    if status != 200 or elapsed > STALLED_GET_LIMIT_S or challenges.returncode != 0:
        raise SystemExit(
            f"with {STALLED_UPLOADS} stalled uploads a GET took {elapsed:.1f} s (status {status}); "
            f"the limit is {STALLED_GET_LIMIT_S:.0f} s"
        )
    # Straight to gunicorn (inside the web container): the read timeout ends each stalled body.
    limit = 3 * SMOKE_BODY_TIMEOUT_S + 10
    direct = stack(
        "exec", "-T", "web", "python", "-", str(STALLED_UPLOADS), token, "127.0.0.1", str(limit),
        input=_DIRECT_STALL,
    )  # fmt: skip
    result = json.loads(direct.stdout.strip().splitlines()[-1])
    figure(
        "drill_stalled_direct_get_s",
        result["get_s"],
        f"s (a GET straight to gunicorn, status {result['get_status']}, body timeout {SMOKE_BODY_TIMEOUT_S} s)",
    )
    figure("drill_stalled_direct_answers", sorted(set(result["stalled_answers"])))
    if result["get_status"] != 200:
        raise SystemExit(f"straight to gunicorn, the GET got no answer within {limit} s: {result}")


def upload_offset(participant: Participant, upload_id: str) -> int:
    """The bytes the server holds of a chunked upload, asked the way the CLI asks when it resumes."""
    import requests

    response = requests.get(
        f"{participant.server}/api/v1/uploads/{upload_id}/",
        headers={"Authorization": f"Token {participant.token()}"},
        timeout=10,
    )
    return int(response.json()["offset"]) if response.status_code == 200 else 0


# --- 5. relevance presets and code phases ------------------------------------------------------------

#: Submissions meant to fail (the hostile program): left out of the final "every submission finished".
EXPECTED_FAILURES: set[int] = set()

#: Run inside the web container (`manage.py shell`): the phase's ground truth as the workers score
#: against it (blind ids and order), written where `docker cp` takes it. The operator's view.
_PUBLISHED_TRUTH = """
from challenge.models import Phase
from challenge.publication import published_truth_from_file
from challenge.services.files import local_path
from evaluation.ground_truth import write_ground_truth
phase = Phase.objects.get(challenge__slug="{slug}", slug="val")
with local_path(phase.ground_truth) as path:
    write_ground_truth("{out}", published_truth_from_file(phase=phase, path=path))
print(phase.challenge.primary_metric)
"""

#: The operator's view of one submission: its queue, program run and stored result.
_SUBMISSION_ROW = """
import json
from challenge.models import Submission
row = Submission.objects.select_related("result").get(id={id})
result = getattr(row, "result", None)
print(json.dumps({{"status": row.status, "queue": row.queue, "run": row.program_run,
    "error": row.error_message, "primary_score": result.primary_score if result else None}}))
"""


def submission_row(stack: Stack, submission_id: int) -> dict[str, Any]:
    out = stack.manage("shell", "-c", _SUBMISSION_ROW.format(id=submission_id))
    return json.loads(out.strip().splitlines()[-1])


def check_preset(stack: Stack, participant: Participant, work: Path, key: str, scale: str) -> None:
    """Seed a relevance preset, submit through the CLI, and compare the server's metrics with the
    evaluation core's own, run here on the same file against the published ground truth."""
    from evaluation.metrics.registry import METRIC_KEYS
    from evaluation.presets import preset

    spec = preset(key)
    t0 = time.monotonic()
    stack.manage("seed_preset", key, "--scale", scale)
    figure(f"preset_{key}_seed_s", time.monotonic() - t0, f"s ({scale} scale)")
    phase = next(p["id"] for p in participant.json("phases", key) if p["slug"] == "val")
    kit = work / f"kit-{key}"
    participant("kit", str(phase), "-o", str(kit))
    path = build_submissions(kit, work / key, participant, seed=7, kinds=("npz",))["npz"]
    t0 = time.monotonic()
    final = participant.submit(phase, path, f"smoke: {key}", "--kit", str(kit))
    figure(f"preset_{key}_submission_to_result_s", time.monotonic() - t0, "s (CLI submit, upload to result)")
    if final["status"] != "finished":
        raise SystemExit(f"{key}: submission ended {final['status']}: {final.get('error_message')}")
    server = participant.json("results", str(final["id"]))["results"]
    inside = f"/tmp/smoke-truth-{key}.h5"
    primary = (
        stack.manage("shell", "-c", _PUBLISHED_TRUTH.format(slug=key, out=inside)).strip().splitlines()[-1]
    )
    truth = work / f"truth-{key}.h5"
    run(["docker", "cp", f"{stack.container('web')}:{inside}", str(truth)], capture=True)
    wanted = tuple(dict.fromkeys((spec.primary_metric, *spec.metrics)))
    relevance = [m for m in wanted if m not in METRIC_KEYS]  # declared cut-offs (mAP@16) included
    scored = run(
        [sys.executable, "-m", "evaluation", "score", "--submission", str(path), "--ground-truth", str(truth),
         "--json", *(["--metrics", ",".join(relevance)] if relevance else [])],
        capture=True, cwd=REPO, env={"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    local = json.loads(scored.stdout)
    truth.unlink()
    if primary != spec.primary_metric:
        raise SystemExit(f"{key}: the challenge ranks by {primary}, the preset by {spec.primary_metric}")
    mismatches, shown = [], {}
    for name, dataset in local["datasets"].items():
        theirs = ((server.get("datasets") or {}).get(name) or {}).get("t2v") or {}
        for metric in wanted:
            ours = dataset["t2v"].get(metric)
            value = theirs.get(metric)
            if ours is None or value is None or abs(float(value) - float(ours)) > METRIC_TOLERANCE:
                mismatches.append(f"{name} {metric}: server {value}, local {ours}")
            elif not 0.0 <= float(value) <= 100.0:
                mismatches.append(f"{name} {metric}: {value} is not a percentage")
            shown[f"{name} {metric}"] = None if value is None else round(float(value), 4)
    figure(f"preset_{key}_metrics", shown)
    if mismatches:
        raise SystemExit(f"{key}: the server's metrics differ from the evaluation core's: {mismatches}")
    log(f"{key}: the server's {', '.join(wanted)} equal the evaluation core's on the same file")


#: A program that tries the network from inside the sandbox: web by name and by address, and outside.
_HOSTILE_PROGRAM = """
import socket, sys
reached = []
for host, port in {targets!r}:
    try:
        socket.create_connection((host, port), timeout=5).close()
        reached.append(f"{{host}}:{{port}}")
        print(f"CONNECTED to {{host}}:{{port}}", file=sys.stderr)
    except OSError as exc:
        print(f"no connection to {{host}}:{{port}}: {{exc}}", file=sys.stderr)
sys.exit("the sandbox let the program connect" if reached else "no network from the sandbox")
"""


def program_zip(path: Path, source: str) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("main.py", source)
    return path


def check_code_phase(stack: Stack, participant: Participant, work: Path) -> None:
    """The kit's example program runs in a container of the runtime's image started by worker-code
    through the engine's socket, and scores; a program that tries the network gets none, and fails
    with its own message; the worker lives on and the next program scores."""
    phase = next(p["id"] for p in participant.json("phases", CHALLENGE) if p["slug"] == "test-code")
    kit = work / "kit-code"
    participant("kit", str(phase), "-o", str(kit))
    example = (kit / "main.py").read_text()
    worker = stack.container("worker-code")
    # The engine's start of a sandbox-like container, asked from inside worker-code with its own CLI.
    t0 = time.monotonic()
    stack("exec", "-T", "worker-code", "docker", "run", "--rm", "--network", "none", "--read-only",
          "--entrypoint", "/usr/bin/python3", RUNTIME_IMAGE, "-c", "pass")  # fmt: skip
    figure("code_container_start_s", time.monotonic() - t0, "s (docker run of the runtime from worker-code)")

    t0 = time.monotonic()
    final = participant.submit(phase, program_zip(work / "program-1.zip", example), "smoke: example program")
    figure(
        "code_submission_to_result_s", time.monotonic() - t0, "s (CLI submit of the kit's program to result)"
    )
    row = submission_row(stack, final["id"])
    run_info = row["run"] or {}
    figure(
        "code_program_wall_s", float(run_info.get("wall_s") or 0.0), "s (the program's run in the sandbox)"
    )
    figure("code_program_peak_memory_mb", round((run_info.get("peak_memory_bytes") or 0) / 1e6), "MB")
    log(f"code run: queue {row['queue']}, backend {run_info.get('backend')}, {run_info.get('hardware')}")
    if final["status"] != "finished" or row["primary_score"] is None:
        raise SystemExit(f"the example program ended {final['status']}: {row}")
    if row["queue"] != "code" or run_info.get("backend") != "docker":
        raise SystemExit(f"the program did not run on worker-code's docker sandbox: {row}")
    figure("code_example_primary_score", row["primary_score"])

    web_ip = run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
         stack.container("web")],
        capture=True,
    ).stdout.split()[0]  # fmt: skip
    targets = [("web", 8000), (web_ip, 8000), ("1.1.1.1", 53)]
    hostile = program_zip(work / "program-hostile.zip", _HOSTILE_PROGRAM.format(targets=targets))
    t0 = time.monotonic()
    # It fails on purpose: the CLI prints the final JSON, then exits 2 (rejected).
    argv = ["submit", str(phase), str(hostile), "--method-name", "smoke: program that tries the network"]
    done = participant(*argv, "--json", check=False)
    if done.returncode not in (0, 2):
        raise SystemExit(f"the hostile program's submission: {done.stderr.strip()[-500:]}")
    final = json.loads(done.stdout)
    EXPECTED_FAILURES.add(final["id"])
    figure("code_hostile_to_result_s", time.monotonic() - t0, "s")
    row = submission_row(stack, final["id"])
    stderr = (row["run"] or {}).get("stderr", "")
    log(f"hostile program: {final['status']}; participant sees {final.get('error_message')!r}; "
        f"its stderr: {stderr.strip()!r}")  # fmt: skip
    figure("code_hostile_stderr", stderr.strip().splitlines())
    if "CONNECTED" in stderr or "no network from the sandbox" not in stderr or final["status"] != "failed":
        raise SystemExit(f"the hostile program's run: {final['status']}, {row}")
    if stack.container("worker-code") != worker or stack.health("worker-code") != "healthy":
        raise SystemExit("worker-code did not survive the hostile program")

    again = example + "\n# the same program again (a new file: the server refuses a team's repeated file)\n"
    t0 = time.monotonic()
    final = participant.submit(
        phase, program_zip(work / "program-2.zip", again), "smoke: example program again"
    )
    figure("code_after_hostile_to_result_s", time.monotonic() - t0, "s")
    row = submission_row(stack, final["id"])
    if final["status"] != "finished" or row["primary_score"] is None:
        raise SystemExit(f"after the hostile program, the example ended {final['status']}: {row}")


def run_checks(stack: Stack, participant: Participant, work: Path, args: argparse.Namespace) -> None:
    """The relevance presets and the code phase, each recorded in DRILLS like a drill."""
    checks = {}
    if not args.skip_presets:
        for key, scale in PRESETS:
            checks[f"preset_{key}"] = lambda key=key, scale=scale: check_preset(
                stack, participant, work, key, scale
            )
    if not args.skip_code:
        checks["code_phase_docker_sandbox"] = lambda: check_code_phase(stack, participant, work)
    run_recorded("check", checks)


# --- main ---------------------------------------------------------------------------------------------


def run_recorded(
    kind: str, steps: dict[str, Callable[[], object]], after_failure: Callable[[], None] | None = None
) -> None:
    """Run every step, whatever the one before it did; DRILLS records which held."""
    for name, step in steps.items():
        log(f"{kind} {name}")
        try:
            step()
        except (SystemExit, subprocess.SubprocessError, OSError, ValueError, KeyError) as exc:
            DRILLS[name] = f"FAILED: {exc}"
            log(f"{kind} {name} FAILED: {exc}")
            if after_failure is not None:
                after_failure()
        else:
            DRILLS[name] = "held"
            log(f"{kind} {name} held")


def run_drills(stack: Stack, participant: Participant, phase: int, fresh: FreshFiles) -> None:
    """Every drill runs, whatever the one before it did; DRILLS says which held."""
    drills = {
        "worker_kill": lambda: drill_worker_kill(stack, participant, phase, fresh),
        "redis_restart": lambda: drill_redis_restart(stack, participant, phase, fresh),
        "postgres_restart": lambda: drill_postgres_restart(stack, participant, phase, fresh),
        "web_restart": lambda: drill_web_restart(stack, participant, phase, fresh),
        "stalled_uploads": lambda: drill_stalled_uploads(stack, participant),
    }

    def whole_again() -> None:
        # The next drill starts from a whole stack again (a failed drill may leave a service stopped).
        stack("up", "-d", "--no-build", check=False)
        stack.wait_healthy()

    run_recorded("drill", drills, after_failure=whole_again)


def smoke(args: argparse.Namespace, stack: Stack, work: Path) -> bool:
    """Steps 2 to 4; True when every step and every drill held (a failed step raises SystemExit)."""
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
        figure(f"submission_to_result_{kind}_s", time.monotonic() - t0, "s (CLI submit, upload to result)")
        if final["status"] != "finished":
            raise SystemExit(f"{kind} submission ended {final['status']}: {final.get('error_message')}")
        results[kind] = participant.json("results", str(final["id"]))
    scores = {kind: t2v(result) for kind, result in results.items()}
    datasets = sorted(scores["npz"])
    log(f"datasets scored: {datasets}; npz overall {results['npz']['results'].get('overall_score')}")
    if len(datasets) != 5 or scores["npz"] != scores["zip"]:
        raise SystemExit(f"results differ between the npz and the zip: {scores}")
    log("the CodaLab zip scored t2v R@1/R@5/R@10 exactly like the npz it was packed from")

    run_checks(stack, participant, work, args)

    if not args.no_drills:
        fresh = FreshFiles(work / "kit", work, participant)
        t0 = time.monotonic()
        figure("drill_npz_bytes", fresh().stat().st_size)
        figure("drill_file_build_s", time.monotonic() - t0, "s (one float64 npz, packed by the CLI)")
        run_drills(stack, participant, phase, fresh)

    time.sleep(5)  # anything still re-delivered would show up as a second score
    rows = stack.submissions()
    lost = [r for r in rows if r["status"] != "finished" and r["id"] not in EXPECTED_FAILURES]
    twice = [r for r in rows if r["scored_count"] > 1]
    for row in rows:
        log(f"submission {row['id']}: {row['status']}, attempts {row['attempts']}, scored {row['scored_count']}"
            f" ({row['method_name']})")  # fmt: skip
    figure("submissions", len(rows))
    figure("submissions_lost", len(lost))
    figure("submissions_scored_twice", len(twice))
    return not lost and not twice and all(state == "held" for state in DRILLS.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-build", action="store_true", help="use the images already built")
    parser.add_argument("--rebuild-base", action="store_true", help="debootstrap the Debian base again")
    parser.add_argument("--no-drills", action="store_true")
    parser.add_argument("--skip-presets", action="store_true", help="no relevance preset checks")
    parser.add_argument("--skip-code", action="store_true", help="no code phase (docker sandbox) checks")
    parser.add_argument("--keep-up", action="store_true", help="leave the stack running (and its volumes)")
    parser.add_argument("--port", type=int, default=0, help="loopback port of the site (default: a free one)")
    args = parser.parse_args(argv)

    total = time.monotonic()
    ok = False
    stack: Stack | None = None
    work = Path(tempfile.mkdtemp(prefix="pentathlon-compose-smoke-"))
    try:
        if not args.skip_build:
            build_images(rebuild_base=args.rebuild_base)
        stack = Stack(work, args.port or free_port())
        stack("--profile", "gpu", "config", "--quiet")
        log("compose config (with the gpu and code profiles) is valid")
        stack("down", "-v", "--remove-orphans", check=False)
        ok = smoke(args, stack, work)
    except SystemExit as exc:  # a failed step: the figures so far are still printed
        FIGURES["failed_step"] = str(exc)
        log(f"FAILED: {exc}")
    finally:
        if stack is not None and not ok:
            stack("ps", capture=False, check=False)
            stack("logs", "--tail", "40", capture=False, check=False)
        if stack is not None and not args.keep_up:
            stack("down", "-v", "--remove-orphans", check=False)
        if not args.keep_up:
            shutil.rmtree(work, ignore_errors=True)
    FIGURES["drills"] = DRILLS
    figure("smoke_total_s", time.monotonic() - total, "s")
    print(json.dumps(FIGURES, indent=2, default=str))
    log("every step and every drill held" if ok else "the smoke run FAILED (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
