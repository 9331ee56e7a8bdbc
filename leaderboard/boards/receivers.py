"""Every way the boards learn of a write: challenge's events and the model signals of saves that bypass
the services (the admin, a shell). Each bumps the boards' version (`leaderboard.boards.versions`);
the services announce their writes too, and a second bump costs one cache write."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models.signals import post_delete, post_migrate, post_save

from challenge import events
from challenge.models import Challenge, Dataset, Phase, Split, Submission, Team
from leaderboard.boards.versions import (
    catalog_bump,
    catalog_changed,
    challenge_boards_changed,
    phase_boards_changed,
    submission_boards_changed,
)
from leaderboard.models import Result

logger = logging.getLogger(__name__)


def _phases_announced(sender: Any, *, phase_ids: list[int], **kwargs: Any) -> None:
    phase_boards_changed(phase_ids=phase_ids)


def _challenge_announced(sender: Any, *, challenge_id: int, **kwargs: Any) -> None:
    challenge_boards_changed(challenge_id=challenge_id)


def _submissions_announced(sender: Any, *, submission_ids: list[int], **kwargs: Any) -> None:
    submission_boards_changed(submission_ids=submission_ids)


def _phase_changed(sender: type, instance: Phase, **kwargs: Any) -> None:
    phase_boards_changed(phase_ids=[instance.pk])


def _phase_row_changed(sender: type, instance: Any, created: bool = False, **kwargs: Any) -> None:
    if not created:  # a new submission is not on any board until it finishes (which bumps)
        phase_boards_changed(phase_ids=[instance.phase_id])


def _challenge_changed(sender: type, instance: Challenge, **kwargs: Any) -> None:
    challenge_boards_changed(challenge_id=instance.pk)


def _challenge_row_changed(sender: type, instance: Any, created: bool = False, **kwargs: Any) -> None:
    if not created or sender is Dataset:
        challenge_boards_changed(challenge_id=instance.challenge_id)


def _result_changed(sender: type, instance: Result, **kwargs: Any) -> None:
    submission_boards_changed(submission_ids=[instance.submission_id])


def _catalog_row_changed(sender: Any, **kwargs: Any) -> None:
    catalog_changed()


def _migrated(sender: Any, **kwargs: Any) -> None:
    # A data migration writes through historical models, past the catalog's query set. A cache that is
    # down must not fail the migration: processes start with nothing kept, and a deploy restarts them.
    try:
        catalog_bump()
    except Exception:  # noqa: BLE001 - any cache backend's error
        logger.warning("could not bump the board catalog version after migrating", exc_info=True)


def connect_board_invalidation() -> None:
    """Connect the receivers (from `LeaderboardConfig.ready`)."""
    events.phase_boards_changed_signal.connect(_phases_announced, dispatch_uid="boards-event-phases")
    events.challenge_boards_changed_signal.connect(
        _challenge_announced, dispatch_uid="boards-event-challenge"
    )
    events.submission_boards_changed_signal.connect(
        _submissions_announced, dispatch_uid="boards-event-submissions"
    )
    events.catalog_changed_signal.connect(_catalog_row_changed, dispatch_uid="catalog-event")
    for model in (Phase, Challenge):
        post_save.connect(_catalog_row_changed, sender=model, dispatch_uid=f"catalog-save-{model.__name__}")
        post_delete.connect(
            _catalog_row_changed, sender=model, dispatch_uid=f"catalog-delete-{model.__name__}"
        )
    post_migrate.connect(_migrated, dispatch_uid="catalog-migrated")
    post_save.connect(_phase_changed, sender=Phase, dispatch_uid="boards-phase")
    post_save.connect(_challenge_changed, sender=Challenge, dispatch_uid="boards-challenge")
    for row_model in (Submission, Split):
        name = row_model.__name__
        post_save.connect(_phase_row_changed, sender=row_model, dispatch_uid=f"boards-save-{name}")
        post_delete.connect(_phase_row_changed, sender=row_model, dispatch_uid=f"boards-delete-{name}")
    for challenge_model in (Team, Dataset):
        name = challenge_model.__name__
        post_save.connect(_challenge_row_changed, sender=challenge_model, dispatch_uid=f"boards-save-{name}")
        post_delete.connect(
            _challenge_row_changed, sender=challenge_model, dispatch_uid=f"boards-delete-{name}"
        )
    # A result edited or deleted outside the services (the admin) changes its phase's boards.
    post_save.connect(_result_changed, sender=Result, dispatch_uid="boards-save-result")
    post_delete.connect(_result_changed, sender=Result, dispatch_uid="boards-delete-result")
