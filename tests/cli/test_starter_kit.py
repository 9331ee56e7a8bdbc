"""The starter-kit service and API: public shapes and orderings only."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from challenge.starter_kit import starter_kit_build
from tests.factories import PhaseFactory

pytestmark = pytest.mark.django_db


def test_kit_is_deterministic_and_holds_no_mapping(phase, tiny_truth):
    data = starter_kit_build(phase=phase)
    assert data == starter_kit_build(phase=phase)
    with zipfile.ZipFile(io.BytesIO(data)) as kit:
        names = set(kit.namelist())
        assert {"shapes.json", "README.txt", "example_submission.npz", "MSRVTT/queries.tsv"} <= names
        assert not any(name.endswith((".h5", ".hdf5")) for name in names)
        shapes = json.loads(kit.read("shapes.json"))
        blind_shapes = {
            name: {**shape, "captions_per_video": 1} for name, shape in tiny_truth.public_shapes().items()
        }
        assert shapes == {
            "query_order": "blind",
            "query_text": "published",
            "challenge": "video-pentathlon",
            "phase": "val",
            "phase_id": phase.id,
            "datasets": blind_shapes,
        }
        readme = kit.read("README.txt").decode()
        assert "This phase is blind" in readme and f"pentathlon submit {phase.id}" in readme
        assert "videos x captions layout is not accepted" in readme
        for name, truth in tiny_truth.datasets.items():
            listed = kit.read(f"{name}/queries.txt").decode().split()
            assert len(listed) == truth.num_queries and not set(listed) & set(truth.query_ids)
            tsv = kit.read(f"{name}/queries.tsv").decode().splitlines()
            assert tsv[0] == "query_id\ttext"
            assert [line.split("\t")[0] for line in tsv[1:]] == listed
            assert sorted(line.split("\t")[1] for line in tsv[1:]) == sorted(truth.query_text)
            assert kit.read(f"{name}/videos.txt").decode().split() == list(truth.videos)


def test_as_uploaded_kit_lists_the_organiser_ids_and_the_padded_layout(phase, tiny_truth):
    phase.query_order = phase.QueryOrder.AS_UPLOADED
    phase.save()
    with zipfile.ZipFile(io.BytesIO(starter_kit_build(phase=phase))) as kit:
        shapes = json.loads(kit.read("shapes.json"))
        assert shapes["query_order"] == "as_uploaded"
        assert shapes["datasets"] == tiny_truth.public_shapes()
        assert "padded layout" in kit.read("README.txt").decode()
        listed = kit.read("MSRVTT/queries.txt").decode().split()
        assert listed == list(tiny_truth.datasets["MSRVTT"].query_ids)


def test_kit_api_serves_an_attachment_to_anyone(api_client, phase):
    response = api_client.get(f"/api/v1/phases/{phase.id}/kit/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="video-pentathlon-val-starter-kit.zip"'


def test_kit_api_hides_hidden_challenges_and_phases_without_ground_truth(
    api_client, phase, challenge, organiser
):
    bare = PhaseFactory(challenge=challenge, slug="later")
    response = api_client.get(f"/api/v1/phases/{bare.id}/kit/")
    assert response.status_code == 404
    assert "ground truth has not been uploaded" in response.json()["detail"]
    challenge.is_public = False
    challenge.save()
    assert api_client.get(f"/api/v1/phases/{phase.id}/kit/").status_code == 404
    api_client.force_authenticate(organiser)
    assert api_client.get(f"/api/v1/phases/{phase.id}/kit/").status_code == 200


def test_large_phases_get_an_embedding_example(phase, monkeypatch):
    import numpy as np

    from challenge import starter_kit

    monkeypatch.setattr(starter_kit, "EXAMPLE_MAX_SIMILARITY_BYTES", 10)
    with zipfile.ZipFile(io.BytesIO(starter_kit_build(phase=phase))) as kit:
        with np.load(io.BytesIO(kit.read("example_submission.npz")), allow_pickle=False) as example:
            assert example["MSRVTT_text"].shape[1] == starter_kit.EXAMPLE_EMBEDDING_DIM


def test_kit_api_streams_a_cached_kit_rebuilt_when_the_ground_truth_changes(
    api_client, phase, monkeypatch, tmp_path
):
    from django.core.files import File

    from challenge import starter_kit
    from challenge.models import private_storage
    from challenge.services import phase_ground_truth_set
    from evaluation.ground_truth import write_ground_truth
    from evaluation.synthetic import pentathlon_ground_truth

    builds = []
    real_write = starter_kit._kit_write
    monkeypatch.setattr(starter_kit, "_kit_write", lambda **kw: (builds.append(1), real_write(**kw)))

    def download() -> bytes:
        response = api_client.get(f"/api/v1/phases/{phase.id}/kit/")
        assert response.status_code == 200 and response.streaming  # a file response, not bytes in memory
        assert (
            response["Content-Disposition"] == 'attachment; filename="video-pentathlon-val-starter-kit.zip"'
        )
        return b"".join(response.streaming_content)

    old_name = starter_kit.starter_kit_cache_name(phase=phase)
    private_storage().delete(old_name)  # an earlier test's phase may have had the same id and ground truth
    first = download()
    assert first == download() == starter_kit_build(phase=phase)
    assert len(builds) == 2  # the API built once (then served the cache); starter_kit_build once more
    assert phase.ground_truth_sha256 in old_name and private_storage().exists(old_name)

    other = tmp_path / "other.h5"
    write_ground_truth(other, pentathlon_ground_truth(phase="val", scale="tiny", seed=1))
    with open(other, "rb") as handle:
        phase_ground_truth_set(phase=phase, file=File(handle))
    phase.refresh_from_db()
    second = download()
    assert len(builds) == 3 and second != first
    with zipfile.ZipFile(io.BytesIO(second)) as kit:
        assert kit.read("shapes.json")  # a complete kit of the new ground truth
    assert not private_storage().exists(old_name)  # the outdated kit is deleted
    assert private_storage().exists(starter_kit.starter_kit_cache_name(phase=phase))


def test_a_kit_is_rebuilt_in_the_challenges_new_words(api_client, phase):
    from challenge import starter_kit

    before = starter_kit.starter_kit_cache_name(phase=phase)
    with zipfile.ZipFile(io.BytesIO(starter_kit_build(phase=phase))) as kit:
        assert "the V video ids" in kit.read("README.txt").decode()
    phase.challenge.item_noun, phase.challenge.item_noun_singular = "clips", "clip"
    phase.challenge.save()
    assert starter_kit.starter_kit_cache_name(phase=phase) != before
    with zipfile.ZipFile(io.BytesIO(starter_kit_build(phase=phase))) as kit:
        assert "the V clip ids" in kit.read("README.txt").decode()
