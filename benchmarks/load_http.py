"""HTTP load on loopback: the leaderboard page and the submission API under concurrent clients.

    python benchmarks/load_http.py                      # own stack: gunicorn on SQLite, 50 clients, 30 s
    python benchmarks/load_http.py --duration 10 --max-requests 20000 --json
    python benchmarks/load_http.py --base-url http://127.0.0.1:8000 --username participant --password ...

Without --base-url it starts the integration harness's stack (tests/integration/stack.py):
migrate, seed (tiny), gunicorn (--web-workers x --web-threads), throttles off (this measures the
server, not the throttle), on DATABASE_URL (default: a SQLite file in a temporary folder). Only
loopback addresses are accepted: this is a benchmark, not a load generator for other hosts.

Each client is a thread with its own keep-alive session, cycling through: the public leaderboard
page (HTML), the leaderboard API, the participant's submission list and one submission's detail
(token authentication). It stops at --duration seconds or --max-requests, whichever comes first,
and prints the request rate, p50/p95/p99 latency and the errors (any non-2xx or exception).
Exit status 1 when there were errors.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import requests

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def run_load(
    base_url: str,
    *,
    headers: dict[str, str],
    phase_id: int,
    submission_id: int,
    clients: int,
    duration: float,
    max_requests: int,
) -> dict:
    host = urlsplit(base_url).hostname
    if host not in LOOPBACK:
        raise SystemExit(
            f"refusing to load {host!r}: only loopback addresses ({', '.join(sorted(LOOPBACK))})"
        )
    targets = [
        ("leaderboard page", "/c/video-pentathlon/val/leaderboard/", {}),
        ("leaderboard api", f"/api/v1/phases/{phase_id}/leaderboard/", {}),
        ("submission list api", "/api/v1/submissions/", headers),
        ("submission detail api", f"/api/v1/submissions/{submission_id}/", headers),
    ]
    lock = threading.Lock()
    latencies: list[float] = []
    per_target: Counter = Counter()
    errors: Counter = Counter()
    issued = [0]
    start = time.monotonic()
    deadline = start + duration

    def client(index: int) -> None:
        session = requests.Session()
        turn = index
        while time.monotonic() < deadline:
            with lock:
                if issued[0] >= max_requests:
                    return
                issued[0] += 1
            name, path, extra = targets[turn % len(targets)]
            turn += 1
            began = time.perf_counter()
            try:
                response = session.get(base_url + path, headers=extra, timeout=60)
                status = response.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                per_target[name] += 1
                if not (isinstance(status, int) and 200 <= status < 300):
                    errors[f"{name}: {status}"] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - start
    return {
        "clients": clients,
        "duration_s": round(wall, 2),
        "requests": len(latencies),
        "rate_per_s": round(len(latencies) / wall, 1) if wall else 0.0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "per_endpoint": dict(per_target),
    }


def _own_stack(args: argparse.Namespace, root: Path):
    sys.path.insert(0, str(REPO))
    from tests.integration.stack import Stack, write_submissions

    database_url = args.database_url or f"sqlite:///{root / 'db.sqlite3'}"
    stack = Stack(root, database_url=database_url, web_workers=args.web_workers, web_threads=args.web_threads)
    for scope in ("ANON", "USER", "UPLOAD", "LOGIN"):
        stack.env[f"PENTATHLON_THROTTLE_{scope}"] = "off"
    stack.manage("migrate", "--no-input", "-v", "0")
    stack.manage("seed_pentathlon", "--scale", "tiny")
    stack.start_web()
    headers = stack.token()
    phase_id = stack.phase_id("val")
    path = write_submissions(root, "val")["good"]
    response = stack.upload(headers, phase_id, path, method_name="load benchmark")
    response.raise_for_status()
    return stack, headers, phase_id, response.json()["id"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (the run's upper bound)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop after this many requests")
    parser.add_argument("--base-url", help="an already running server on loopback (else: start one)")
    parser.add_argument("--username", default="participant")
    parser.add_argument("--password", default="pentathlon-participant")
    parser.add_argument("--database-url", help="for the own stack (default: SQLite in a temporary folder)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pentathlon-load-") as tmp:
        stack = None
        if args.base_url:
            if urlsplit(args.base_url).hostname not in LOOPBACK:
                parser.error("--base-url must be a loopback address")
            token = requests.post(
                f"{args.base_url}/api/v1/auth/token/",
                timeout=30,
                data={"username": args.username, "password": args.password},
            ).json()["token"]
            headers = {"Authorization": f"Token {token}"}
            phases = requests.get(
                f"{args.base_url}/api/v1/challenges/video-pentathlon/phases/", timeout=30
            ).json()
            phase_id = next(p["id"] for p in phases if p["slug"] == "val")
            mine = requests.get(f"{args.base_url}/api/v1/submissions/", headers=headers, timeout=30).json()
            if not mine:
                parser.error("the participant needs at least one submission")
            base_url, submission_id = args.base_url, mine[0]["id"]
        else:
            root = Path(tmp) / "var"
            root.mkdir()
            stack, headers, phase_id, submission_id = _own_stack(args, root)
            base_url = stack.base_url
        try:
            figures = run_load(
                base_url,
                headers=headers,
                phase_id=phase_id,
                submission_id=submission_id,
                clients=args.clients,
                duration=args.duration,
                max_requests=args.max_requests,
            )
        finally:
            if stack is not None:
                stack.stop()
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['requests']} requests in {figures['duration_s']} s from {figures['clients']} clients:"
            f" {figures['rate_per_s']} req/s; latency p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms,"
            f" p99 {figures['p99_ms']} ms; errors {figures['errors']} {figures['error_kinds'] or ''}"
        )
        print("per endpoint: " + ", ".join(f"{k} {v}" for k, v in figures["per_endpoint"].items()))
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
