"""Paired tests of the top entries ("tied within noise"), their cache, and where intervals are shown:
the board (a toggle), the entry page, the CSV and the JSON API."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client

from challenge.models import Submission
from leaderboard import significance
from leaderboard.selectors import board_resolve, leaderboard_rows
from leaderboard.significance import board_marks, board_significance, entry_comparisons
from tests.factories import (
    ChallengeFactory,
    DatasetFactory,
    PhaseFactory,
    SubmissionFactory,
    TeamFactory,
    ranked_result,
)

pytestmark = pytest.mark.django_db

DATASETS = ("MSRVTT", "MSVD")
QUERIES = 300


def _ranks(worse: int, *, changed: int = 0) -> dict:
    """Ranks of QUERIES queries per dataset: a shared base (so entries are paired) with `worse`
    queries pushed far down, `changed` made a little worse and as many others found first."""
    out = {}
    for index, name in enumerate(DATASETS):
        base = np.random.default_rng(index).integers(0, 12, size=QUERIES).astype(float)
        ranks = base.copy()
        ranks[QUERIES - worse :] += 20.0
        if changed:  # a few queries the others find first are missed, almost as many others found first
            ranks[np.flatnonzero(base == 0)[:changed]] = 5.0
            ranks[np.flatnonzero((base >= 5) & (base < 10))[: changed - 1]] = 0.0
        out[name] = {"t2v": ranks}
    return out


@pytest.fixture
def board():
    """Four teams: A first; B a hair behind A (tied); C far behind B; D a hair behind C (tied)."""
    cache.clear()
    challenge = ChallengeFactory(slug="vp")
    for order, name in enumerate(DATASETS):
        DatasetFactory(challenge=challenge, name=name, order=order)
    phase = PhaseFactory(challenge=challenge, slug="val")
    entries = {}
    for team_name, worse, changed in (("A", 0, 0), ("B", 0, 6), ("C", 150, 0), ("D", 150, 6)):
        submission = SubmissionFactory(team=TeamFactory(challenge=challenge, name=team_name), phase=phase)
        entries[team_name] = ranked_result(submission=submission, ranks=_ranks(worse, changed=changed))
    return phase, entries


def _marks(phase):
    return board_significance(phase=phase, dataset=None, rows=leaderboard_rows(phase=phase))


def test_close_neighbours_are_tied_within_noise_and_distant_ones_are_not(board):
    phase, entries = board
    marks = _marks(phase)
    by_team = {team: marks[result.submission_id] for team, result in entries.items()}
    assert [by_team[t]["rank"] for t in "ABCD"] == [1, 2, 3, 4]
    assert [by_team[t]["tied_within_noise"] for t in "ABCD"] == [False, True, False, True]
    assert by_team["C"]["vs_above"]["a_better"]  # B is significantly ahead of C
    assert by_team["D"]["vs_first"]["a_better"] and by_team["D"]["first"] == entries["A"].submission_id
    assert by_team["A"]["vs_above"] is None and by_team["A"]["vs_first"] is None


def test_an_entrys_comparisons_are_signed_from_its_own_side(board):
    phase, entries = board
    marks = _marks(phase)
    c = entry_comparisons(marks=marks, submission_id=entries["C"].submission_id)
    assert c["vs_above"]["difference"] < 0 and c["vs_above"]["b_better"]  # C behind B
    assert c["vs_below"]["difference"] > 0 and not c["vs_below"]["a_better"]  # D within noise of C
    assert c["below_tied_within_noise"] is True
    assert c["vs_first"]["low"] <= c["vs_first"]["difference"] <= c["vs_first"]["high"] < 0
    assert entry_comparisons(marks=marks, submission_id=10**9) is None


def test_the_tests_are_cached_and_refreshed_when_the_board_changes(board, monkeypatch):
    phase, entries = board
    calls = []
    original = significance._compute

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(significance, "_compute", counting)
    first = _marks(phase)
    assert _marks(phase) == first and len(calls) == 1
    # Hiding B changes the board: C now sits below A, and the answer is recomputed.
    Submission.objects.filter(id=entries["B"].submission_id).update(moderation=Submission.Moderation.HIDDEN)
    after = _marks(phase)
    assert len(calls) == 2
    assert entries["B"].submission_id not in after
    assert after[entries["C"].submission_id]["above"] == entries["A"].submission_id
    # A re-score rewrites the ranks: recomputed again.
    entries["D"].ranks.save()
    _marks(phase)
    assert len(calls) == 3


def test_no_marks_with_intervals_off_or_outside_rank_order(board, settings):
    phase, _ = board
    rows = leaderboard_rows(phase=phase)
    by_r1 = board_resolve(phase=phase, sort="MSRVTT:R1")
    assert board_marks(board=by_r1, rows=rows) == {}
    settings.PENTATHLON_SIGNIFICANCE_TOP = 2
    assert len(_marks(phase)) == 2
    phase.intervals_enabled = False
    phase.save(update_fields=["intervals_enabled"])
    assert _marks(phase) == {}


def test_a_dataset_board_compares_that_datasets_scores(board):
    phase, entries = board
    rows = leaderboard_rows(board=board_resolve(phase=phase, dataset="MSVD"))
    marks = board_significance(phase=phase, dataset="MSVD", rows=rows)
    assert marks[entries["C"].submission_id]["vs_above"]["a_better"]
    assert marks[entries["B"].submission_id]["tied_within_noise"]


def test_the_board_shows_intervals_the_toggle_and_the_tie_marks(board):
    phase, entries = board
    client = Client()
    url = "/c/vp/val/leaderboard/"
    page = client.get(url).content.decode()
    assert page.count("data-tied") == 2
    low, high = entries["A"].primary_score_low, entries["A"].primary_score_high
    assert f"[{low:.2f}, {high:.2f}]" in page
    plus_minus = client.get(url + "?ci=pm").content.decode()
    assert f"± {(high - low) / 2:.2f}" in plus_minus and f"[{low:.2f}, {high:.2f}]" not in plus_minus
    off = client.get(url + "?ci=off").content.decode()
    assert "data-ci>" not in off and "data-tied" not in off
    dataset_board = client.get(url + "?dataset=MSVD").content.decode()
    assert "data-ci>" in dataset_board and dataset_board.count("data-tied") == 2


def test_the_csv_and_json_carry_the_bounds(board):
    phase, entries = board
    client = Client()
    rows = list(
        csv.DictReader(
            io.StringIO(b"".join(client.get("/c/vp/val/leaderboard.csv").streaming_content).decode())
        )
    )
    first = rows[0]
    assert float(first["overall:low"]) == pytest.approx(entries["A"].primary_score_low, abs=0.006)
    assert float(first["overall:high"]) == pytest.approx(entries["A"].primary_score_high, abs=0.006)
    assert float(first["MSVD:R1:low"]) <= float(first["MSVD:R1"]) <= float(first["MSVD:R1:high"])
    data = client.get(f"/api/v1/phases/{phase.id}/leaderboard/").json()
    assert data["intervals"]["enabled"] and data["intervals"]["level"] == 0.95
    assert [e["tied_within_noise"] for e in data["entries"]] == [False, True, False, True]
    assert data["entries"][0]["intervals"]["overall"] == [
        entries["A"].primary_score_low,
        entries["A"].primary_score_high,
    ]


def test_a_phase_with_intervals_off_shows_none_anywhere(board):
    phase, entries = board
    phase.intervals_enabled = False
    phase.save(update_fields=["intervals_enabled"])
    client = Client()
    page = client.get("/c/vp/val/leaderboard/").content.decode()
    assert "data-ci" not in page and "data-tied" not in page and "data-uncertainty" not in page
    header = b"".join(client.get("/c/vp/val/leaderboard.csv").streaming_content).decode().splitlines()[0]
    assert ":low" not in header
    data = client.get(f"/api/v1/phases/{phase.id}/leaderboard/").json()
    assert all(e["intervals"] is None and e["tied_within_noise"] is None for e in data["entries"])
    entry = client.get(f"/c/vp/val/entries/{entries['C'].submission_id}/").content.decode()
    assert "data-comparisons" not in entry and "data-ci" not in entry
    charts = client.get(f"/api/v1/entries/{entries['C'].submission_id}/charts/").json()
    assert all(d["intervals"] is None for d in charts["datasets"])


def test_the_entry_page_shows_its_interval_and_comparisons(board):
    phase, entries = board
    client = Client()
    page = client.get(f"/c/vp/val/entries/{entries['C'].submission_id}/").content.decode()
    low, high = entries["C"].primary_score_low, entries["C"].primary_score_high
    assert f"[{low:.2f}, {high:.2f}]" in page
    assert 'data-against="the first place"' in page and 'data-against="the entry below"' in page
    assert "significantly behind" in page and "within noise" in page
    charts = client.get(f"/api/v1/entries/{entries['C'].submission_id}/charts/").json()
    for dataset in charts["datasets"]:
        r1_low, r1_high = dataset["intervals"]["R1"]
        assert r1_low <= dataset["R1"] <= r1_high


def test_a_board_ranked_by_map_at_10_shows_its_intervals_and_tie_marks():
    """A DCASE-style challenge: mAP@10 is the primary, its intervals and paired tests come from the
    per-query values kept beside the ranks (version 2 blob)."""
    cache.clear()
    challenge = ChallengeFactory(slug="dcase", primary_metric="mAP@10")
    DatasetFactory(challenge=challenge, name="Clotho", order=0)
    phase = PhaseFactory(challenge=challenge, slug="val")
    ranks = np.random.default_rng(0).integers(0, 15, size=QUERIES).astype(float)
    values = np.where(ranks < 10, 1.0 / (ranks + 1.0), 0.0)
    close = values.copy()  # a few queries missed, almost as many others found first
    close[np.flatnonzero(values == 1.0)[:6]] = 0.0
    close[np.flatnonzero(values == 0.0)[:5]] = 1.0
    entries = {}
    for team_name, found in (("A", values), ("B", close), ("C", values * 0.5)):
        submission = SubmissionFactory(team=TeamFactory(challenge=challenge, name=team_name), phase=phase)
        entry = {"t2v": ranks, "t2v_values": {"mAP@10": found}}
        entries[team_name] = ranked_result(submission=submission, ranks={"Clotho": entry})
    first = entries["A"]
    assert first.primary_score == 100.0 * float(np.mean(values))
    assert first.intervals["metric"] == "mAP@10"
    low, high = first.primary_score_low, first.primary_score_high
    assert low < first.primary_score < high
    client = Client()
    page = client.get("/c/dcase/val/leaderboard/").content.decode()
    assert f"[{low:.2f}, {high:.2f}]" in page
    assert page.count("data-tied") == 1  # B is within noise of A; C is significantly behind B
    marks = _marks(phase)
    assert marks[entries["B"].submission_id]["tied_within_noise"]
    assert marks[entries["C"].submission_id]["vs_above"]["a_better"]
    entry = client.get(f"/c/dcase/val/entries/{entries['C'].submission_id}/").content.decode()
    c_low, c_high = entries["C"].primary_score_low, entries["C"].primary_score_high
    assert f"[{c_low:.2f}, {c_high:.2f}]" in entry
    assert 'data-metric="mAP@10"' in entry  # the entry's metric table lists the relevance metric
