"""The scoring warm-up at worker start: the first submission no longer pays for importing torch and
loading the compiled kernel. Run in child interpreters, so this process's imports prove nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from workers.warmup import scoring_warm_up

_CHILD = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
os.environ["PENTATHLON_EVALUATION_DEVICE"] = "auto"
import django
django.setup()
from evaluation.metrics import compiled
"""


def _run(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD) + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


@pytest.mark.slow  # a child interpreter that imports torch
def test_the_warm_up_imports_torch_and_compiles_the_kernel_for_both_float_types():
    out = _run(
        """
        from workers.warmup import scoring_warm_up
        before = ("torch" in sys.modules, len(compiled._compiled().signatures))
        print(*before, scoring_warm_up(), "torch" in sys.modules, len(compiled._compiled().signatures))
        """
    )
    assert out == ["False", "0", "cpu", "True", "2"]


@pytest.mark.slow  # a child interpreter that imports torch
def test_the_preload_before_forking_imports_but_compiles_nothing():
    out = _run(
        """
        from evaluation.scoring import preload
        preload("auto")
        print("torch" in sys.modules, "numba" in sys.modules, len(compiled._compiled().signatures))
        """
    )
    assert out == ["True", "True", "0"]


def test_a_failed_warm_up_is_logged_and_never_stops_the_worker(settings, caplog):
    settings.EVALUATION_DEVICE = "cuda"  # no CUDA here, or a bad value elsewhere: warm_up raises
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        settings.EVALUATION_DEVICE = "no-such-device"
    assert scoring_warm_up() is None
    assert "scoring warm-up failed" in caplog.text
