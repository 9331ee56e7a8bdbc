"""Scoring's one-time costs (importing torch to resolve the device, loading the compiled rank kernel)
paid when a worker process starts, not by the first submission it scores: measured on the 2-core
machine, the first full-scale test submission of a fresh worker took 12.8 s to score against 1.3 s
for the next one.

The process that runs tasks warms up: the worker itself with the solo or threads pool (`worker_init`);
with the prefork pool the parent only imports (`evaluation.scoring.preload`: no thread, no device,
so forking stays safe) and each child finishes the warm-up after the fork (`worker_process_init`),
well inside Celery's 4 s limit for a child to report ready. A failure here is logged and never
stops the worker: the first task then pays the cost itself.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

from celery.signals import worker_init, worker_process_init
from django.conf import settings

logger = logging.getLogger(__name__)


def scoring_warm_up() -> str | None:
    """Warm the evaluation core for the configured device; returns it, or None when that failed."""
    from evaluation.scoring import warm_up

    began = time.perf_counter()
    try:
        device = warm_up(settings.EVALUATION_DEVICE)
    except Exception:  # the worker must start anyway; the first task will report a real problem
        logger.exception("scoring warm-up failed; the first task pays the start-up cost")
        return None
    logger.info("scoring warmed up on %s in %.1f s", device, time.perf_counter() - began)
    return device


#: The cache filler of this worker (kept so that it is not collected while it runs).
_filler: subprocess.Popen[bytes] | None = None


def kernel_cache_fill() -> subprocess.Popen[bytes] | None:
    """Start filling numba's on-disk cache with every scoring kernel (evaluation.kernel_cache), in a
    process of its own: scoring children copy that cache, and compiling takes longer than a pool
    process may take to report ready. Returns the process, or None when it could not start."""
    global _filler
    import evaluation

    root = os.path.dirname(os.path.dirname(os.path.abspath(evaluation.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    try:
        _filler = subprocess.Popen(
            [sys.executable, "-m", "evaluation.kernel_cache"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    except OSError:
        logger.exception("could not start filling the kernel cache; scoring children compile what they need")
        return None
    return _filler


@worker_process_init.connect
def _warm_pool_process(**_: object) -> None:
    scoring_warm_up()


@worker_init.connect
def _warm_worker(sender: object = None, **_: object) -> None:
    kernel_cache_fill()
    pool = getattr(getattr(sender, "pool_cls", None), "__module__", "") or ""
    if pool.endswith(("solo", "thread")):
        scoring_warm_up()
        return
    from evaluation.scoring import preload

    try:
        preload(settings.EVALUATION_DEVICE)
    except Exception:
        logger.exception("scoring preload failed; each pool process imports what it needs itself")
