"""The intake checks: a file sent again is refused without quota or storage, and the quota and
unknown-phase refusals say what to do next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from challenge.exceptions import DuplicateSubmissionError, QuotaExceededError
from challenge.models import Submission
from challenge.selectors import phase_get
from challenge.services import submission_cancel
from core.exceptions import NotFoundError
from tests.factories import PhaseFactory

Status = Submission.Status
pytestmark = pytest.mark.django_db


def _stored_files() -> list[Path]:
    return [path for path in Path(settings.PRIVATE_STORAGE_ROOT).rglob("*") if path.is_file()]


def test_a_file_sent_again_is_refused_without_quota_or_storage(upload, phase, make_submission_file):
    phase.max_submissions_total = 1
    phase.save()
    path = make_submission_file("npz", seed=4)
    first = upload(path=path)
    assert first.status == Status.FINISHED
    stored = _stored_files()
    with pytest.raises(DuplicateSubmissionError) as refused:
        upload(path=path)
    error = refused.value
    # the duplicate is named before the (exhausted) quota: it would not have used a place
    assert error.status_code == 409 and error.submission_id == first.id
    assert error.url == f"{settings.PENTATHLON_SITE_URL.rstrip('/')}/submissions/{first.id}/"
    assert f"submission #{first.id}, {error.url}" in error.message
    assert first.checksum_sha256 in error.message and "uses no quota" in error.message
    assert error.extra == {"submission": first.id, "url": error.url}
    assert Submission.objects.count() == 1
    assert _stored_files() == stored  # nothing new stored


def test_a_failed_or_cancelled_file_may_be_sent_again(
    upload, queued, phase, nan_submission_file, make_submission_file, participant
):
    bad = nan_submission_file("MSRVTT")
    failed = upload(path=bad)
    assert failed.status == Status.FAILED
    assert upload(path=bad).status == Status.FAILED  # accepted again, and fails again in the worker
    path = make_submission_file("npz", seed=5)
    cancelled = queued(path)
    submission_cancel(submission=cancelled, user=participant)
    again = upload(path=path)
    assert again.status == Status.FINISHED
    with pytest.raises(DuplicateSubmissionError) as refused:
        upload(path=path)
    assert refused.value.submission_id == again.id  # the one that counts, not the cancelled one


def test_another_team_or_another_phase_may_send_the_same_file(
    upload, hidden_phase, other_participant, make_submission_file
):
    path = make_submission_file("npz", seed=6)
    upload(path=path)
    assert upload(path=path, user=other_participant).status == Status.FINISHED
    assert upload(path=path, phase_=hidden_phase).status == Status.FINISHED


def test_the_daily_quota_names_the_utc_time_of_the_next_slot(upload, phase):
    phase.max_submissions_per_day = 1
    phase.save()
    upload(seed=1)
    tomorrow = (timezone.now().astimezone(UTC) + timedelta(days=1)).date()
    with pytest.raises(QuotaExceededError) as refused:
        upload(seed=2)
    assert f"submit again from {tomorrow:%Y-%m-%d} 00:00 UTC" in refused.value.message
    assert "closes before then" not in refused.value.message


def test_the_daily_quota_says_when_the_phase_closes_first(upload, phase):
    phase.max_submissions_per_day = 1
    phase.ends_at = timezone.now() + timedelta(minutes=5)
    phase.save()
    upload(seed=1)
    with pytest.raises(QuotaExceededError, match="The phase closes before then, on .* UTC"):
        upload(seed=2)


def test_the_total_quota_suggests_cancelling_or_another_phase(upload, phase):
    phase.max_submissions_total = 1
    phase.save()
    upload(seed=1)
    with pytest.raises(QuotaExceededError) as refused:
        upload(seed=2)
    assert "Cancel one that has not started running" in refused.value.message
    assert f"`pentathlon phases {phase.challenge.slug}`" in refused.value.message


def test_an_unknown_phase_id_lists_the_open_phases(phase, participant):
    with pytest.raises(NotFoundError) as refused:
        phase_get(phase_id=999_999, user=participant)
    message = refused.value.message
    assert message.startswith("No phase with the id 999999 exists.")
    assert f"Open for submissions now: {phase.id} ({phase.challenge.slug}/{phase.slug})." in message
    assert "`pentathlon phases CHALLENGE`" in message


def test_an_unknown_phase_id_says_when_nothing_is_open(phase, participant):
    phase.starts_at = datetime(2999, 1, 1, tzinfo=UTC)
    phase.save()
    with pytest.raises(NotFoundError, match="No phase is open for submissions now"):
        phase_get(phase_id=999_999, user=participant)


def test_an_unknown_phase_slug_lists_the_challenges_phases_and_their_states(phase, participant):
    PhaseFactory(challenge=phase.challenge, slug="test", title="Test")  # no ground truth yet
    with pytest.raises(NotFoundError) as refused:
        phase_get(challenge=phase.challenge, slug="nope", user=participant)
    assert refused.value.message == (
        f"The challenge {phase.challenge.slug!r} has no phase 'nope'; its phases are: "
        f"{phase.slug} (open), test (not open yet). `pentathlon phases {phase.challenge.slug}` lists "
        "them with their ids."
    )


def test_a_top_k_csv_is_checked_at_upload_not_only_by_the_worker(participant, phase, tmp_path, tiny_truth):
    """A CSV of bare indices on a blind phase and a CSV with a repeated query id are refused before
    the file is stored (the phase fixture is blind)."""
    import re
    import zipfile

    import numpy as np

    from challenge.models import Submission
    from challenge.services import submission_create
    from core.exceptions import ApplicationError
    from evaluation.synthetic import codalab_csv
    from evaluation.validation import BLIND_TOPK_NEEDS_IDS

    truth = tiny_truth.datasets["DiDeMo"]
    topk = np.tile(np.arange(10), (truth.num_queries, 1))

    def upload(text: str, name: str):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("DiDeMo-val-predictions.csv", text)
        with open(path, "rb") as handle:
            return submission_create(user=participant, phase=phase, file=handle, method_name=name)

    with pytest.raises(ApplicationError, match=re.escape(BLIND_TOPK_NEEDS_IDS[:60])):
        upload(codalab_csv(topk), "bare.zip")
    ids = ["qa"] * truth.num_queries  # every row names the same query
    rows = "\n".join(f"{q}," + ",".join(map(str, row)) for q, row in zip(ids, topk, strict=True))
    with pytest.raises(ApplicationError, match="on more than one row"):
        upload(rows + "\n", "repeated.zip")
    assert not Submission.objects.exists()


def test_top_k_lists_of_gallery_ids_are_read_against_the_phase_gallery_at_upload(
    participant, phase, tmp_path
):
    """A JSON top-k and a gallery-id CSV naming the kit's query ids are accepted and queued; an id the
    gallery does not list is refused before the file is stored (docs/design.md, section 5)."""
    import json
    import zipfile

    from challenge.models import Submission
    from challenge.publication import phase_published_truth
    from challenge.services import submission_create
    from core.exceptions import ApplicationError

    published = phase_published_truth(phase=phase).datasets["DiDeMo"]  # what the kit lists
    lists = {
        q: list(published.videos[(i + j) % published.num_videos] for j in range(10))
        for i, q in enumerate(published.query_ids)
    }

    def upload(member: str, body: bytes, name: str):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(member, body)
        with open(path, "rb") as handle:
            return submission_create(user=participant, phase=phase, file=handle, method_name=name)

    csv = "query_id,gallery_ids\n" + "".join(f"{q},{','.join(ids)}\n" for q, ids in lists.items())
    accepted = [
        upload("DiDeMo-val-predictions.json", json.dumps(lists).encode(), "ids.zip"),
        upload("DiDeMo-val-predictions.csv", csv.encode(), "ids-csv.zip"),
    ]
    assert [s.status for s in accepted] == [Submission.Status.QUEUED] * 2
    first = published.query_ids[0]
    lists[first] = ["not-a-video", *lists[first][1:]]
    with pytest.raises(
        ApplicationError, match=f"the list of the query '{first}' names the gallery item 'not-a-video'"
    ):
        upload("DiDeMo-val-predictions.json", json.dumps(lists).encode(), "unknown.zip")
    assert Submission.objects.count() == 2
