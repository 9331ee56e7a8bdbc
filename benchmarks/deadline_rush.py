"""The hour before a deadline: many full-scale validation submissions from many teams arriving within a
short window, scored by two workers; prints whether every one was scored exactly once, the time
until the queue is empty, and where each submission's time went.

    .venv/bin/python benchmarks/deadline_rush.py [--submissions 300] [--teams 100] [--window 60]
        [--workers 2] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
        [--redis redis://127.0.0.1:6379/6]

Real processes on loopback (tests/integration/stack.py): gunicorn (2 workers x 4 threads), `--workers`
Celery worker processes (solo pool), the embedded default (SQLite file, filesystem broker, file board
cache) or PostgreSQL (a scratch database, dropped at the end) and Redis (broker and board cache).
The val phase is seeded at full scale; each team uploads through the REST API, on a fixed schedule
spread evenly over the window, files built in the phase's published order (a few distinct files,
reused across teams; a team's k-th submission is variant k, since the server refuses a file the
team already submitted, so --variants must be at least the submissions per team). It stops when every submission is final or after
--give-up seconds, and prints, per stage, the median and p95 over submissions: the upload request,
upload to queued, queued to picked up by a worker, scoring (picked up to finished), and upload to
leaderboard (the result and the board version are committed together with the finish).
Throttles are off and the daily quota lifted: this measures the pipeline, not the limits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def stage(label: str, values: list[float]) -> None:
    if values:
        print(
            f"  {label:38s} median {statistics.median(values):7.2f} s   p95 {percentile(values, 95):7.2f} s   "
            f"max {max(values):7.2f} s"
        )


def django_for(stack) -> None:  # noqa: ANN001 - tests.integration.stack.Stack
    """This process reads and writes the stack's database directly (users, tokens, files, figures)."""
    os.environ.update(stack.env)
    import django

    django.setup()


def make_teams(count: int) -> list[str]:
    """`count` teams of one member each in the seeded challenge; returns their API tokens."""
    from rest_framework.authtoken.models import Token

    from challenge.models import Challenge
    from challenge.services import team_create, user_create

    challenge = Challenge.objects.get(slug="video-pentathlon")
    tokens = []
    for i in range(count):
        user = user_create(username=f"rush-{i:03d}", password="rush-password-not-secret")
        team_create(challenge=challenge, user=user, name=f"Rush team {i:03d}")
        tokens.append(Token.objects.create(user=user).key)
    return tokens


def write_files(root: Path, phase_slug: str, variants: int) -> list[Path]:
    """Full-scale submissions for the phase in its published order (what a participant's kit gives)."""
    from challenge.models import Phase
    from challenge.publication import phase_published_truth
    from evaluation import synthetic

    phase = Phase.objects.get(challenge__slug="video-pentathlon", slug=phase_slug)
    truth = phase_published_truth(phase=phase)
    paths = []
    for k in range(variants):
        path = root / f"{phase_slug}-{k}.npz"
        synthetic.write_npz_submission(
            path, synthetic.similarity_matrices(truth, seed=k, noise=0.5 + 0.1 * k)
        )
        paths.append(path)
    return paths


def scratch_postgres(url: str) -> tuple[str, callable]:
    import psycopg

    name = f"pentathlon_rush_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")

    def drop() -> None:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - Django may not be set up yet
            pass
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return f"{url.rsplit('/', 1)[0]}/{name}?conn_max_age=60", drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=300)
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which uploads arrive")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variants", type=int, default=4, help="distinct files (reused)")
    parser.add_argument("--uploaders", type=int, default=16, help="concurrent upload connections")
    parser.add_argument("--give-up", type=float, default=1200.0)
    parser.add_argument("--postgres")
    parser.add_argument("--redis")
    args = parser.parse_args()
    if args.variants * args.teams < args.submissions:
        parser.error("--variants must be at least the submissions per team (a team never resubmits a file)")
    for url in (args.postgres, args.redis):
        if url and "127.0.0.1" not in url:
            raise SystemExit("loopback servers only (127.0.0.1)")

    from tests.integration.stack import Stack

    drop = None
    with tempfile.TemporaryDirectory(prefix="pentathlon-rush-") as tmp:
        root = Path(tmp)
        var = root / "var"
        var.mkdir()
        database_url = f"sqlite:///{var / 'db.sqlite3'}"
        if args.postgres:
            database_url, drop = scratch_postgres(args.postgres)
        extra = {
            "PENTATHLON_THROTTLE_ANON": "off",
            "PENTATHLON_THROTTLE_USER": "off",
            "PENTATHLON_THROTTLE_UPLOAD": "off",
        }
        if args.redis:
            extra["PENTATHLON_BOARD_CACHE_URL"] = args.redis
        stack = Stack(
            var,
            database_url=database_url,
            broker_url=args.redis,
            web_workers=2,
            web_threads=4,
            extra_env=extra,
        )
        label = (
            "PostgreSQL + Redis" if args.postgres else "SQLite + filesystem broker"
        ) + f", {args.workers} workers"
        try:
            t0 = time.monotonic()
            stack.manage("migrate", "--no-input", "-v", "0")
            stack.manage("seed_pentathlon", "--scale", "full")
            django_for(stack)
            from challenge.models import Phase, Submission

            Phase.objects.filter(challenge__slug="video-pentathlon", slug="val").update(
                max_submissions_per_day=None, max_submissions_total=None
            )
            phase_id = Phase.objects.get(challenge__slug="video-pentathlon", slug="val").id
            tokens = make_teams(args.teams)
            files = write_files(root, "val", args.variants)
            size = files[0].stat().st_size
            print(
                f"{label}: seeded, {args.teams} teams, {len(files)} full-scale val files of "
                f"{size / 1e6:.1f} MB in {time.monotonic() - t0:.0f} s"
            )
            stack.start_web()
            for k in range(args.workers):
                stack.start_worker(f"worker-{k}")

            schedule = [(i * args.window / args.submissions, i) for i in range(args.submissions)]
            lock = threading.Lock()
            sent: dict[int, tuple[float, float]] = {}  # submission id -> (wall-clock start, request seconds)
            errors: list[str] = []
            start = time.time()

            def uploader() -> None:
                # A new connection for each upload, as from a participant's own machine: a pooled one
                # idle past the server's keep-alive (2 s) may be closed just as the next POST goes out.
                while True:
                    with lock:
                        if not schedule:
                            return
                        at, i = schedule.pop(0)
                    delay = start + at - time.time()
                    if delay > 0:
                        time.sleep(delay)  # the schedule, not a wait for a condition
                    path = files[(i // len(tokens)) % len(files)]  # a team's k-th file: variant k
                    began = time.time()
                    try:
                        with open(path, "rb") as handle:
                            response = requests.post(
                                f"{stack.base_url}/api/v1/submissions/create/",
                                headers={"Authorization": f"Token {tokens[i % len(tokens)]}"},
                                data={"phase": phase_id, "method_name": f"rush {i}"},
                                files={"file": (path.name, handle)},
                                timeout=600,
                            )
                    except requests.RequestException as exc:
                        with lock:
                            errors.append(f"{i}: {exc}")
                        continue
                    with lock:
                        if response.status_code == 201:
                            sent[response.json()["id"]] = (began, time.time() - began)
                        else:
                            errors.append(f"{i}: {response.status_code} {response.text[:200]}")

            threads = [threading.Thread(target=uploader) for _ in range(args.uploaders)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            uploaded_in = time.time() - start
            print(
                f"{len(sent)} of {args.submissions} uploads accepted in {uploaded_in:.1f} s "
                f"(window {args.window:.0f} s), {len(errors)} refused or failed"
                + (f"; first: {errors[0]}" if errors else "")
            )
            deadline = time.monotonic() + args.give_up
            final = Submission.FINAL_STATES
            while time.monotonic() < deadline:
                pending = Submission.objects.filter(id__in=list(sent)).exclude(status__in=final).count()
                if pending == 0:
                    break
                time.sleep(0.5)  # polling the database for the end, bounded by --give-up
            if pending:
                print(
                    f"gave up after {args.give_up:.0f} s with {pending} not final; the logs end:\n{stack.logs(1500)}"
                )
            rows = list(
                Submission.objects.filter(id__in=list(sent)).values(
                    "id",
                    "status",
                    "attempts",
                    "scored_count",
                    "created_at",
                    "queued_at",
                    "started_at",
                    "finished_at",
                )
            )
            from leaderboard.models import Result

            results = Result.objects.filter(submission_id__in=list(sent)).count()
            finished = [r for r in rows if r["status"] == Submission.Status.FINISHED]
            once = sum(1 for r in finished if r["scored_count"] == 1)
            last = max((r["finished_at"].timestamp() for r in finished), default=start)
            print(
                f"finished {len(finished)}, other {len(rows) - len(finished)} "
                f"({', '.join(sorted({r['status'] for r in rows} - {'finished'})) or 'none'}); "
                f"results {results}; scored exactly once {once}; lost {len(sent) - len(rows)}; "
                f"claims beyond one {sum(r['attempts'] - 1 for r in rows)}"
            )
            print(
                f"queue empty {last - start:.1f} s after the first upload began ({len(finished) / max(last - start, 1e-9) * 60:.1f} scored per minute)"
            )
            stage("upload request (client)", [sent[r["id"]][1] for r in rows])
            stage(
                "upload began -> queued",
                [r["queued_at"].timestamp() - sent[r["id"]][0] for r in rows if r["queued_at"]],
            )
            stage(
                "queued -> picked up by a worker",
                [(r["started_at"] - r["queued_at"]).total_seconds() for r in finished],
            )
            stage(
                "scoring (picked up -> finished)",
                [(r["finished_at"] - r["started_at"]).total_seconds() for r in finished],
            )
            stage(
                "upload began -> on the leaderboard",
                [r["finished_at"].timestamp() - sent[r["id"]][0] for r in finished],
            )
        finally:
            stack.stop()
            if drop is not None:
                drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
