"""Leaderboard under load: 10,000 scored submissions in one phase, the boards driven by concurrent
clients on loopback for a bounded time, against a request that does no work; prints requests/s,
p50/p95 latency and errors for each client count, and how the board's rate compares.

    .venv/bin/python benchmarks/leaderboard_load.py [--submissions 10000] [--teams 500]
        [--clients 16 32 64] [--seconds 15] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
        [--redis redis://127.0.0.1:6379/5]

The rows are bulk-created (no scoring); the site runs under gunicorn (2 workers x 4 threads unless
--web-workers/--web-threads say otherwise) on a
SQLite file and the file board cache (the embedded default), or with --postgres on a scratch
database created (and dropped) on that server and with --redis on that Redis database for the board
cache. Each client cycles through the overall page, a dataset board sorted by a metric column, and
the JSON API; "no work" is a JSON 404 under /api/ (the middleware and the URL resolver, no database,
no template). Clients run in several processes (threads in each) so that the load generator's GIL
is not what is measured; they send plain GETs (no If-None-Match), so every answer is a full 200.
Throttles are off: this measures the server. The server's log goes to a file (never an unread pipe).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _site import Server, configure  # noqa: E402

DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")


def populate(*, submissions: int, teams: int, seed: int = 0) -> int:
    from django.utils import timezone

    from challenge.models import Challenge, Dataset, Phase, Submission, Team
    from leaderboard.models import DatasetResult, Result

    rng = random.Random(seed)
    challenge = Challenge.objects.create(slug="bench", title="Benchmark Pentathlon")
    Dataset.objects.bulk_create(
        [Dataset(challenge=challenge, name=n, order=i) for i, n in enumerate(DATASETS)]
    )
    phase = Phase.objects.create(
        challenge=challenge, slug="val", title="Validation", starts_at=timezone.now() - timedelta(days=30)
    )
    Team.objects.bulk_create(
        [
            Team(
                challenge=challenge, name=f"team-{i:04d}", name_key=f"team-{i:04d}", invite_code=f"bench-{i}"
            )
            for i in range(teams)
        ]
    )
    team_ids = list(Team.objects.filter(challenge=challenge).values_list("id", flat=True))
    start = timezone.now() - timedelta(days=30)
    Submission.objects.bulk_create(
        [
            Submission(
                team_id=team_ids[i % len(team_ids)],
                phase=phase,
                file=f"submissions/bench/{i}.npz",
                file_format="npz",
                file_size=1,
                checksum_sha256="0" * 64,
                method_name=f"method {i}",
                status=Submission.Status.FINISHED,
                is_baseline=False,
                is_public=rng.random() > 0.05,
                created_at=start + timedelta(minutes=4 * i),
            )
            for i in range(submissions)
        ],
        batch_size=2000,
    )
    ids = list(Submission.objects.filter(phase=phase).values_list("id", flat=True))
    Result.objects.bulk_create(
        [
            Result(
                submission_id=sid, primary_score=None, aggregation="mean", metrics={}, scorer_version="bench"
            )
            for sid in ids
        ],
        batch_size=2000,
    )
    rows, overall = [], {}
    for rid in Result.objects.filter(submission__phase=phase).values_list("id", flat=True):
        scores = []
        for name in DATASETS:
            r1 = rng.uniform(1, 40)
            r5, r10 = min(100, r1 * 2.2), min(100, r1 * 3.1)
            score = (r1 * r5 * r10) ** (1 / 3)
            scores.append(score)
            rows.append(
                DatasetResult(
                    result_id=rid,
                    dataset=name,
                    score=score,
                    r1=r1,
                    r5=r5,
                    r10=r10,
                    r50=min(100, r1 * 5),
                    medr=rng.uniform(1, 200),
                    meanr=rng.uniform(5, 400),
                )
            )
        overall[rid] = sum(scores) / len(scores)
    DatasetResult.objects.bulk_create(rows, batch_size=5000)
    results = list(Result.objects.filter(id__in=overall))
    for result in results:
        result.primary_score = overall[result.id]
    Result.objects.bulk_update(results, ["primary_score"], batch_size=2000)
    return phase.id


def count_queries(paths: list[str]) -> dict[str, tuple[int, int]]:
    """Queries of each path on its first (cold) and second (cached) request, in this process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client, counts = Client(), {}
    for path in paths:
        pair = []
        for _ in range(2):
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            pair.append(len(ctx))
        counts[path] = tuple(pair)
    return counts


def _client_process(
    url: str, paths: list[str], expected: int, threads: int, offset: int, seconds: float, out
) -> None:  # noqa: ANN001
    host, port = url.removeprefix("http://").split(":")
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        i = index
        while time.monotonic() < deadline:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status != expected:
                    errors.append(f"{path}: {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{path}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                continue
            latencies[path].append(time.perf_counter() - t0)
        conn.close()

    pool = [threading.Thread(target=client, args=(offset + i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.send((latencies, errors))
    out.close()


def drive(
    url: str, paths: list[str], *, clients: int, seconds: float, expected: int = 200, processes: int = 4
) -> tuple[dict[str, list[float]], list[str]]:
    """`clients` keep-alive connections, spread over `processes` processes, for `seconds`."""
    processes = min(processes, clients)
    receivers, workers = [], []
    for k in range(processes):
        threads = clients // processes + (1 if k < clients % processes else 0)
        receive, send = multiprocessing.Pipe(duplex=False)
        worker = multiprocessing.Process(
            target=_client_process, args=(url, paths, expected, threads, k * 1000, seconds, send)
        )
        worker.start()
        receivers.append(receive)
        workers.append(worker)
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    errors: list[str] = []
    for receive, worker in zip(receivers, workers, strict=True):
        part, errs = receive.recv()
        worker.join(timeout=seconds + 60)
        for path, values in part.items():
            latencies[path].extend(values)
        errors.extend(errs)
    return latencies, errors


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def summary(label: str, latencies: dict[str, list[float]], errors: list[str], seconds: float) -> float:
    everything = [x for v in latencies.values() for x in v]
    rate = len(everything) / seconds
    print(
        f"  {label}: {len(everything)} requests, {rate:.0f} req/s, {len(errors)} errors"
        + (f" (first: {errors[0]})" if errors else "")
    )
    for path, values in (
        [*latencies.items(), ("all", everything)] if len(latencies) > 1 else latencies.items()
    ):
        if values:
            print(
                f"    {path:58s} n={len(values):6d}  p50={1000 * statistics.median(values):6.1f} ms  "
                f"p95={1000 * percentile(values, 95):6.1f} ms  max={1000 * max(values):7.1f} ms"
            )
    return rate


def scratch_postgres(url: str) -> tuple[str, callable]:
    """A fresh database on the server of `url`, and the function that drops it."""
    import psycopg

    name = f"pentathlon_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    base = url.rsplit("/", 1)[0]
    return f"{base}/{name}?conn_max_age=60", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=500)
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--postgres", help="a PostgreSQL server URL; a scratch database is made on it")
    parser.add_argument("--redis", help="redis://127.0.0.1:6379/N for the board cache (else files)")
    args = parser.parse_args()

    drop = None
    database_url = None
    if args.postgres:
        if not args.postgres.startswith("postgres://127.0.0.1") and "@127.0.0.1" not in args.postgres:
            raise SystemExit("loopback PostgreSQL only (127.0.0.1)")
        database_url, drop = scratch_postgres(args.postgres)
    extra = {"PENTATHLON_THROTTLE_ANON": "off", "PENTATHLON_THROTTLE_USER": "off"}
    if args.redis:
        if not args.redis.startswith("redis://127.0.0.1"):
            raise SystemExit("loopback Redis only (redis://127.0.0.1:...)")
        extra["PENTATHLON_BOARD_CACHE_URL"] = args.redis
    try:
        env = configure(database_url=database_url, extra=extra)
        from django.conf import settings
        from django.core.cache import caches

        caches[settings.BOARD_CACHE].clear()
        stack = (
            ("PostgreSQL" if args.postgres else "SQLite")
            + " + "
            + ("Redis board cache" if args.redis else "file board cache")
        )
        t0 = time.perf_counter()
        phase_id = populate(submissions=args.submissions, teams=args.teams)
        print(
            f"populated {args.submissions:,} submissions of {args.teams} teams in "
            f"{time.perf_counter() - t0:.1f} s; {stack}"
        )
        boards = [
            "/c/bench/val/leaderboard/",
            "/c/bench/val/leaderboard/?dataset=MSVD&sort=MSVD:MedR",
            f"/api/v1/phases/{phase_id}/leaderboard/",
        ]
        no_work = ["/api/v1/no-such-endpoint/"]
        for path, (cold, warm) in count_queries([*boards, "/c/bench/val/leaderboard.csv"]).items():
            print(f"queries  cold {cold:3d}  cached {warm:3d}  {path}")
        caches[settings.BOARD_CACHE].clear()  # the server renders every board once itself
        server = Server(env, workers=args.web_workers, threads=args.web_threads)
        try:
            drive(server.url, boards, clients=4, seconds=2)  # warm-up: imports, connections, first renders
            drive(server.url, no_work, clients=4, seconds=1, expected=404)
            for clients in args.clients:
                print(
                    f"{clients} concurrent clients, {args.seconds:.0f} s each, gunicorn {args.web_workers} workers"
                    f" x {args.web_threads} threads, {stack}:"
                )
                base = summary(
                    "no work (JSON 404)",
                    *drive(server.url, no_work, clients=clients, seconds=args.seconds, expected=404),
                    args.seconds,
                )
                rate = summary(
                    "boards", *drive(server.url, boards, clients=clients, seconds=args.seconds), args.seconds
                )
                print(f"  boards / no work = {rate / base:.2f}")
        finally:
            server.stop()
    finally:
        if drop is not None:
            drop()


if __name__ == "__main__":
    main()
