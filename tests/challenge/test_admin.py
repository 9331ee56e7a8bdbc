"""The organisers' console: ground-truth upload (validated by the evaluation core), re-score, publish."""

from __future__ import annotations

import pytest
from django.test import Client

from challenge.models import Phase, Submission
from tests.factories import PhaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(organiser) -> Client:
    client = Client()
    client.force_login(organiser)
    return client


def _phase_form(phase: Phase, **extra) -> dict:
    data = {
        "challenge": phase.challenge_id,
        "slug": phase.slug,
        "title": phase.title,
        "description": "",
        "order": 0,
        "starts_at_0": phase.starts_at.strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00",
        "ends_at_0": "",
        "ends_at_1": "",
        "max_submissions_per_day": "",
        "max_submissions_total": "3",
        "allowed_formats": ["npz", "zip"],
        "aggregation": "mean",
        "final_submission": "best",
        "leaderboard_visibility": "hidden",
        "query_order": "blind",
        "intervals_enabled": "on",
        "interval_level": "0.95",
        "submission_kind": phase.submission_kind,
        "runtime": phase.runtime,
        "code_wall_limit_s": phase.code_wall_limit_s,
        "code_memory_limit_mb": phase.code_memory_limit_mb,
        "code_cpus": phase.code_cpus,
        "code_output_limit_mb": phase.code_output_limit_mb,
        "code_failures_count": "on",
        "splits-TOTAL_FORMS": "0",
        "splits-INITIAL_FORMS": str(phase.splits.count()),
        "splits-MIN_NUM_FORMS": "0",
        "splits-MAX_NUM_FORMS": "1000",
    }
    data.update(extra)
    return data


def test_admin_ground_truth_upload_stores_it_and_records_splits(admin_client, challenge, tiny_truth_path):
    phase = PhaseFactory(challenge=challenge, slug="test")
    with open(tiny_truth_path, "rb") as handle:
        response = admin_client.post(
            f"/admin/challenge/phase/{phase.id}/change/", _phase_form(phase, ground_truth_upload=handle)
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    phase.refresh_from_db()
    assert phase.ground_truth and phase.max_submissions_total == 3 and phase.allowed_formats == ["npz", "zip"]
    assert phase.splits.count() == 5
    assert phase.is_blind and phase.ground_truth_audit["MSRVTT"]["leaks"]  # the tiny truth is video-sorted


def test_admin_rejects_an_invalid_ground_truth_with_the_evaluation_message(admin_client, challenge, tmp_path):
    import h5py

    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as handle:
        group = handle.create_group("MSRVTT")
        group.create_dataset("videos", data=["v0", "v1"])
        group.create_dataset("query_ids", data=["q0", "q1"])
        group.create_dataset("query_video", data=[0, 5])
    phase = PhaseFactory(challenge=challenge, slug="test")
    with open(bad, "rb") as handle:
        response = admin_client.post(
            f"/admin/challenge/phase/{phase.id}/change/", _phase_form(phase, ground_truth_upload=handle)
        )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Invalid ground-truth file" in body and "indices outside [0, 2)" in body
    phase.refresh_from_db()
    assert not phase.ground_truth and not phase.splits.exists()


def test_admin_rescore_action_queues_and_rescores_every_submission(
    admin_client, upload, phase, django_capture_on_commit_callbacks
):
    first, second = upload("npz", seed=1), upload("npz", seed=2)
    Submission.objects.filter(id=first.id).update(status=Submission.Status.FAILED, error_message="stale")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(
            "/admin/challenge/phase/", {"action": "rescore", "_selected_action": [phase.id]}
        )
    messages = [c for c in callbacks if "evaluation_enqueue" in c.__qualname__]  # not the board bumps
    assert response.status_code == 302 and len(messages) == 2
    for submission in (first, second):
        submission.refresh_from_db()
        assert submission.status == Submission.Status.FINISHED and submission.attempts == 2


def test_admin_publish_and_hide_actions(admin_client, hidden_phase):
    admin_client.post(
        "/admin/challenge/phase/", {"action": "publish_results", "_selected_action": [hidden_phase.id]}
    )
    hidden_phase.refresh_from_db()
    assert hidden_phase.results_published
    admin_client.post(
        "/admin/challenge/phase/", {"action": "hide_results", "_selected_action": [hidden_phase.id]}
    )
    hidden_phase.refresh_from_db()
    assert not hidden_phase.results_published


@pytest.mark.parametrize("model", ["challenge", "dataset", "phase", "split", "team", "submission"])
def test_admin_changelists_render(admin_client, upload, model):
    upload("npz")
    url = f"/admin/challenge/{model}/"
    assert admin_client.get(url).status_code == 200
    assert admin_client.get("/admin/leaderboard/result/").status_code == 200


def test_admin_refuses_unknown_formats(admin_client, phase):
    response = admin_client.post(
        f"/admin/challenge/phase/{phase.id}/change/", _phase_form(phase, allowed_formats=["pkl"])
    )
    assert (
        response.status_code == 200
        and "Select a valid choice. pkl is not one of" in response.content.decode()
    )


def test_admin_phase_form_has_format_boxes_and_the_final_submission_rule(admin_client, phase):
    page = admin_client.get(f"/admin/challenge/phase/{phase.id}/change/").content.decode()
    assert 'type="checkbox" name="allowed_formats" value="npz"' in page
    assert 'type="radio" name="final_submission" value="selected"' in page
    response = admin_client.post(
        f"/admin/challenge/phase/{phase.id}/change/",
        _phase_form(phase, allowed_formats=["h5"], final_submission="selected"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    phase.refresh_from_db()
    assert phase.allowed_formats == ["h5"] and phase.final_submission == "selected"


def test_admin_changing_the_interval_level_recomputes_the_stored_intervals(
    admin_client, upload, phase, django_capture_on_commit_callbacks
):
    result = upload().result
    assert result.intervals["level"] == 0.95
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/challenge/phase/{phase.id}/change/",
            _phase_form(phase, interval_level="0.8", max_submissions_total=""),
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    result.refresh_from_db()
    assert result.intervals["level"] == 0.8
    with django_capture_on_commit_callbacks(execute=True):
        form = _phase_form(phase, interval_level="0.8", max_submissions_total="")
        del form["intervals_enabled"]  # an unticked box is not sent
        admin_client.post(f"/admin/challenge/phase/{phase.id}/change/", form)
    result.refresh_from_db()
    assert result.intervals is None and result.primary_score_low is None


def test_admin_refuses_a_level_outside_its_range(admin_client, phase):
    response = admin_client.post(
        f"/admin/challenge/phase/{phase.id}/change/", _phase_form(phase, interval_level="1.5")
    )
    assert response.status_code == 200 and "interval_level" in response.content.decode()
    phase.refresh_from_db()
    assert phase.interval_level == 0.95


def test_admin_makes_a_code_phase_with_a_known_runtime_and_its_gallery_inputs(admin_client, hidden_phase):
    import io
    import zipfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("MSVD/features.npy", b"x" * 10)
    url = f"/admin/challenge/phase/{hidden_phase.id}/change/"
    unknown = admin_client.post(url, _phase_form(hidden_phase, submission_kind="code", runtime="no-such"))
    assert unknown.status_code == 200 and "no-such" in unknown.content.decode()
    data = _phase_form(hidden_phase, submission_kind="code", runtime="python3-torch")
    data["gallery_inputs_upload"] = SimpleUploadedFile("gallery.zip", buffer.getvalue())
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    hidden_phase.refresh_from_db()
    assert hidden_phase.is_code and hidden_phase.runtime == "python3-torch"
    assert hidden_phase.gallery_inputs.name.endswith(".zip")


def _annotations_file(truth, tmp_path, *, dataset: str = "MSVD"):
    d = truth.datasets[dataset]
    path = tmp_path / "annotations.csv"
    rows = [f'{d.videos[v]},"{t}"' for t, v in zip(d.query_text, d.query_video.tolist(), strict=True)]
    path.write_text("video_id,caption\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_admin_caption_audit_with_the_ground_truth_or_alone_and_the_text_setting(
    admin_client, challenge, tiny_truth, tiny_truth_path, tmp_path
):
    phase = PhaseFactory(challenge=challenge, slug="test")
    url = f"/admin/challenge/phase/{phase.id}/change/"
    with open(tmp_path / "annotations.csv", "wb") as handle:
        handle.write(b"video_id,caption\n")  # a table naming nothing
    with open(tiny_truth_path, "rb") as truth, open(tmp_path / "annotations.csv", "rb") as empty:
        form = _phase_form(
            phase, ground_truth_upload=truth, annotations_upload=empty, publish_query_text="on"
        )
        assert admin_client.post(url, form).status_code == 302
    phase.refresh_from_db()
    assert phase.publish_query_text and phase.caption_audit["MSVD"]["annotated"]
    assert phase.caption_audit["MSVD"]["found"] == 0
    table = _annotations_file(tiny_truth, tmp_path)
    with open(table, "rb") as handle:  # alone: the stored ground truth is audited again
        response = admin_client.post(
            url, _phase_form(phase, annotations_upload=handle, publish_query_text="on"), follow=True
        )
    page = response.content.decode()
    phase.refresh_from_db()
    queries = tiny_truth.datasets["MSVD"].num_queries
    assert phase.caption_audit["MSVD"]["found"] == queries
    # Rows without a dataset apply to every dataset: MSRVTT's texts are found, naming none of its videos.
    assert phase.caption_audit["MSRVTT"]["unique"] == 0
    assert "Participants can look these captions up; use a code phase or new captions." in page
    assert f"MSVD: {queries} of {queries} queries carry text" in page
    assert admin_client.post(url, _phase_form(phase)).status_code == 302  # the box unticked: withheld
    phase.refresh_from_db()
    assert not phase.publish_query_text
    assert "look these captions up" not in admin_client.get(url).content.decode()


def test_admin_refuses_hostile_annotations_and_annotations_without_ground_truth(
    admin_client, challenge, tiny_truth_path, tmp_path
):
    phase = PhaseFactory(challenge=challenge, slug="test")
    url = f"/admin/challenge/phase/{phase.id}/change/"
    hostile = tmp_path / "hostile.tsv"
    hostile.write_bytes(b"video_id\tcaption\nv1\ta\x00b\n")
    with open(hostile, "rb") as handle:
        response = admin_client.post(url, _phase_form(phase, annotations_upload=handle))
    assert response.status_code == 200 and "it has none yet" in response.content.decode()
    with open(tiny_truth_path, "rb") as truth, open(hostile, "rb") as handle:
        response = admin_client.post(
            url, _phase_form(phase, ground_truth_upload=truth, annotations_upload=handle)
        )
    body = response.content.decode()
    assert response.status_code == 200 and "Invalid public annotations" in body and "NUL character" in body
    phase.refresh_from_db()
    assert not phase.ground_truth and not phase.caption_audit
