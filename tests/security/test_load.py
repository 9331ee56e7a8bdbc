"""The load benchmark in its short form: 50 clients for ~10 s on loopback, zero errors (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_load_benchmark_short_run_has_no_errors():
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/load_http.py",
            "--clients",
            "50",
            "--duration",
            "10",
            "--max-requests",
            "20000",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n[load] {figures}")
    assert figures["requests"] > 0
    assert figures["errors"] == 0, figures["error_kinds"]
    assert done.returncode == 0
