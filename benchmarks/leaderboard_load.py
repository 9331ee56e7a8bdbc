"""Leaderboard under load: 10,000 scored submissions in one phase, the page and its JSON driven by
concurrent clients on loopback for a bounded time; prints the queries per request and latencies.

    .venv/bin/python benchmarks/leaderboard_load.py [--submissions 10000] [--teams 500] [--clients 8] [--seconds 20]

The rows are bulk-created (no scoring); the site runs under gunicorn (2 workers x 4 threads) on a
SQLite file, the embedded default. Each client alternates between the overall page, a dataset board
sorted by a metric column, and the JSON API.
"""

from __future__ import annotations

import argparse
import http.client
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


def count_queries(paths: list[str]) -> dict[str, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client, counts = Client(), {}
    for path in paths:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        counts[path] = len(ctx)
    return counts


def drive(url: str, paths: list[str], *, clients: int, seconds: float) -> dict[str, list[float]]:
    host, port = url.removeprefix("http://").split(":")
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        i = index
        while time.monotonic() < deadline:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"{path}: {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{path}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
                continue
            latencies[path].append(time.perf_counter() - t0)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print(f"errors: {len(errors)} (first: {errors[0]})")
    return latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    env = configure()
    t0 = time.perf_counter()
    phase_id = populate(submissions=args.submissions, teams=args.teams)
    print(
        f"populated {args.submissions:,} submissions of {args.teams} teams in {time.perf_counter() - t0:.1f} s"
    )
    paths = [
        "/c/bench/val/leaderboard/",
        "/c/bench/val/leaderboard/?dataset=MSVD&sort=MSVD:MedR",
        f"/api/v1/phases/{phase_id}/leaderboard/",
        "/c/bench/val/leaderboard.csv",
    ]
    for path, count in count_queries(paths).items():
        print(f"queries  {count:3d}  {path}")
    server = Server(env)
    try:
        drive(server.url, paths, clients=2, seconds=2)  # warm-up: imports, connections
        latencies = drive(server.url, paths, clients=args.clients, seconds=args.seconds)
    finally:
        server.stop()
    total = sum(len(v) for v in latencies.values())
    print(
        f"{args.clients} concurrent clients for {args.seconds:.0f} s on loopback: {total} requests, "
        f"{total / args.seconds:.1f} req/s (gunicorn 2 workers x 4 threads, SQLite)"
    )
    everything = [x for v in latencies.values() for x in v]
    for path, values in [*latencies.items(), ("all", everything)]:
        if values:
            print(
                f"  {path:60s} n={len(values):5d}  p50={1000 * statistics.median(values):7.1f} ms  "
                f"p95={1000 * percentile(values, 95):7.1f} ms  max={1000 * max(values):7.1f} ms"
            )


if __name__ == "__main__":
    main()
