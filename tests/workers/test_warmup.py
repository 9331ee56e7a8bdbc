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


@pytest.mark.slow  # a child interpreter that loads (or compiles) numba's kernels
def test_the_kernel_cache_filler_leaves_every_scoring_kernel_loadable_from_disk():
    from evaluation.metrics import compiled
    from workers.warmup import kernel_cache_fill

    filler = kernel_cache_fill()
    assert filler is not None and filler.wait(timeout=300) == 0
    folder = compiled._compiled()._cache._cache_path
    import os

    names = os.listdir(folder)
    for kernel in ("compiled.", "relevance_kernel.row_stats", "relevance_kernel.group_counts"):
        assert any(n.startswith(kernel) and n.endswith(".nbc") for n in names), (kernel, names)
    out = _run(
        """
        from evaluation.kernel_cache import compile_kernels
        from evaluation.metrics import relevance_kernel
        compile_kernels()
        for kernel in (compiled._compiled(), relevance_kernel.row_stats):  # row_stats holds group_counts
            print(sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values()))
        """
    )
    hits, misses = [int(n) for n in out[0::2]], [int(n) for n in out[1::2]]
    assert misses == [0, 0] and all(hits), out  # a new process loads every kernel, compiles none
