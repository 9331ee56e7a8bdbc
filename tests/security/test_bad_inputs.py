"""Every malformed file of tests/security/corpus.py through the real pipeline, in process.

Submissions take both roads a file can take:

1. the REST upload (`/api/v1/submissions/create/`, eager Celery on commit): refused with a 400 and
   a sentence, or accepted and then FAILED by the evaluation task with the evaluation core's message;
2. straight to the worker: the stored file in a QUEUED row, `submission_evaluate_task` run on it
   (what happens if a file ever gets past the upload checks, e.g. after a reader change).

Either way the message must match the case's expectation, and never be the generic "internal
error"/"could not be read" fallback (which would mean an untyped exception escaped a reader).
Ground-truth files go through `phase_ground_truth_set`, the admin upload's service.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files import File
from rest_framework.test import APIClient

from challenge.models import Submission
from challenge.services import phase_ground_truth_set
from leaderboard.services import INTERNAL_ERROR
from tests.security.corpus import GROUND_TRUTH_CASES, SUBMISSION_CASES, write_case

pytestmark = pytest.mark.django_db

FALLBACKS = (INTERNAL_ERROR, "could not be read as a")


def _assert_clear(message: str, case, road: str) -> None:
    assert message, f"{case.name} ({road}): empty message"
    assert not any(fallback in message for fallback in FALLBACKS), (
        f"{case.name} ({road}): fallback {message!r}"
    )
    assert re.search(case.expect, message, re.IGNORECASE), (
        f"{case.name} ({road}): {message!r} !~ {case.expect!r}"
    )


def test_corpus_is_large_enough():
    assert len(SUBMISSION_CASES) + len(GROUND_TRUTH_CASES) >= 40
    assert len({case.name for case in SUBMISSION_CASES + GROUND_TRUTH_CASES}) == len(SUBMISSION_CASES) + len(
        GROUND_TRUTH_CASES
    )


@pytest.mark.slow  # each case is scored in the worker's child process, then uploaded
@pytest.mark.parametrize("case", SUBMISSION_CASES, ids=lambda case: case.name)
def test_bad_submission_fails_clearly_on_both_roads(
    case, participant, phase, tiny_truth, tmp_path, django_capture_on_commit_callbacks
):
    from workers.tasks import submission_evaluate_task

    path = write_case(case, tmp_path, tiny_truth)
    # the worker road: a QUEUED row holding the file, whatever the upload checks said
    team = participant.teams.get(challenge=phase.challenge)
    row = Submission(
        team=team,
        phase=phase,
        created_by=participant,
        file_format=path.suffix.lstrip(".") or "zip",
        file_size=path.stat().st_size,
        checksum_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),  # as accepted
        method_name=case.name,
        status=Submission.Status.QUEUED,
    )
    with open(path, "rb") as handle:
        row.file.save(path.name, File(handle), save=False)
    row.save()
    submission_evaluate_task.apply(args=[row.id])
    submission_evaluate_task.apply(args=[row.id])  # a duplicate message changes nothing
    row.refresh_from_db()
    assert row.status == Submission.Status.FAILED, (case.name, row.status)
    _assert_clear(row.error_message, case, "worker")
    assert row.attempts == 1
    assert not hasattr(row, "result") or row.result is None

    # the upload road last: a refusal marks the (test) transaction for rollback
    client = APIClient()
    client.force_authenticate(participant)
    with django_capture_on_commit_callbacks(execute=True), open(path, "rb") as handle:
        response = client.post(
            "/api/v1/submissions/create/",
            {"phase": phase.id, "method_name": case.name, "file": handle},
            format="multipart",
        )
    assert response.status_code in (201, 400), (case.name, response.status_code, response.content[:300])
    if response.status_code == 400:
        _assert_clear(response.json()["detail"], case, "upload")
    else:
        submission = Submission.objects.get(id=response.json()["id"])
        assert submission.status == Submission.Status.FAILED, (case.name, submission.status)
        _assert_clear(submission.error_message, case, "upload+worker")


@pytest.mark.parametrize("case", GROUND_TRUTH_CASES, ids=lambda case: case.name)
def test_bad_ground_truth_is_refused_clearly(case, challenge, tiny_truth, tmp_path):
    from tests.factories import PhaseFactory

    phase = PhaseFactory(challenge=challenge, slug="gt-check")
    path = write_case(case, tmp_path, tiny_truth)
    with open(path, "rb") as handle, pytest.raises(ValidationError) as raised:
        phase_ground_truth_set(phase=phase, file=File(handle, name="gt.h5"))
    _assert_clear(" ".join(raised.value.messages), case, "ground truth")
    phase.refresh_from_db()
    assert not phase.ground_truth and not phase.splits.exists()


def test_every_expectation_is_a_regular_expression_that_a_fallback_cannot_satisfy():
    """The clarity check itself: every case's expectation compiles, and a fallback or empty message is
    refused whatever the case, so a reader that lets an untyped exception escape is caught."""
    fallback_messages = (
        INTERNAL_ERROR,
        "The file 'x.npz' could not be read as a .npz submission; check that it is complete and valid.",
        "",
    )
    for case in SUBMISSION_CASES + GROUND_TRUTH_CASES:
        re.compile(case.expect)
        for message in fallback_messages:
            with pytest.raises(AssertionError):
                _assert_clear(message, case, "self-check")
