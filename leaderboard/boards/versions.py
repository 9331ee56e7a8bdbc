"""The version of a phase's leaderboards: every write that changes what a board shows bumps it.

Boards are cached (`leaderboard.boards.responses`) under the phase's current version, so bumping the
version is the whole invalidation: the next read of any board of the phase (any dataset, sort, page,
viewer) misses and renders from the database. The version lives in the board cache (shared by every
web process: Redis in production, files on the embedded default). When the cache has lost it, a new
one is drawn, so a cold cache is never stale, and every version is unique: a version derived from the
database could recur after a second loss with a change it did not summarise (a team's name) and serve
the board cached before. Uniqueness is what lets a process keep rendered bodies under their key.

Challenge's writers announce their changes (`challenge.events`), the receivers call these functions
(`leaderboard.boards.receivers`); the leaderboard's own writers call them directly. A bump is made
when the writing transaction commits, never before: a reader that started earlier would otherwise
cache the old rows under the new version.

The catalog version covers the phases and challenges themselves (slugs, publication, rules, the
challenge's metric): it is what lets a process keep the phase a board's URL names
(`leaderboard.boards.phases`) instead of querying it on every read. Every write to a phase or a
challenge bumps it: saves and deletes through Django's model signals, bulk writes through their query
set (`challenge.models.catalog`, which sends `challenge.events.catalog_changed_signal`), migrations at
their end.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.db import transaction

from challenge.models import Phase, Submission

VERSION_KEY = "board-version:{phase}"
CATALOG_KEY = "board-catalog-version"


def board_cache() -> BaseCache:
    """The cache holding board versions and rendered boards (`settings.BOARD_CACHE`)."""
    return caches[settings.BOARD_CACHE]


def phase_board_identity(*, phase: Phase) -> str:
    """The phase's id and a digest of its creation-time secret: a re-created database (same ids, new
    rows) never meets the boards cached for the old one."""
    digest = hashlib.sha256(phase.blinding_secret.encode()).hexdigest()[:12]
    return f"{phase.pk}-{digest}"


def phase_board_version(*, phase: Phase) -> str:
    """The current version of the phase's boards (one cache read when warm). A cache that lost it
    starts a new one (`add`: every process agrees on it), under which nothing is cached yet."""
    cache = board_cache()
    key = VERSION_KEY.format(phase=phase_board_identity(phase=phase))
    version = cache.get(key)
    if version is None:
        cache.add(key, uuid.uuid4().hex, timeout=None)
        # A cache that keeps nothing (the dummy backend) gives a version no process has seen.
        version = cache.get(key) or "unkept-" + uuid.uuid4().hex
    return str(version)


def board_versions_get(*, identity: str) -> tuple[str | None, str | None]:
    """The catalog version and the board version of the phase `identity`, in one cache read (None for
    a version the cache does not hold)."""
    key = VERSION_KEY.format(phase=identity)
    found = board_cache().get_many([CATALOG_KEY, key])
    return found.get(CATALOG_KEY), found.get(key)


def catalog_version() -> str:
    """The current version of the phases and challenges (one cache read when warm). A cache that lost
    it starts a new one: whatever a process kept under the old one is never used again."""
    cache = board_cache()
    version = cache.get(CATALOG_KEY)
    if version is None:
        cache.add(CATALOG_KEY, uuid.uuid4().hex, timeout=None)
        # A cache that keeps nothing (the dummy backend) gives a version no process has seen.
        version = cache.get(CATALOG_KEY) or "unkept-" + uuid.uuid4().hex
    return str(version)


def catalog_bump() -> None:
    """A new catalog version, now (after a write that is already committed: a migration)."""
    board_cache().set(CATALOG_KEY, uuid.uuid4().hex, timeout=None)


def catalog_changed() -> None:
    """A phase or challenge was written: bump the catalog version once the transaction commits (now,
    outside one). Call it after the write, never before: outside a transaction the bump is
    immediate, and a reader between it and the write would keep the old row under the new version."""
    transaction.on_commit(catalog_bump, robust=True)


def _bump(phases: list[Phase]) -> None:
    cache = board_cache()
    for phase in phases:
        cache.set(VERSION_KEY.format(phase=phase_board_identity(phase=phase)), uuid.uuid4().hex, timeout=None)


def phase_boards_changed(*, phase_ids: Iterable[int]) -> None:
    """Bump the board version of these phases once the current transaction commits (now, outside one)."""
    ids = sorted({int(i) for i in phase_ids if i is not None})
    if not ids:
        return
    # Read the secrets now (inside the transaction): a phase deleted by it needs no bump.
    phases = list(Phase.objects.filter(id__in=ids).only("id", "blinding_secret"))
    transaction.on_commit(lambda: _bump(phases), robust=True)


def challenge_boards_changed(*, challenge_id: int) -> None:
    """Bump every phase of a challenge (its metric, direction, precision or datasets changed)."""
    phase_boards_changed(
        phase_ids=Phase.objects.filter(challenge_id=challenge_id).values_list("id", flat=True)
    )


def submission_boards_changed(*, submission_ids: Iterable[int]) -> None:
    """Bump the phases of these submissions."""
    phase_boards_changed(
        phase_ids=Submission.objects.filter(id__in=list(submission_ids)).values_list("phase_id", flat=True)
    )
