"""The phase's published view: memoised per process, never stale after a new file or setting."""

from __future__ import annotations

import pytest
from django.core.files import File

from challenge.publication import phase_published_truth, phase_query_order_warning
from challenge.services import phase_ground_truth_set, phase_query_order_set

pytestmark = pytest.mark.django_db


def test_published_view_is_reused_and_follows_the_query_order(phase, tiny_truth):
    first = phase_published_truth(phase=phase)
    assert phase_published_truth(phase=phase) is first
    assert first.blind and not set(first.datasets["MSVD"].query_ids) & set(
        tiny_truth.datasets["MSVD"].query_ids
    )
    phase_query_order_set(phase=phase, query_order="as_uploaded")
    uploaded = phase_published_truth(phase=phase)
    assert not uploaded.blind
    assert uploaded.datasets["MSVD"].query_ids == tiny_truth.datasets["MSVD"].query_ids
    assert "publishes its queries as uploaded" in phase_query_order_warning(phase=phase)


def test_a_new_ground_truth_is_never_served_from_the_cache(phase, tmp_path):
    from evaluation.ground_truth import write_ground_truth
    from evaluation.synthetic import pentathlon_ground_truth

    before = phase_published_truth(phase=phase)
    other = pentathlon_ground_truth(phase="val", scale="tiny", seed=7, datasets=("MSVD",))
    path = tmp_path / "other.h5"
    write_ground_truth(path, other)
    with open(path, "rb") as handle:
        phase_ground_truth_set(phase=phase, file=File(handle))
    phase.refresh_from_db()
    after = phase_published_truth(phase=phase)
    assert after is not before and set(after.datasets) == {"MSVD"}
