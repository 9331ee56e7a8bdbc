"""Load and fault harness shared by `benchmarks/load_faults.py` (full run) and `test_faults.py` (short run in CI).

Real processes on PostgreSQL and a PRIVATE Redis (its own port and temporary directory, append-only
file on, so it can be restarted without touching any shared Redis): gunicorn, two Celery workers,
celery beat (the sweeper). N full-scale similarity submissions (one shared file) are uploaded
concurrently; then, optionally, a worker is SIGKILLed mid-scoring and restarted, and Redis is
killed and restarted with messages in flight. Every submission must end FINISHED, scored exactly
once (`scored_count == 1`, one Result row), with the overall score `evaluation.scoring` gives directly.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.integration.stack import Stack, free_port

FINAL = ("finished", "failed", "cancelled")


class PrivateRedis:
    """A redis-server of our own (append-only file on) that can be killed and restarted at will."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=open(self.dir / "redis.log", "ab"),
            stderr=subprocess.STDOUT,
        )  # noqa: SIM115
        deadline = time.monotonic() + 30
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            != "PONG"
        ):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the private redis-server did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def create_database(server_url: str) -> tuple[str, callable]:
    """A fresh database on `server_url`'s PostgreSQL server, and a function that drops it."""
    import psycopg

    name = f"pentathlon_faults_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(server_url.replace("postgres://", "postgresql://", 1), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment)), drop


@dataclass
class Figures:
    n: int
    wall_s: float = 0.0
    upload_s: float = 0.0
    throughput_per_min: float = 0.0
    latency_p50_s: float = 0.0
    latency_p95_s: float = 0.0
    kill_requeued_after_s: float | None = None
    kill_rescored_after_s: float | None = None
    redis_first_claim_after_s: float | None = None
    recovery_bound_s: float = 0.0
    attempts: dict[int, int] = field(default_factory=dict)
    scored_counts: dict[int, int] = field(default_factory=dict)
    statuses: dict[int, str] = field(default_factory=dict)
    results_rows: dict[int, int] = field(default_factory=dict)
    scores: dict[int, float | None] = field(default_factory=dict)
    expected_score: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"submissions: {self.n} full-scale val similarity matrices, 2 worker processes",
            f"uploads: {self.upload_s:.1f} s; all final after {self.wall_s:.1f} s",
            f"throughput: {self.throughput_per_min:.1f} submissions/min",
            f"latency (upload accepted -> finished): p50 {self.latency_p50_s:.1f} s, p95 {self.latency_p95_s:.1f} s",
        ]
        if self.kill_requeued_after_s is not None or self.kill_rescored_after_s is not None:
            out.append(
                f"SIGKILL of a worker mid-scoring: lease expiry detected and row re-queued after "
                f"{_fmt(self.kill_requeued_after_s)} s (bound {self.recovery_bound_s:.0f} s = heartbeat stale "
                f"bound + sweep period); re-scored and finished {_fmt(self.kill_rescored_after_s)} s after the kill"
            )
        if self.redis_first_claim_after_s is not None:
            out.append(
                f"Redis SIGKILL + restart: first evaluation claimed {self.redis_first_claim_after_s:.1f} s after "
                "the restart"
            )
        retried = {k: v for k, v in self.attempts.items() if v > 1}
        out.append(
            f"statuses: {sorted(set(self.statuses.values()))}; scored_count per submission: "
            f"{sorted(set(self.scored_counts.values()))}; result rows per submission: "
            f"{sorted(set(self.results_rows.values()))}; claimed more than once: {retried or 'none'}"
        )
        out.append(
            f"overall score: all {sorted(set(self.scores.values()))} vs direct evaluation.scoring "
            f"{self.expected_score}"
        )
        return out


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _rows(database_url: str) -> dict[int, dict]:
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
        cur = conn.execute(
            "SELECT s.id, s.status, s.attempts, s.scored_count, s.created_at, s.queued_at, s.started_at, "
            "s.finished_at, r.primary_score, (SELECT count(*) FROM leaderboard_result r2 WHERE r2.submission_id = s.id)"
            " FROM challenge_submission s LEFT JOIN leaderboard_result r ON r.submission_id = s.id"
        )
        keys = (
            "id",
            "status",
            "attempts",
            "scored_count",
            "created_at",
            "queued_at",
            "started_at",
            "finished_at",
            "score",
            "results",
        )
        return {row[0]: dict(zip(keys, row, strict=True)) for row in cur.fetchall()}


def _epoch(dt) -> float:
    return dt.timestamp()


def run(
    root: Path,
    *,
    database_server: str,
    n: int,
    kill_worker: bool,
    restart_redis: bool,
    stale_after: int = 60,
    heartbeat_interval: float = 10.0,
    requeue_every: float = 15.0,
    queued_after: int = 120,
    finish_timeout: float = 1800,
    log=print,
) -> Figures:
    """Run the whole scenario; returns the figures (the caller asserts or prints)."""
    import numpy as np

    from evaluation import synthetic
    from evaluation.ground_truth import read_ground_truth
    from evaluation.scoring import score_submission

    figures = Figures(n=n, recovery_bound_s=stale_after + requeue_every)
    database_url, drop_database = create_database(database_server)
    redis = PrivateRedis(root)
    redis.start()
    var = root / "var"
    var.mkdir(parents=True, exist_ok=True)
    stack = Stack(
        var,
        database_url=database_url,
        broker_url=redis.url,
        web_workers=2,
        web_threads=4,
        extra_env={
            "PENTATHLON_HEARTBEAT_STALE_AFTER": str(stale_after),
            "PENTATHLON_HEARTBEAT_INTERVAL": str(heartbeat_interval),
            "PENTATHLON_REQUEUE_EVERY": str(requeue_every),
            "PENTATHLON_REQUEUE_QUEUED_AFTER": str(queued_after),
            "PENTATHLON_SUBMISSION_MAX_BYTES": str(256 * 1024**2),
        },
    )
    try:
        stack.manage("migrate", "--no-input", "-v", "0")
        t0 = time.monotonic()
        stack.manage("seed_pentathlon", "--scale", "full")
        stack.manage(
            "shell",
            "-c",
            "from challenge.models import Phase; "
            "Phase.objects.filter(slug='val').update(max_submissions_per_day=None, max_submissions_total=None)",
        )
        log(f"seeded the full-scale challenge in {time.monotonic() - t0:.1f} s")
        truth_path = next((var / "private" / "ground_truth").rglob("val-*.h5"))
        # The phase is blind: the submission follows its published order, as a participant's would.
        truth = stack.published_truth("val", read_ground_truth(truth_path))
        submission_path = root / "full-val.npz"
        synthetic.write_npz_submission(
            submission_path, synthetic.similarity_matrices(truth, seed=3, noise=1.0)
        )
        expected = score_submission(
            ground_truth=truth, submission_path=submission_path, aggregation="mean", device="cpu"
        )["overall_score"]
        figures.expected_score = expected
        log(
            f"submission file: {submission_path.stat().st_size / 1e6:.1f} MB; direct overall score {expected}"
        )
        stack.start_web()
        workers = {name: stack.start_worker(name) for name in ("worker-1", "worker-2")}
        stack.start_beat()
        # One team per upload, all sending the same file (a team may not send one file twice), so
        # every result must equal the one direct score.
        tokens = stack.manage(
            "shell",
            "-c",
            "from rest_framework.authtoken.models import Token\n"
            "from challenge.models import Challenge\n"
            "from challenge.services import team_create, user_create\n"
            "challenge = Challenge.objects.get(slug='video-pentathlon')\n"
            f"for i in range({n}):\n"
            "    user = user_create(username=f'load-{i:03d}', password='load-password-not-secret')\n"
            "    team_create(challenge=challenge, user=user, name=f'Load team {i:03d}')\n"
            "    print(Token.objects.create(user=user).key)\n",
        ).split()[-n:]  # the shell may print a line of its own first
        val = stack.phase_id("val")

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(
                pool.map(
                    lambda i: stack.upload(
                        {"Authorization": f"Token {tokens[i]}"}, val, submission_path, method_name=f"load {i}"
                    ),
                    range(n),
                )
            )
        bad = [(r.status_code, r.text[:200]) for r in responses if r.status_code != 201]
        if bad:
            raise RuntimeError(f"uploads refused: {bad[:3]}")
        figures.upload_s = time.monotonic() - start
        ids = [r.json()["id"] for r in responses]
        log(f"{n} uploads accepted in {figures.upload_s:.1f} s")

        t_kill = t_redis = None
        victims: set[int] = set()
        if kill_worker:
            deadline = time.monotonic() + 300
            while True:  # wait until worker-1 is mid-scoring: some row has progressed past the start
                rows = _rows(database_url)
                running = {i for i, r in rows.items() if r["status"] == "running"}
                if len(running) >= 2 or (running and not any(r["status"] == "queued" for r in rows.values())):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("no submission started running")
                time.sleep(0.2)
            stack.kill(workers["worker-1"])
            t_kill = time.time()
            log(f"SIGKILLed worker-1 while {sorted(running)} were running")
            victims = running
            workers["worker-1"] = stack.start_worker("worker-1", wait=False)
        if restart_redis:
            time.sleep(1.0)
            redis.kill()
            log("SIGKILLed the private Redis")
            time.sleep(2.0)
            redis.start()
            t_redis = time.time()
            log("restarted the private Redis (append-only file reloaded)")

        deadline = time.monotonic() + finish_timeout
        requeued_at = None
        while True:
            rows = _rows(database_url)
            if (
                victims
                and requeued_at is None
                and any(rows[v]["attempts"] > 1 or rows[v]["status"] == "queued" for v in victims)
            ):
                requeued_at = time.time()
            if all(rows[i]["status"] in FINAL for i in ids):
                break
            for name, proc in workers.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{stack.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"not all final: {sorted((r['id'], r['status']) for r in rows.values())}\n{stack.logs()}"
                )
            time.sleep(0.5)
        figures.wall_s = time.monotonic() - start
        rows = _rows(database_url)
        latencies = [_epoch(rows[i]["finished_at"]) - _epoch(rows[i]["created_at"]) for i in ids]
        first = min(_epoch(rows[i]["created_at"]) for i in ids)
        last = max(_epoch(rows[i]["finished_at"]) for i in ids)
        figures.throughput_per_min = 60.0 * n / max(last - first, 1e-9)
        figures.latency_p50_s = statistics.median(latencies)
        figures.latency_p95_s = float(np.percentile(latencies, 95))
        if t_kill is not None:
            rescored = [v for v in victims if rows[v]["attempts"] > 1]
            if requeued_at is not None:
                figures.kill_requeued_after_s = requeued_at - t_kill
            if rescored:
                figures.kill_rescored_after_s = max(_epoch(rows[v]["finished_at"]) for v in rescored) - t_kill
        if t_redis is not None:
            claims = [
                _epoch(r["started_at"])
                for r in rows.values()
                if r["started_at"] and _epoch(r["started_at"]) > t_redis
            ]
            figures.redis_first_claim_after_s = (min(claims) - t_redis) if claims else None
        for i in ids:
            figures.attempts[i] = rows[i]["attempts"]
            figures.scored_counts[i] = rows[i]["scored_count"]
            figures.statuses[i] = rows[i]["status"]
            figures.results_rows[i] = rows[i]["results"]
            figures.scores[i] = rows[i]["score"]
        return figures
    finally:
        stack.stop()
        redis.stop()
        drop_database()
        if os.environ.get("PENTATHLON_KEEP_FAULT_LOGS") is None:
            shutil.rmtree(var / "private", ignore_errors=True)
