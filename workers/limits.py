"""The per-task memory limit of the evaluation processes (SECURITY.md, finding 14).

Each process that runs tasks (a prefork pool child, or the worker itself with the solo or threads
pool) gets `RLIMIT_DATA` = PENTATHLON_WORKER_MEMORY_LIMIT_MB: an allocation beyond it raises
MemoryError inside the scorer, which `leaderboard.services.evaluate` turns into a FAILED submission
(MEMORY_LIMIT, quota refunded) while the worker lives on. RLIMIT_DATA counts private writable memory
(heap and anonymous mappings, where numpy's large arrays live), not the address space that shared
libraries such as torch reserve, so the limit means "memory this task may fill". Celery's
`worker_max_memory_per_child` (the same figure) additionally replaces a prefork child whose resident
memory stayed above it after a task. A blow-up the limit does not catch (the kernel's OOM killer)
loses the worker; the lease and PENTATHLON_MAX_LOST_ATTEMPTS then fail the submission.
"""

from __future__ import annotations

import logging
import resource

from celery.signals import worker_init, worker_process_init
from django.conf import settings

logger = logging.getLogger(__name__)


def memory_limit_bytes() -> int | None:
    """The configured per-task limit in bytes, or None when it is off (0)."""
    mib = int(settings.PENTATHLON_WORKER_MEMORY_LIMIT_MB)
    return mib * 1024**2 if mib > 0 else None


def memory_limit_apply() -> int | None:
    """Lower this process's RLIMIT_DATA soft limit to the configured figure (never above its hard limit).

    Returns the limit set in bytes, or None when the setting is off.
    """
    limit = memory_limit_bytes()
    if limit is None:
        return None
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    return limit


@worker_process_init.connect
def _limit_pool_process(**_: object) -> None:
    limit = memory_limit_apply()
    if limit:
        logger.info("pool process: memory limit %d MiB per task (RLIMIT_DATA)", limit // 1024**2)


@worker_init.connect
def _limit_solo_worker(sender: object = None, **_: object) -> None:
    """With the solo or threads pool the worker's own process runs the tasks: limit it too."""
    pool = getattr(getattr(sender, "pool_cls", None), "__module__", "") or ""
    if pool.endswith(("solo", "thread")):
        limit = memory_limit_apply()
        if limit:
            logger.info("worker: memory limit %d MiB per task (RLIMIT_DATA)", limit // 1024**2)


@worker_init.connect
def _scoring_isolation(**_: object) -> None:
    """Mark the worker non-dumpable (its /proc/<pid>/environ becomes root's, so a scoring child of the
    same uid cannot read the secrets there) and say once which isolation its scoring children get."""
    from evaluation.sandbox import SandboxError, isolation_for, make_undumpable

    make_undumpable()
    try:
        isolation = isolation_for(
            settings.PENTATHLON_SCORING_ISOLATION,
            uid=settings.PENTATHLON_SCORING_UID,
            gid=settings.PENTATHLON_SCORING_GID,
        )
    except (SandboxError, ValueError) as exc:
        logger.error("scoring child isolation: %s; every evaluation will fail until this is fixed", exc)
        return
    logger.info("scoring child isolation: %s", isolation.describe())
