"""Real processes for integration tests: `manage.py`, a gunicorn web server and a Celery worker.

Nothing here is mocked: the web server and the worker are separate OS processes that talk through
the real database (SQLite file or PostgreSQL) and the real broker (filesystem or Redis).
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from functools import cache
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
#: Generous upper bounds for start-up and scoring on a loaded 2-core machine (not assertions on speed).
START_TIMEOUT_S = 120
FINISH_TIMEOUT_S = 240
PARTICIPANT = ("participant", "pentathlon-participant")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@cache
def _embedded_template() -> Path:
    """A var folder that `manage.py migrate` and `seed_pentathlon --scale tiny` wrote, once per process."""
    template = Path(tempfile.mkdtemp(prefix="pentathlon-embedded-var-"))
    atexit.register(shutil.rmtree, template, ignore_errors=True)
    stack = Stack(template, database_url=f"sqlite:///{template / 'db.sqlite3'}")
    stack.manage("migrate", "--no-input", "-v", "0")
    stack.manage("seed_pentathlon", "--scale", "tiny")
    return template


def embedded_var(var: Path) -> str:
    """Make `var` the folder of an embedded stack (SQLite file, private files) as `manage.py migrate` and
    `seed_pentathlon --scale tiny` leave it; returns its DATABASE_URL.

    Both commands run once per test process, into a template folder that each stack then copies: they
    took about 6 s of CPU a stack, the same work each time. The copy is what the commands would write:
    the database names its files relative to the folder, and the board cache is left behind."""
    shutil.copytree(_embedded_template(), var, ignore=shutil.ignore_patterns("cache"), dirs_exist_ok=True)
    return f"sqlite:///{var / 'db.sqlite3'}"


class Stack:
    """migrate + seed, then a web server and a worker, all configured only through the environment."""

    def __init__(
        self,
        root: Path,
        *,
        database_url: str,
        broker_url: str | None = None,
        web_workers: int = 1,
        web_threads: int = 4,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.web_workers, self.web_threads = web_workers, web_threads
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []
        queue = f"evaluations-{uuid.uuid4().hex[:8]}"
        # An embedded stack (SQLite) shares nothing: not the suite's Redis either, so that it may run
        # beside the PostgreSQL and Redis stacks (conftest.SERIAL_GROUPS).
        shared = ("REDIS_URL", "CACHE_URL") if database_url.startswith("sqlite") else ()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "CELERY_", "PENTATHLON_", "DATABASE_URL", *shared))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.dev",
                "DJANGO_DEBUG": "false",
                "DATABASE_URL": database_url,
                "PENTATHLON_VAR_DIR": str(root),
                "CELERY_TASK_DEFAULT_QUEUE": queue,
                "PENTATHLON_CPU_QUEUE": f"{queue}-cpu",
                "PENTATHLON_GPU_QUEUE": f"{queue}-gpu",
                "PYTHONPATH": str(REPO),
                "PYTHONUNBUFFERED": "1",
                "OMP_NUM_THREADS": "1",
            }
        )
        if broker_url:
            env["CELERY_BROKER_URL"] = broker_url
        env.update(extra_env or {})
        self.env = env

    # --- processes ---------------------------------------------------------------------------------
    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def phase_publication(self, slug: str) -> tuple[str, bytes]:
        """The seeded phase's query order and secret: what the organisers' own server knows."""
        code = (
            "from challenge.models import Phase; "
            f"p = Phase.objects.get(challenge__slug='video-pentathlon', slug='{slug}'); "
            "print(p.query_order, p.blinding_secret)"
        )
        query_order, secret = self.manage("shell", "-c", code).split()[-2:]
        return query_order, bytes.fromhex(secret)

    def published_truth(self, slug: str, truth=None):
        """The seeded phase's ground truth (`truth`, default the tiny seed's) as the phase publishes it,
        so tests can build submissions of known quality in the published order."""
        from evaluation.blinding import publish_ground_truth
        from evaluation.synthetic import pentathlon_ground_truth

        query_order, secret = self.phase_publication(slug)
        truth = truth or pentathlon_ground_truth(phase=slug, scale="tiny", seed=0)
        return publish_ground_truth(truth, query_order=query_order, secret=secret)

    def _spawn(self, name: str, argv: list[str], *, own_group: bool = False) -> subprocess.Popen:
        log = self.root / f"{name}.log"
        handle = open(log, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv, cwd=REPO, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=own_group
        )
        self.procs.append((name, proc, log))
        return proc

    def start_web(self) -> None:
        self._spawn(
            "web",
            [
                PYTHON,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.web_workers),
                "--threads",
                str(self.web_threads),
                "--timeout",
                "120",
                "--graceful-timeout",
                "5",
            ],
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            self._check_alive()
            try:
                if requests.get(f"{self.base_url}/api/v1/challenges/", timeout=5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still importing
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not answer:\n{self.logs()}")
            time.sleep(0.3)

    def start_worker(
        self,
        name: str = "worker",
        *,
        wait: bool = True,
        pool: str = "solo",
        embedded_beat: bool = False,
        include: str | None = None,
    ) -> subprocess.Popen:
        """A Celery worker. `pool="prefork"` runs one pool child (as `bin/demo` does); `embedded_beat`
        adds `-B` (the periodic sweeper in the worker, as `bin/demo` does); `include` imports a module
        into it (a fault injector such as `tests.integration.slow_scoring`). Its own process group, so
        `kill_group` stops the whole worker (pool children and embedded beat too)."""
        extra = ["-P", pool] + (["--concurrency", "1"] if pool == "prefork" else [])
        extra += ["-B"] if embedded_beat else []
        extra += ["--include", include] if include else []
        log = self.root / f"{name}.log"
        if log.exists():  # a restarted worker: keep the old log, look for "ready." in the new one
            log.rename(self.root / f"{name}-{time.time():.0f}.log")
        proc = self._spawn(
            name,
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                *extra,
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{name}-{uuid.uuid4().hex[:6]}@%h",
            ],
            own_group=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while wait and b"ready." not in log.read_bytes():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{self.logs()}")
            time.sleep(0.3)
        return proc

    def start_beat(self) -> subprocess.Popen:
        """Celery beat: publishes the periodic sweeper (`PENTATHLON_REQUEUE_EVERY`)."""
        return self._spawn(
            "beat",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "info",
                "--schedule",
                str(self.root / "celerybeat-schedule"),
            ],
        )

    def kill(self, proc: subprocess.Popen, sig: int = 9) -> None:
        """Send `sig` (SIGKILL by default) to one process this stack started and forget it."""
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
        self.procs = [entry for entry in self.procs if entry[1] is not proc]

    def kill_group(self, proc: subprocess.Popen, sig: int = 9) -> None:
        """SIGKILL a worker and every process of its group (pool children, embedded beat) and forget it."""
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
        self.procs = [entry for entry in self.procs if entry[1] is not proc]

    def web_pids(self) -> list[int]:
        """The gunicorn worker processes (children of the master) that serve requests."""
        master = next(proc.pid for name, proc, _ in self.procs if name == "web")
        children = Path(f"/proc/{master}/task/{master}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else [master]

    def _check_alive(self) -> None:
        for name, proc, _ in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.logs()}")

    def stop(self) -> None:
        for _, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for name, proc, _ in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if name.startswith("worker"):  # its own group: pool children or an embedded beat left over
                try:
                    os.killpg(proc.pid, 9)
                except (ProcessLookupError, PermissionError):
                    pass

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {name} ---\n{log.read_text(errors='replace')[-tail:]}" for name, _, log in self.procs
        )

    # --- HTTP helpers --------------------------------------------------------------------------------
    def token(self, username: str = PARTICIPANT[0], password: str = PARTICIPANT[1]) -> dict[str, str]:
        response = requests.post(
            f"{self.base_url}/api/v1/auth/token/",
            data={"username": username, "password": password},
            timeout=30,
        )
        response.raise_for_status()
        return {"Authorization": f"Token {response.json()['token']}"}

    def phase_id(self, slug: str) -> int:
        phases = requests.get(
            f"{self.base_url}/api/v1/challenges/video-pentathlon/phases/", timeout=30
        ).json()
        return next(p["id"] for p in phases if p["slug"] == slug)

    def upload(
        self, headers: dict[str, str], phase_id: int, path: Path, method_name: str
    ) -> requests.Response:
        with open(path, "rb") as handle:
            return requests.post(
                f"{self.base_url}/api/v1/submissions/create/",
                headers=headers,
                data={"phase": phase_id, "method_name": method_name},
                files={"file": (path.name, handle)},
                timeout=120,
            )

    def wait_final(self, headers: dict[str, str], submission_id: int) -> dict:
        deadline = time.monotonic() + FINISH_TIMEOUT_S
        while True:
            data = requests.get(
                f"{self.base_url}/api/v1/submissions/{submission_id}/", headers=headers, timeout=30
            ).json()
            if data["status"] in ("finished", "failed", "cancelled"):
                return data
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"submission {submission_id} stuck in {data['status']}:\n{self.logs()}")
            time.sleep(0.5)

    def login_session(
        self, username: str = PARTICIPANT[0], password: str = PARTICIPANT[1]
    ) -> requests.Session:
        session = requests.Session()
        page = session.get(f"{self.base_url}/accounts/login/", timeout=30).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        response = session.post(
            f"{self.base_url}/accounts/login/",
            timeout=30,
            data={"login": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.base_url}/accounts/login/"},
        )
        assert response.ok and "Log out" in response.text
        return session


#: Each call of `write_submissions` writes a different good file: the server refuses a file the team
#: already submitted to the phase (same sha256), and one stack serves many tests.
_GOOD_SEEDS = itertools.count(1)


def write_submissions(root: Path, phase: str, truth=None) -> dict[str, Path]:
    """A good .npz (different on each call), a better CodaLab top-k zip, and a malformed .npz (NaN in
    MSRVTT, found by the worker), for the seeded phase. `truth`: the phase as it publishes
    (`Stack.published_truth`); without it the files follow the uploaded order, valid but scoring at
    chance on a blind phase."""
    import numpy as np

    from evaluation import synthetic

    truth = truth or synthetic.pentathlon_ground_truth(phase=phase, scale="tiny", seed=0)
    root.mkdir(parents=True, exist_ok=True)
    paths = {"good": root / "good.npz", "better": root / "better.zip", "malformed": root / "malformed.npz"}
    good = synthetic.similarity_matrices(truth, seed=next(_GOOD_SEEDS), noise=1.0)
    synthetic.write_npz_submission(paths["good"], good)
    ids = {name: d.query_ids for name, d in truth.datasets.items()}
    synthetic.write_codalab_zip(
        paths["better"],
        synthetic.similarity_matrices(truth, seed=2, noise=0.2),
        phase_slug=phase,
        query_ids=ids,
    )
    msrvtt = truth.datasets["MSRVTT"]
    bad = np.zeros((msrvtt.num_queries, msrvtt.num_videos), dtype=np.float32)
    bad[2, 3] = np.nan
    np.savez(paths["malformed"], MSRVTT=bad)
    return paths


def run_submission_flow(stack: Stack, files: Path) -> None:
    """Token, uploads (good, malformed, better), poll to a final state, leaderboard, owner's page."""
    headers = stack.token()
    val = stack.phase_id("val")
    paths = write_submissions(files, "val", stack.published_truth("val"))
    ids = {}
    for name in ("good", "malformed", "better"):
        response = stack.upload(headers, val, paths[name], method_name=f"{name} method")
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    final = {name: stack.wait_final(headers, ids[name]) for name in ids}
    assert final["good"]["status"] == "finished", final["good"]
    assert final["better"]["status"] == "finished", final["better"]  # the worker kept serving after a failure
    assert final["malformed"]["status"] == "failed"
    message = final["malformed"]["error_message"]
    assert "MSRVTT" in message and "expected" in message, message
    good, better = final["good"]["results"], final["better"]["results"]
    assert set(good["datasets"]) == {"MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"}
    assert good["datasets"]["MSRVTT"]["v2t"] is not None and better["datasets"]["MSRVTT"]["v2t"] is None
    assert better["overall_score"] > good["overall_score"]
    board = requests.get(f"{stack.base_url}/api/v1/phases/{val}/leaderboard/", timeout=30).json()
    assert [(e["team"], e["submission_id"]) for e in board["entries"]] == [("Demo team", ids["better"])]
    assert board["entries"][0]["primary_score"] == better["overall_score"]
    session = stack.login_session()
    page = session.get(f"{stack.base_url}/submissions/{ids['malformed']}/", timeout=30)
    assert page.status_code == 200 and "MSRVTT" in page.text and "Failed" in page.text
    html = requests.get(f"{stack.base_url}/c/video-pentathlon/val/leaderboard/", timeout=30).text
    assert "better method" in html and "Demo team" in html


def run_concurrent_duplicate(stack: Stack, files: Path, *, parallel: int = 6) -> None:
    """`parallel` simultaneous uploads of one new file to the val phase: exactly one is accepted, the
    others get 409 naming it (the duplicate check runs under the team lock)."""
    from concurrent.futures import ThreadPoolExecutor

    headers = stack.token()
    val = stack.phase_id("val")
    path = write_submissions(files / "same", "val", stack.published_truth("val"))["good"]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        responses = list(
            pool.map(lambda i: stack.upload(headers, val, path, method_name=f"same {i}"), range(parallel))
        )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * (parallel - 1), [(r.status_code, r.text[:200]) for r in responses]
    accepted = next(r.json()["id"] for r in responses if r.status_code == 201)
    assert all(r.json()["extra"]["submission"] == accepted for r in responses if r.status_code == 409)


def run_concurrent_quota(stack: Stack, files: Path, *, parallel: int = 10) -> None:
    """`parallel` simultaneous uploads of different files to the test phase (3 in total per team):
    exactly 3 are accepted."""
    from concurrent.futures import ThreadPoolExecutor

    headers = stack.token()
    test = stack.phase_id("test")
    truth = stack.published_truth("test")
    paths = [write_submissions(files / f"quota-{i}", "test", truth)["good"] for i in range(parallel)]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        responses = list(
            pool.map(
                lambda i: stack.upload(headers, test, paths[i], method_name=f"parallel {i}"), range(parallel)
            )
        )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 3 + [400] * (parallel - 3), [(r.status_code, r.text[:200]) for r in responses]
    assert all("used all 3 submissions" in r.json()["detail"] for r in responses if r.status_code == 400)
    mine = requests.get(f"{stack.base_url}/api/v1/submissions/", headers=headers, timeout=30).json()
    assert len([s for s in mine if s["phase"] == test]) == 3
