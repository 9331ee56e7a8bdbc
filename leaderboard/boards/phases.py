"""The phase a board's URL names, kept by each web process under the catalog version.

An anonymous board request needs the phase its URL names (slugs or id), the settings that are part of
the board's key and the phase's board version. Each process keeps the phases it has read under the
catalog version (`leaderboard.boards.versions`), which every write to a phase or a challenge bumps: a
warm read is one cache read of both versions and no query (`docs/leaderboard-cache.md`).
"""

from __future__ import annotations

import time as time_module
from dataclasses import dataclass
from typing import Any

from django.db import connection

from challenge.models import Challenge, Phase
from leaderboard.boards.versions import (
    board_versions_get,
    catalog_version,
    phase_board_identity,
    phase_board_version,
)

#: The fields `phase_brief_get` reads: what a cached board's key needs (`leaderboard.boards.responses`).
_BRIEF_PHASE = (
    "id",
    "challenge_id",
    "slug",
    "blinding_secret",
    "leaderboard_visibility",
    "final_submission",
    "aggregation",
    "intervals_enabled",
    "interval_level",
)
#: The direction is no column: `Challenge.higher_is_better` derives it from `primary_metric`.
_BRIEF_CHALLENGE = ("slug", "primary_metric", "score_decimals")


def phase_brief_get(
    *, challenge_slug: str | None = None, slug: str | None = None, phase_id: int | None = None
) -> Phase | None:
    """A phase of a public challenge, as an anonymous visitor may see it, with only the fields that
    find its cached boards; None when there is no such phase (then `phase_get` gives the 404).

    One plain SQL query, not the ORM: a cached board is served at thousands of requests per second
    and building the ORM query cost more than everything else of such a request. The instances hold
    only the fields above and must never be saved; a page rendered on a cache miss loads the phase
    in full.
    """
    if phase_id is not None and not 0 < phase_id < 2**63:
        return None
    row = _phase_brief_row(challenge_slug=challenge_slug, slug=slug, phase_id=phase_id)
    return None if row is None else _phase_from_brief_row(row)


def _phase_brief_row(
    *, challenge_slug: str | None, slug: str | None, phase_id: int | None
) -> tuple[Any, ...] | None:
    phases, challenges = Phase._meta.db_table, Challenge._meta.db_table
    columns = ", ".join([f"p.{c}" for c in _BRIEF_PHASE] + [f"c.{c}" for c in _BRIEF_CHALLENGE])
    where, params = (
        ("p.id = %s", [phase_id])
        if phase_id is not None
        else ("c.slug = %s AND p.slug = %s", [challenge_slug, slug])
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {phases} p JOIN {challenges} c ON c.id = p.challenge_id "  # noqa: S608 - table names from the models, values bound
            f"WHERE c.is_public = %s AND {where}",
            [True, *params],
        )
        row = cursor.fetchone()
    return None if row is None else tuple(row)


def _phase_from_brief_row(row: tuple[Any, ...]) -> Phase:
    phase_values = dict(zip(_BRIEF_PHASE, row[: len(_BRIEF_PHASE)], strict=True))
    challenge = Challenge(
        id=phase_values["challenge_id"],
        is_public=True,
        **dict(zip(_BRIEF_CHALLENGE, row[len(_BRIEF_PHASE) :], strict=True)),
    )
    phase = Phase(challenge=challenge, **{k: v for k, v in phase_values.items() if k != "challenge_id"})
    challenge._state.adding = phase._state.adding = False
    return phase


@dataclass(frozen=True)
class _KeptBrief:
    catalog: str  # the catalog version read before the row was
    row: tuple[Any, ...]
    identity: str  # `phase_board_identity`: where the phase's board version lives
    at: float  # time.monotonic() when read


#: The briefs this process has read, by (challenge slug, phase slug, phase id). Each is used only
#: while the catalog version it was read under is current; bounded (a flood of URLs cannot grow it).
_KEPT_BRIEFS: dict[tuple[Any, ...], _KeptBrief] = {}
_KEPT_BRIEFS_LIMIT = 1024
#: Seconds a kept brief is used at most: a write made past Django (SQL by hand), which bumps no
#: version, is current within this time.
KEPT_BRIEF_SECONDS = 5.0


def phase_board_brief(
    *, challenge_slug: str | None = None, slug: str | None = None, phase_id: int | None = None
) -> tuple[Phase, str] | None:
    """`phase_brief_get` and the phase's board version, or None (no such public phase).

    Kept by the process under the catalog version (`leaderboard.boards.versions`), which every write to
    a phase or challenge bumps: a warm read is one cache read of both versions and no query. The
    catalog version is read before the row, so a row kept under a version is at least as new as it.
    """
    if phase_id is not None and not 0 < phase_id < 2**63:
        return None
    lookup = (challenge_slug, slug, phase_id)
    kept = _KEPT_BRIEFS.get(lookup)
    if kept is not None and time_module.monotonic() - kept.at < KEPT_BRIEF_SECONDS:
        catalog, board = board_versions_get(identity=kept.identity)
        if catalog == kept.catalog and board is not None:
            return _phase_from_brief_row(kept.row), board
    catalog = catalog_version()
    row = _phase_brief_row(challenge_slug=challenge_slug, slug=slug, phase_id=phase_id)
    if row is None:  # not kept: unknown URLs must not fill the process
        return None
    phase = _phase_from_brief_row(row)
    if len(_KEPT_BRIEFS) >= _KEPT_BRIEFS_LIMIT:
        _KEPT_BRIEFS.clear()
    _KEPT_BRIEFS[lookup] = _KeptBrief(
        catalog=catalog, row=row, identity=phase_board_identity(phase=phase), at=time_module.monotonic()
    )
    return phase, phase_board_version(phase=phase)
