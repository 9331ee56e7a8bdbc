"""The training-throughput benchmark runs end to end and prints one row per model and device."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# Trains every model for a step in a subprocess: minutes on a shared CPU, so `make test-fast` skips it.
@pytest.mark.slow
def test_benchmark_prints_samples_per_second_for_every_model():
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/bench_baselines_training.py",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--threads",
            "1",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's code, not an installed copy's
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("cpu ")]
    assert [re.split(r"\s{2,}", r)[1] for r in rows] == [
        "CE",
        "CE, parallel gating order",
        "MoEE",
        "TeachText (2 teachers)",
        "CE challenge baseline",
    ]
    for row in rows:
        samples_per_s = float(row.split()[-1])
        assert samples_per_s > 0
