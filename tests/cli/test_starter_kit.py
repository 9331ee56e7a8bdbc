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
        assert {"shapes.json", "README.txt", "example_submission.npz"} <= names
        assert not any(name.endswith((".h5", ".hdf5")) for name in names)
        shapes = json.loads(kit.read("shapes.json"))
        assert shapes == {"challenge": "video-pentathlon", "phase": "val", "phase_id": phase.id,
                          "datasets": tiny_truth.public_shapes()}
        readme = kit.read("README.txt").decode()
        assert "padded layout" in readme and f"pentathlon submit {phase.id}" in readme


def test_kit_api_serves_an_attachment_to_anyone(api_client, phase):
    response = api_client.get(f"/api/v1/phases/{phase.id}/kit/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="video-pentathlon-val-starter-kit.zip"'


def test_kit_api_hides_hidden_challenges_and_phases_without_ground_truth(api_client, phase, challenge, organiser):
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
