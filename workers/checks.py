"""System checks of the evaluation pipeline's settings (run by `manage.py check` and at worker start)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register("pentathlon")
def evaluation_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The broker's visibility timeout outlasts the longest evaluation; the lease outlasts several heartbeats."""
    errors = []
    longest = max(settings.CELERY_TASK_TIME_LIMIT, settings.PENTATHLON_EVALUATION_MAX_LIMIT)
    visibility = (settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("visibility_timeout")
    if visibility is not None and visibility <= longest:
        errors.append(
            Error(
                f"The broker's visibility timeout ({visibility} s) is not above the longest evaluation ({longest} s).",
                hint="Raise CELERY_VISIBILITY_TIMEOUT or lower PENTATHLON_EVALUATION_MAX_LIMIT / _HARD_LIMIT; otherwise "
                "the broker re-delivers an evaluation that is still running.",
                id="workers.E001",
            )
        )
    if settings.CELERY_TASK_SOFT_TIME_LIMIT >= settings.CELERY_TASK_TIME_LIMIT:
        errors.append(
            Error(
                "PENTATHLON_EVALUATION_SOFT_LIMIT must be below PENTATHLON_EVALUATION_HARD_LIMIT.",
                id="workers.E002",
            )
        )
    if settings.PENTATHLON_HEARTBEAT_STALE_AFTER < 3 * settings.PENTATHLON_HEARTBEAT_INTERVAL:
        errors.append(
            Error(
                f"PENTATHLON_HEARTBEAT_STALE_AFTER ({settings.PENTATHLON_HEARTBEAT_STALE_AFTER} s) must be at least three "
                f"heartbeat intervals ({settings.PENTATHLON_HEARTBEAT_INTERVAL} s each).",
                hint="A live worker would otherwise lose its lease and its evaluation would be re-queued.",
                id="workers.E003",
            )
        )
    if settings.PENTATHLON_SCORING_ISOLATION not in ("auto", "bwrap", "env"):
        errors.append(
            Error(
                f"PENTATHLON_SCORING_ISOLATION is {settings.PENTATHLON_SCORING_ISOLATION!r}; expected auto, bwrap or env.",
                hint="See docs/deploying.md, 'The scoring child'.",
                id="workers.E004",
            )
        )
    return errors
