from __future__ import annotations

import zipfile
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.utils import timezone

from challenge.exceptions import QuotaExceededError
from challenge.models import Split, Submission, TeamMembership
from challenge.services import (
    phase_ground_truth_set,
    phase_rescore,
    submission_cancel,
    submission_create,
    submission_update,
    team_create,
    team_join,
)
from core.exceptions import ApplicationError, PermissionDeniedError
from tests.factories import PhaseFactory, UserFactory

Status = Submission.Status
pytestmark = pytest.mark.django_db


# --- teams --------------------------------------------------------------------------------------------


def test_team_create_makes_the_user_its_owner(challenge):
    user = UserFactory()
    team = team_create(challenge=challenge, user=user, name="  Gamma ")
    assert team.name == "Gamma"
    assert TeamMembership.objects.get(user=user).role == TeamMembership.Role.OWNER


def test_team_join_by_invite_code(challenge, team):
    newcomer = UserFactory()
    assert team_join(challenge=challenge, user=newcomer, invite_code=team.invite_code) == team
    assert set(team.members.values_list("username", flat=True)) == {"alice", newcomer.username}


def test_team_join_with_unknown_code_is_refused(challenge, team):
    with pytest.raises(ApplicationError, match="No team has this invite code"):
        team_join(challenge=challenge, user=UserFactory(), invite_code="nope")


def test_one_team_per_participant_and_challenge(challenge, participant, other_participant):
    other_team = other_participant.teams.get()
    with pytest.raises(ApplicationError, match="already in team 'Alpha'"):
        team_join(challenge=challenge, user=participant, invite_code=other_team.invite_code)
    with pytest.raises(ApplicationError, match="already in team"):
        team_create(challenge=challenge, user=participant, name="Second")


def test_team_names_are_unique_per_challenge_case_insensitively(challenge, team):
    with pytest.raises(ApplicationError, match="already exists"):
        team_create(challenge=challenge, user=UserFactory(), name="alpha")


# --- ground truth -------------------------------------------------------------------------------------


def test_ground_truth_upload_records_splits_and_stays_private(phase, tiny_truth, settings):
    splits = {s.dataset.name: s for s in Split.objects.filter(phase=phase).select_related("dataset")}
    assert set(splits) == set(tiny_truth.datasets)
    for name, truth in tiny_truth.datasets.items():
        assert (splits[name].num_queries, splits[name].num_videos) == (truth.num_queries, truth.num_videos)
    stored = phase.ground_truth.path
    assert stored.startswith(str(settings.PRIVATE_STORAGE_ROOT))
    assert not stored.startswith(str(settings.MEDIA_ROOT))
    assert len(phase.ground_truth_sha256) == 64


def test_invalid_ground_truth_is_rejected_with_the_evaluation_message(challenge):
    phase = PhaseFactory(challenge=challenge)
    with pytest.raises(ValidationError, match="Invalid ground-truth file: .*not a readable HDF5 file"):
        phase_ground_truth_set(phase=phase, file=ContentFile(b"not hdf5 at all", name="gt.h5"))
    phase.refresh_from_db()
    assert not phase.ground_truth
    assert not phase.splits.exists()


def test_ground_truth_with_a_dataset_unknown_to_the_challenge_is_rejected(tmp_path, tiny_truth):
    from evaluation.ground_truth import write_ground_truth
    from tests.factories import ChallengeFactory, DatasetFactory

    other = ChallengeFactory()
    DatasetFactory(challenge=other, name="MSRVTT")
    path = tmp_path / "gt.h5"
    write_ground_truth(path, tiny_truth)
    with pytest.raises(ValidationError, match="MSVD.* are not datasets of the challenge"):
        with open(path, "rb") as handle:
            phase_ground_truth_set(phase=PhaseFactory(challenge=other), file=File(handle))


# --- submissions ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["npz", "h5", "codalab"])
def test_submission_create_stores_queues_and_scores_on_commit(upload, kind, settings):
    submission = upload(kind, is_public=False, description="d", paper_url="https://example.org/p")
    assert submission.status == Status.FINISHED, submission.error_message
    assert submission.file_format == ("zip" if kind == "codalab" else kind)
    assert submission.file.name.startswith(f"submissions/{submission.phase_id}/")
    assert "submission-" not in submission.file.name  # generated name, not the user's
    assert submission.original_filename.startswith("submission-")
    assert submission.file.path.startswith(str(settings.PRIVATE_STORAGE_ROOT))
    assert len(submission.checksum_sha256) == 64 and submission.file_size > 0
    result = submission.result
    assert set(result.metrics) == {"MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"}
    assert result.primary_score is not None and 0 < result.primary_score <= 100
    assert submission.progress["fraction"] == 1.0


def test_the_spooled_copy_is_moved_into_storage_not_copied_again(
    participant, phase, make_submission_file, monkeypatch
):
    import os
    import tempfile

    spooled = []
    real_mkstemp = tempfile.mkstemp

    def recording_mkstemp(*args, **kwargs):
        fd, path = real_mkstemp(*args, **kwargs)
        spooled.append(os.stat(path).st_ino)
        return fd, path

    monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
    path = make_submission_file("npz")
    with open(path, "rb") as handle:
        submission = submission_create(
            user=participant, phase=phase, file=File(handle, name="s.npz"), method_name="m"
        )
    # Same file system here (the test roots are temporary directories): the hashed copy was renamed into place.
    assert spooled == [os.stat(submission.file.path).st_ino]
    assert submission.file.open("rb").read() == path.read_bytes()
    submission.file.close()


def test_submission_create_enqueues_only_on_commit(
    participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    path = make_submission_file("npz")
    with django_capture_on_commit_callbacks(execute=False) as callbacks, open(path, "rb") as handle:
        submission = submission_create(
            user=participant, phase=phase, file=File(handle, name="s.npz"), method_name="m"
        )
    assert submission.status == Status.QUEUED
    assert len(callbacks) == 1
    callbacks[0]()
    submission.refresh_from_db()
    assert submission.status == Status.FINISHED


def test_missing_dataset_gives_per_dataset_results_but_no_overall_score(upload, make_submission_file):
    submission = upload(path=make_submission_file("npz", datasets=("MSRVTT", "MSVD"), name="two.npz"))
    assert submission.status == Status.FINISHED
    assert set(submission.result.metrics) == {"MSRVTT", "MSVD"}
    assert submission.result.primary_score is None
    assert set(submission.result.missing_datasets) == {"DiDeMo", "YouCook2", "ActivityNet"}


def test_quota_total_counts_all_but_failed_submissions(upload, phase, nan_submission_file, participant):
    phase.max_submissions_total = 2
    phase.save()
    first = upload("npz", seed=1)
    failed = upload("npz", path=nan_submission_file("MSRVTT"))
    assert failed.status == Status.FAILED
    second = upload("npz", seed=2)
    assert {first.status, second.status} == {Status.FINISHED}
    with pytest.raises(QuotaExceededError, match="used all 2 submissions"):
        upload("npz", seed=3)
    assert Submission.objects.filter(team__memberships__user=participant).count() == 3


def test_quota_per_day(upload, phase):
    phase.max_submissions_per_day = 1
    phase.save()
    first = upload("npz", seed=1)
    with pytest.raises(QuotaExceededError, match="for today"):
        upload("npz", seed=2)
    Submission.objects.filter(id=first.id).update(created_at=timezone.now() - timedelta(days=1, hours=1))
    assert upload("npz", seed=3).status == Status.FINISHED


def test_quota_is_per_team(upload, other_participant, phase):
    phase.max_submissions_total = 1
    phase.save()
    upload("npz", seed=1)
    assert upload("npz", seed=2, user=other_participant).status == Status.FINISHED


def test_formats_are_limited_to_those_the_phase_allows(upload, phase):
    phase.allowed_formats = ["npz"]
    phase.save()
    with pytest.raises(ApplicationError, match=r"does not accept \.h5 files; it accepts \.npz"):
        upload("h5")


def test_unknown_extension_is_refused(upload, make_submission_file, tmp_path):
    path = make_submission_file("npz")
    renamed = path.rename(tmp_path / "predictions.pkl")
    with pytest.raises(ApplicationError, match=r"does not end in \.zip, \.npz or \.h5"):
        upload(path=renamed)


def test_magic_bytes_must_match_the_extension(upload, make_submission_file, tmp_path):
    path = make_submission_file("npz")
    renamed = path.rename(tmp_path / "sims.h5")
    with pytest.raises(ApplicationError, match="first bytes do not match"):
        upload(path=renamed)


def test_file_size_limit(upload, settings):
    settings.SUBMISSION_MAX_BYTES = 100
    with pytest.raises(ApplicationError, match="the largest submission accepted is 100 bytes"):
        upload("npz")
    assert not Submission.objects.exists()


def test_obviously_wrong_archive_is_rejected_at_upload(upload, tmp_path):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Kinetics.npy", b"junk")
    with pytest.raises(ApplicationError, match="The file cannot be scored: .*Kinetics"):
        upload(path=path)
    assert not Submission.objects.exists()


def test_participant_without_team_cannot_submit(phase, make_submission_file):
    path = make_submission_file("npz")
    with pytest.raises(PermissionDeniedError, match="not a member of a team"), open(path, "rb") as handle:
        submission_create(user=UserFactory(), phase=phase, file=File(handle, name="s.npz"), method_name="m")


def test_closed_phase_refuses_participants_but_not_organisers(upload, phase, organiser, challenge):
    phase.ends_at = timezone.now() - timedelta(minutes=1)
    phase.starts_at = phase.ends_at - timedelta(days=2)
    phase.save()
    with pytest.raises(ApplicationError, match="closed on"):
        upload("npz")
    from tests.factories import MembershipFactory, TeamFactory

    MembershipFactory(
        team=TeamFactory(challenge=challenge, name="Baselines", is_baseline=True), user=organiser
    )
    baseline = upload("npz", user=organiser)
    assert baseline.status == Status.FINISHED and baseline.is_baseline


def test_phase_without_ground_truth_refuses_uploads(upload, challenge):
    empty = PhaseFactory(challenge=challenge, slug="later")
    with pytest.raises(ApplicationError, match="ground truth has not been uploaded"):
        upload("npz", phase_=empty)


def test_malformed_submission_fails_with_the_evaluation_message(upload, nan_submission_file):
    path = nan_submission_file("MSRVTT")
    submission = upload(path=path)
    assert submission.status == Status.FAILED
    assert "MSRVTT" in submission.error_message and submission.error_message.strip()
    assert not hasattr(submission, "result") or submission.result is None


def test_final_flag_moves_between_finished_submissions(upload, participant, phase):
    phase.final_submission = phase.FinalSubmission.SELECTED
    phase.save()
    first, second = upload("npz", seed=1), upload("npz", seed=2)
    submission_update(submission=first, user=participant, is_final=True)
    submission_update(submission=second, user=participant, is_final=True)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_final, second.is_final) == (False, True)


@pytest.mark.parametrize("rule", ["best", "last"])
def test_final_is_refused_where_the_phase_does_not_count_the_choice(upload, participant, phase, rule):
    phase.final_submission = rule
    phase.save()
    submission = upload("npz", seed=1)
    with pytest.raises(ApplicationError, match=r"does not let teams choose a final submission: each team's"):
        submission_update(submission=submission, user=participant, is_final=True)
    submission.refresh_from_db()
    assert submission.is_final is False
    submission_update(submission=submission, user=participant, is_final=False)  # unsetting stays harmless


def test_only_team_members_change_a_submission(upload, other_participant):
    submission = upload("npz")
    with pytest.raises(PermissionDeniedError):
        submission_update(submission=submission, user=other_participant, is_public=False)
    with pytest.raises(PermissionDeniedError):
        submission_cancel(submission=submission, user=other_participant)


def test_final_needs_a_finished_submission(
    participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    phase.final_submission = phase.FinalSubmission.SELECTED
    phase.save()
    path = make_submission_file("npz")
    with django_capture_on_commit_callbacks(execute=False), open(path, "rb") as handle:
        queued = submission_create(
            user=participant, phase=phase, file=File(handle, name="s.npz"), method_name="m"
        )
    with pytest.raises(ApplicationError, match="Only a finished submission"):
        submission_update(submission=queued, user=participant, is_final=True)
    assert submission_cancel(submission=queued, user=participant)
    queued.refresh_from_db()
    assert queued.status == Status.CANCELLED
    with pytest.raises(ApplicationError, match="has not started running"):
        submission_cancel(submission=queued, user=participant)


def test_phase_rescore_requeues_and_scores_again(upload, phase, django_capture_on_commit_callbacks):
    submission = upload("npz")
    Submission.objects.filter(id=submission.id).update(status=Status.FAILED, error_message="old failure")
    with django_capture_on_commit_callbacks(execute=True):
        assert phase_rescore(phase=phase) == 1
    submission.refresh_from_db()
    assert submission.status == Status.FINISHED and submission.error_message == ""
    assert submission.attempts == 2


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("truncated.zip", b"PK\x03\x04" + b"\x01" * 200),
        ("empty-archive.npz", b"PK\x05\x06" + b"\0" * 18),
        ("broken.h5", b"\x89HDF\r\n\x1a\n" + b"\x07" * 300),
    ],
)
def test_corrupt_files_are_refused_with_a_sentence(upload, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ApplicationError, match=r"^The file (cannot be scored|.* could not be read)"):
        upload(path=path)
    assert not Submission.objects.exists()
