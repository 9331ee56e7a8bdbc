"""Writes of code phases: the organisers' gallery inputs, and the check of an uploaded program."""

from __future__ import annotations

from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction

from challenge.models import Phase, Submission
from challenge.services.files import spooled_copy, store_spooled
from challenge.services.organiser import organiser_action_record
from core.exceptions import ApplicationError

GALLERY_TOO_LARGE = "The gallery inputs are {size:,} bytes; at most {limit:,} are accepted."
NOT_A_CODE_PHASE = (
    "The phase {phase!r} takes predictions, not programs: gallery inputs belong to code phases."
)


def program_check(*, path: str) -> dict[str, Any]:
    """Check an uploaded program archive (bounded, safe paths, main.py found); its summary for the row.

    Raises:
        ApplicationError: the archive is refused, saying why.
    """
    from sandbox.archive import ArchiveError, ArchiveLimits
    from sandbox.archive import program_check as check

    try:
        return check(path, limits=ArchiveLimits(max_bytes=settings.PENTATHLON_PROGRAM_MAX_BYTES))
    except ArchiveError as exc:
        raise ApplicationError(str(exc)) from exc


@transaction.atomic
def phase_gallery_inputs_set(*, phase: Phase, file: IO[bytes] | File[bytes] | None) -> Phase:
    """Store (or, with None, remove) the zip of gallery inputs every run of the code phase gets at
    /input/gallery; checked like a program archive (bounded, safe paths) before it is stored."""
    from sandbox.archive import ArchiveError, ArchiveLimits, bundle_check

    if not phase.is_code:
        raise ApplicationError(NOT_A_CODE_PHASE.format(phase=phase.title))
    old_name = phase.gallery_inputs.name if phase.gallery_inputs else ""
    if file is None:
        phase.gallery_inputs = ""
    else:
        limit = settings.PENTATHLON_GALLERY_INPUTS_MAX_BYTES
        with spooled_copy(file, suffix=".zip", limit=limit, too_large=GALLERY_TOO_LARGE) as (tmp_path, _, _):
            try:
                bundle_check(tmp_path, limits=ArchiveLimits(max_members=100_000, max_bytes=limit))
            except ArchiveError as exc:
                raise ApplicationError(str(exc)) from exc
            store_spooled(phase.gallery_inputs, "gallery.zip", tmp_path)
    phase.save(update_fields=["gallery_inputs"])
    if old_name and old_name != phase.gallery_inputs.name:
        storage = phase._meta.get_field("gallery_inputs").storage
        transaction.on_commit(lambda: storage.delete(old_name))
    return phase


def phase_gallery_inputs_upload(
    *, phase: Phase, file: IO[bytes] | File[bytes] | None, actor: User | None = None
) -> Phase:
    """The console's gallery-inputs upload (or, with None, removal): `phase_gallery_inputs_set`, the
    admin's one service, then the action logged with the archive's size.

    Raises:
        ApplicationError: not a code phase, or the archive is refused (nothing is stored or logged).
    """
    replaced = bool(phase.gallery_inputs)
    phase = phase_gallery_inputs_set(phase=phase, file=file)
    if file is None:
        action, detail = "remove gallery inputs", ""
    else:
        action = "replace gallery inputs" if replaced else "upload gallery inputs"
        detail = f"{phase.gallery_inputs.size:,} bytes"
    organiser_action_record(
        challenge=phase.challenge_id, user=actor, action=action, target=f"phase {phase.title}", detail=detail
    )
    return phase


def submission_program_run_record(*, row: dict[str, Any], run: dict[str, Any]) -> bool:
    """Store how the program's run went on the claimed row (a row taken over meanwhile is left alone)."""
    return bool(Submission.objects.filter(**row).update(program_run=run))
