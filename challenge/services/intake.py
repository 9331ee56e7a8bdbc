"""The checks an upload passes before it becomes a submission: the phase is open, the format is one the
phase accepts, the team has not sent this very file already, and the team has quota left. Shared by the
direct and the chunked upload."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from challenge.exceptions import DuplicateSubmissionError, QuotaExceededError
from challenge.models import Phase, Submission, Team
from challenge.selectors import (
    challenge_is_organiser,
    submission_quota_counted,
    submission_same_file,
    utc_day_bounds,
)
from core.exceptions import ApplicationError

Status = Submission.Status

PHASE_NOT_STARTED = (
    "The phase {phase!r} opens on {when:%Y-%m-%d %H:%M} UTC; submissions are not accepted yet."
)
PHASE_ENDED = "The phase {phase!r} closed on {when:%Y-%m-%d %H:%M} UTC; submissions are no longer accepted."
PHASE_NO_GROUND_TRUTH = (
    "The phase {phase!r} does not accept submissions yet: its ground truth has not been uploaded."
)
QUOTA_TOTAL = (
    "Your team has used all {limit} submissions of the phase {phase!r} (failed and cancelled submissions do "
    "not count). Cancel one that has not started running to free its place, or submit to another open "
    "phase: `pentathlon phases {challenge}` lists them."
)
QUOTA_DAY = (
    "Your team has used its {limit} submissions for today in the phase {phase!r} (failed and cancelled "
    "submissions do not count); the count resets at 00:00 UTC, so submit again from {reset:%Y-%m-%d %H:%M} "
    "UTC.{closes}"
)
#: The same refusal on the submit page, which links the earlier submission itself.
DUPLICATE_FILE_PAGE = (
    "Your team already submitted this file to the phase {phase!r}, as submission #{submission}: it was "
    "not stored again and used no quota. Submit a changed file (the file of a failed or cancelled "
    "submission may be sent again)."
)
QUOTA_DAY_CLOSES_FIRST = " The phase closes before then, on {when:%Y-%m-%d %H:%M} UTC."
DUPLICATE_FILE = (
    "Your team already submitted this file (sha256 {sha256}) to the phase {phase!r}: it is submission "
    "#{submission}, {url}. The file was not stored again and uses no quota; submit a changed file "
    "(the file of a failed or cancelled submission may be sent again)."
)
FILE_TOO_LARGE = "The file is {size:,} bytes; the largest submission accepted is {limit:,} bytes."
FILE_EMPTY = "The file is empty."
FORMAT_UNKNOWN = "The file name {name!r} does not end in .zip, .npz or .h5; the phase accepts {allowed}."
FORMAT_NOT_ALLOWED = "The phase {phase!r} does not accept .{fmt} files; it accepts {allowed}."
MAGIC_MISMATCH = (
    "The file {name!r} is not a valid {fmt} file: its first bytes do not match the format its name says."
)

CODE_NEEDS_ZIP = "The phase {phase!r} runs programs: upload a .zip holding main.py (and any files it reads)."

MAGIC = {
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "npz": (b"PK\x03\x04", b"PK\x05\x06"),
    "h5": (b"\x89HDF\r\n\x1a\n",),
}
EXTENSIONS = {".zip": "zip", ".npz": "npz", ".h5": "h5", ".hdf5": "h5"}


def phase_ensure_open(*, phase: Phase, user: User) -> None:
    """Refuse an upload to a phase without ground truth, or outside its dates (organisers excepted)."""
    if not phase.ground_truth:
        raise ApplicationError(PHASE_NO_GROUND_TRUTH.format(phase=phase.title))
    if challenge_is_organiser(user=user, challenge=phase.challenge_id):
        return  # the challenge's organisers may submit baselines outside the phase's dates
    now = timezone.now()
    if now < phase.starts_at:
        raise ApplicationError(PHASE_NOT_STARTED.format(phase=phase.title, when=phase.starts_at))
    if phase.ends_at is not None and now >= phase.ends_at:
        raise ApplicationError(PHASE_ENDED.format(phase=phase.title, when=phase.ends_at))


def phase_format_of(*, name: str, phase: Phase) -> str:
    """The format a file name says ("zip", "npz" or "h5"), refused unless the phase accepts it."""
    fmt = EXTENSIONS.get(Path(name).suffix.lower())
    if phase.is_code:  # a program archive, whatever the phase's prediction formats say
        if fmt != "zip":
            raise ApplicationError(CODE_NEEDS_ZIP.format(phase=phase.title))
        return fmt
    allowed = ", ".join(f".{fmt}" for fmt in phase.formats)
    if fmt is None:
        raise ApplicationError(FORMAT_UNKNOWN.format(name=name, allowed=allowed))
    if fmt not in phase.formats:
        raise ApplicationError(FORMAT_NOT_ALLOWED.format(phase=phase.title, fmt=fmt, allowed=allowed))
    return fmt


def team_lock(*, team: Team) -> None:
    """Lock the team's row until the transaction ends: the duplicate and quota checks and the insert
    of one team's uploads run one at a time.

    On PostgreSQL `select_for_update` serialises concurrent uploads of one team; on SQLite the
    IMMEDIATE transactions serialise all writers.
    """
    Team.objects.select_for_update().filter(id=team.id).first()


def duplicate_check(*, team: Team, phase: Phase, sha256: str) -> None:
    """Refuse a file the team already submitted to the phase (same sha256), unless that submission
    FAILED or was CANCELLED: such a file may be sent again (e.g. after a server-side failure).

    Race-safe only inside the transaction that holds `team_lock`; without it a quick early refusal.
    """
    earlier = submission_same_file(team=team, phase=phase, sha256=sha256)
    if earlier is None:
        return
    url = settings.PENTATHLON_SITE_URL.rstrip("/") + reverse(
        "challenge:submission", kwargs={"submission_id": earlier.id}
    )
    raise DuplicateSubmissionError(
        DUPLICATE_FILE.format(sha256=sha256.lower(), phase=phase.title, submission=earlier.id, url=url),
        submission_id=earlier.id,
        url=url,
        page_message=DUPLICATE_FILE_PAGE.format(phase=phase.title, submission=earlier.id),
    )


def quota_check(*, team: Team, phase: Phase) -> None:
    """Count the team's submissions under a lock on the team row (failed and cancelled ones are free)."""
    team_lock(team=team)
    counted = submission_quota_counted(team=team, phase=phase)
    if phase.max_submissions_total is not None and counted.count() >= phase.max_submissions_total:
        raise QuotaExceededError(
            QUOTA_TOTAL.format(
                limit=phase.max_submissions_total, phase=phase.title, challenge=phase.challenge.slug
            )
        )
    if phase.max_submissions_per_day is not None:
        midnight, next_midnight = utc_day_bounds(timezone.now())
        today = counted.filter(created_at__gte=midnight, created_at__lt=next_midnight).count()
        if today >= phase.max_submissions_per_day:
            closes = phase.ends_at is not None and phase.ends_at <= next_midnight
            raise QuotaExceededError(
                QUOTA_DAY.format(
                    limit=phase.max_submissions_per_day,
                    phase=phase.title,
                    reset=next_midnight,
                    closes=QUOTA_DAY_CLOSES_FIRST.format(when=phase.ends_at) if closes else "",
                )
            )
