"""Boards: per dataset, sortable on every metric in SQL, per-challenge metric/direction/precision,
team choice rules, baselines, moderation, visibility, embedding and exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from challenge.models import Phase, PrimaryMetric, Submission
from leaderboard.selectors import board_resolve, leaderboard_history, leaderboard_rows
from tests.factories import ChallengeFactory, PhaseFactory, ResultFactory, SubmissionFactory, TeamFactory

pytestmark = pytest.mark.django_db

DATASETS = ("MSRVTT", "MSVD")


def _metrics(score_a: float, score_b: float, *, r1: float = 10.0, medr: float = 5.0) -> dict:
    return {
        name: {
            "score": score,
            "t2v": {
                "R1": r1,
                "R5": r1 + 10,
                "R10": r1 + 20,
                "R50": 90.0,
                "MedR": medr,
                "MeanR": medr * 2,
                "geometric_mean_R1-R5-R10": score,
            },
            "v2t": None,
        }
        for name, score in zip(DATASETS, (score_a, score_b), strict=True)
    }


def entry(team, phase, score_a, score_b, *, minutes_ago=0, overall=None, r1=10.0, medr=5.0, **fields):
    submission = SubmissionFactory(team=team, phase=phase, **fields)
    Submission.objects.filter(id=submission.id).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    if overall is None:
        overall = (score_a + score_b) / 2
    return ResultFactory(
        submission=submission, primary_score=overall, metrics=_metrics(score_a, score_b, r1=r1, medr=medr)
    )


@pytest.fixture
def setup():
    challenge = ChallengeFactory(slug="vp")
    from tests.factories import DatasetFactory

    for i, name in enumerate(DATASETS):
        DatasetFactory(challenge=challenge, name=name, order=i)
    phase = PhaseFactory(challenge=challenge, slug="val")
    teams = [TeamFactory(challenge=challenge, name=n) for n in ("A", "B", "C")]
    return phase, teams


def test_each_dataset_has_its_own_board_ranked_by_that_dataset(setup):
    phase, (a, b, c) = setup
    entry(a, phase, 50.0, 10.0)
    entry(b, phase, 20.0, 40.0)
    entry(c, phase, 30.0, 30.0)
    overall = leaderboard_rows(board=board_resolve(phase=phase))
    msvd = leaderboard_rows(board=board_resolve(phase=phase, dataset="msvd"))
    assert [r["team"] for r in overall] == ["A", "B", "C"]  # all 30.0: ties go to the earlier submission
    assert [(r["rank"], r["team"]) for r in msvd] == [(1, "B"), (2, "C"), (3, "A")]


def test_a_team_best_entry_on_a_dataset_board_is_chosen_by_that_dataset(setup):
    phase, (a, _, _) = setup
    entry(a, phase, 50.0, 10.0, method_name="good on MSRVTT")
    entry(a, phase, 10.0, 45.0, method_name="good on MSVD")
    assert (
        leaderboard_rows(board=board_resolve(phase=phase, dataset="MSVD"))[0]["method_name"] == "good on MSVD"
    )
    assert (
        leaderboard_rows(board=board_resolve(phase=phase, dataset="MSRVTT"))[0]["method_name"]
        == "good on MSRVTT"
    )


@pytest.mark.parametrize(
    ("sort", "direction", "expected"),
    [
        ("MSRVTT:R1", None, ["B", "A", "C"]),  # recall: descending by default
        ("MSRVTT:MedR", None, ["C", "A", "B"]),  # median rank: ascending by default
        ("MSRVTT:MedR", "desc", ["B", "A", "C"]),
        ("overall", "asc", ["C", "B", "A"]),
    ],
)
def test_any_metric_column_sorts_in_sql_and_ranks_stay_by_the_main_score(setup, sort, direction, expected):
    phase, (a, b, c) = setup
    entry(a, phase, 60.0, 60.0, r1=20.0, medr=3.0)
    entry(b, phase, 50.0, 50.0, r1=30.0, medr=9.0)
    entry(c, phase, 40.0, 40.0, r1=10.0, medr=1.0)
    rows = leaderboard_rows(board=board_resolve(phase=phase, sort=sort, direction=direction))
    assert [r["team"] for r in rows] == expected
    assert {r["team"]: r["rank"] for r in rows} == {"A": 1, "B": 2, "C": 3}


def test_unknown_sort_or_dataset_is_refused_with_a_sentence(setup):
    phase, _ = setup
    with pytest.raises(ValueError, match="Unknown sort column"):
        board_resolve(phase=phase, sort="MSRVTT:accuracy")
    with pytest.raises(ValueError, match="Unknown dataset"):
        board_resolve(phase=phase, dataset="Kinetics")
    assert Client().get("/c/vp/val/leaderboard/?sort=nope").status_code == 400
    assert Client().get(f"/api/v1/phases/{phase.id}/leaderboard/?sort=nope").status_code == 400


def test_a_challenge_ranked_by_median_rank_ranks_ascending_without_any_flag(setup):
    phase, (a, b, _) = setup
    phase.challenge.primary_metric = PrimaryMetric.MEDR  # the direction is the metric's: lower is better
    phase.challenge.save()
    assert phase.higher_is_better is False
    entry(a, phase, 5.0, 5.0)
    entry(b, phase, 2.0, 2.0)
    entry(b, phase, 9.0, 9.0)
    rows = leaderboard_rows(board=board_resolve(phase=phase))
    assert [(r["rank"], r["team"], r["primary_score"]) for r in rows] == [(1, "B", 2.0), (2, "A", 5.0)]


def test_ties_go_to_the_earlier_submission_on_dataset_boards_too(setup):
    phase, (a, b, _) = setup
    entry(a, phase, 30.0, 30.0, minutes_ago=1)
    entry(b, phase, 30.0, 30.0, minutes_ago=5)
    rows = leaderboard_rows(board=board_resolve(phase=phase, dataset="MSRVTT"))
    assert [r["team"] for r in rows] == ["B", "A"]


def test_several_baselines_are_labelled_rows_without_a_rank(setup):
    phase, (a, b, c) = setup
    c.is_baseline = True
    c.save()
    entry(c, phase, 70.0, 70.0, is_baseline=True, method_name="CE")
    entry(c, phase, 35.0, 35.0, is_baseline=True, method_name="MoEE")
    entry(a, phase, 40.0, 40.0)
    entry(b, phase, 30.0, 30.0)
    rows = leaderboard_rows(board=board_resolve(phase=phase))
    assert [(r["rank"], r["method_name"] if r["is_baseline"] else r["team"]) for r in rows] == [
        (None, "CE"),
        (1, "A"),
        (None, "MoEE"),
        (2, "B"),
    ]
    html = Client().get("/c/vp/val/leaderboard/").content.decode()
    assert html.count('class="badge">baseline') == 2


def test_selected_final_or_last_submission_counts_when_the_phase_says_so(setup):
    phase, (a, _, _) = setup
    best = entry(a, phase, 90.0, 90.0, minutes_ago=30)
    chosen = entry(a, phase, 20.0, 20.0, minutes_ago=20, is_final=True)
    last = entry(a, phase, 50.0, 50.0, minutes_ago=10)
    assert leaderboard_rows(phase=phase)[0]["submission_id"] == best.submission_id
    phase.final_submission = Phase.FinalSubmission.SELECTED
    phase.save()
    assert leaderboard_rows(phase=phase)[0]["submission_id"] == chosen.submission_id
    phase.final_submission = Phase.FinalSubmission.LAST
    phase.save()
    assert leaderboard_rows(phase=phase)[0]["submission_id"] == last.submission_id
    Submission.objects.filter(id=chosen.submission_id).update(is_final=False)
    phase.final_submission = Phase.FinalSubmission.SELECTED
    phase.save()
    assert leaderboard_rows(phase=phase)[0]["submission_id"] == last.submission_id  # none chosen: the last


def test_hidden_and_disqualified_entries_are_left_off(setup):
    phase, (a, b, c) = setup
    entry(a, phase, 40.0, 40.0)
    entry(
        b,
        phase,
        90.0,
        90.0,
        moderation=Submission.Moderation.DISQUALIFIED,
        moderation_reason="used test labels",
    )
    entry(c, phase, 80.0, 80.0, moderation=Submission.Moderation.HIDDEN, moderation_reason="duplicate")
    assert [r["team"] for r in leaderboard_rows(phase=phase)] == ["A"]


def test_page_uses_the_challenge_precision_and_links_every_column(setup):
    phase, (a, _, _) = setup
    phase.challenge.score_decimals = 3
    phase.challenge.save()
    entry(a, phase, 12.34567, 12.34567)
    html = Client().get("/c/vp/val/leaderboard/?dataset=MSRVTT").content.decode()
    assert "12.346" in html and "12.35<" not in html
    for metric in ("R1", "R5", "R10", "R50", "MedR", "MeanR"):
        assert f"sort=MSRVTT%3A{metric}" in html


def test_visibility_hidden_owners_public(setup, django_user_model, django_capture_on_commit_callbacks):
    phase, (a, _, _) = setup
    entry(a, phase, 40.0, 40.0)
    anonymous = Client()
    for visibility, shown in (("hidden", False), ("owners", False), ("public", True)):
        with django_capture_on_commit_callbacks(execute=True):  # a plain UPDATE, committed
            Phase.objects.filter(id=phase.id).update(leaderboard_visibility=visibility)
        data = anonymous.get(f"/api/v1/phases/{phase.id}/leaderboard/").json()
        assert (len(data["entries"]) == 1) is shown, visibility
        assert ("hidden until" in anonymous.get("/c/vp/val/leaderboard/").content.decode()) is not shown


def test_embed_view_alone_may_be_framed(setup):
    phase, (a, _, _) = setup
    entry(a, phase, 40.0, 40.0)
    client = Client()
    page = client.get("/c/vp/val/leaderboard/")
    embed = client.get("/c/vp/val/leaderboard/embed/?dataset=MSVD")
    assert page.headers.get("X-Frame-Options") in ("DENY", "SAMEORIGIN")
    assert embed.status_code == 200 and "X-Frame-Options" not in embed.headers
    html = embed.content.decode()
    assert "topbar" not in html and "<table" in html and "MSVD" in html


def test_json_and_csv_exports(setup):
    phase, (a, b, _) = setup
    entry(a, phase, 40.0, 20.0)
    entry(b, phase, 10.0, 60.0)
    data = Client().get(f"/api/v1/phases/{phase.id}/leaderboard/?dataset=MSVD&sort=MSVD:R1").json()
    assert data["dataset"] == "MSVD" and data["sort"] == "MSVD:R1" and data["decimals"] == 2
    assert data["entries"][0]["metrics"]["MSVD"]["R1"] == 10.0
    response = Client().get("/c/vp/val/leaderboard.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["rank"], r["team"], r["overall"], r["MSVD:score"]) for r in rows] == [
        ("1", "B", "35.00", "60.00"),
        ("2", "A", "30.00", "20.00"),
    ]


def test_history_lists_each_improvement_of_the_best_score(setup):
    phase, (a, b, _) = setup
    entry(a, phase, 10.0, 10.0, minutes_ago=30)
    entry(b, phase, 5.0, 5.0, minutes_ago=20)
    entry(b, phase, 20.0, 20.0, minutes_ago=10)
    assert [p["score"] for p in leaderboard_history(phase=phase)] == [10.0, 20.0]
    data = Client().get(f"/api/v1/phases/{phase.id}/leaderboard/history/").json()
    assert [(p["team"], p["score"]) for p in data["points"]] == [("A", 10.0), ("B", 20.0)]


#: Session and savepoint, challenge, phase, the board version's fingerprint (a cold cache), dataset
#: names, the board, the rank order (a non-default sort), the phase tabs with their splits:
#: independent of the number of submissions.
MAX_QUERIES = 11


@pytest.mark.slow
def test_ten_thousand_submissions_render_with_a_bounded_number_of_queries(
    setup, django_assert_max_num_queries
):
    from leaderboard.models import DatasetResult, Result

    phase, _ = setup
    teams = [
        TeamFactory.build(challenge=phase.challenge, name=f"team-{i:03d}", name_key=f"team-{i:03d}")
        for i in range(200)
    ]
    type(teams[0]).objects.bulk_create(teams)
    teams = list(type(teams[0]).objects.filter(challenge=phase.challenge, name__startswith="team-"))
    template = SubmissionFactory.build(team=teams[0], phase=phase)
    submissions = [
        Submission(
            team=teams[i % len(teams)],
            phase=phase,
            file=template.file.name or "x.zip",
            file_format="zip",
            file_size=1,
            checksum_sha256="0" * 64,
            method_name=f"m{i}",
            status=Submission.Status.FINISHED,
            is_public=True,
            is_baseline=False,
        )
        for i in range(10_000)
    ]
    Submission.objects.bulk_create(submissions, batch_size=2000)
    ids = list(Submission.objects.filter(phase=phase).values_list("id", flat=True))
    Result.objects.bulk_create(
        [
            Result(
                submission_id=sid,
                primary_score=(sid * 7919) % 1000 / 10.0,
                aggregation="mean",
                metrics={},
                scorer_version="bench",
            )
            for sid in ids
        ],
        batch_size=2000,
    )
    results = Result.objects.filter(submission__phase=phase).values_list("id", "primary_score")
    DatasetResult.objects.bulk_create(
        [
            DatasetResult(
                result_id=rid,
                dataset=name,
                score=score,
                r1=score,
                r5=score,
                r10=score,
                r50=score,
                medr=100 - score,
                meanr=100 - score,
            )
            for rid, score in results
            for name in DATASETS
        ],
        batch_size=4000,
    )
    client = Client()
    with django_assert_max_num_queries(MAX_QUERIES):
        page = client.get("/c/vp/val/leaderboard/?sort=MSVD:MedR")
    assert page.status_code == 200 and page.content.decode().count('data-team="team-') == 100  # a page
    with django_assert_max_num_queries(MAX_QUERIES):
        data = client.get(f"/api/v1/phases/{phase.id}/leaderboard/?dataset=MSRVTT&page=2").json()
    assert len(data["entries"]) == 100 and data["total"] == 200 and data["entries"][0]["rank"] == 101


def test_a_value_reads_the_same_on_the_board_the_entry_page_the_csv_the_chart_and_both_clis(setup):
    """78.125 rounds to 78.12 everywhere (a page once said 78.13 while the CSV and the CLI said 78.12)."""
    from cli.main import _fmt as cli_fmt
    from evaluation.cli import _fmt as offline_fmt

    phase, (a, _, _) = setup
    result = entry(a, phase, 78.125, 78.125, overall=78.125)
    client = Client()
    pages = {
        "board": client.get("/c/vp/val/leaderboard/").content.decode(),
        "dataset board": client.get("/c/vp/val/leaderboard/?dataset=MSVD").content.decode(),
        "entry": client.get(f"/c/vp/val/entries/{result.submission_id}/").content.decode(),
        "csv": b"".join(client.get("/c/vp/val/leaderboard.csv").streaming_content).decode(),
    }
    for name, body in pages.items():
        assert "78.12" in body and "78.13" not in body, name
    points = client.get(f"/api/v1/phases/{phase.id}/leaderboard/history/").json()["points"]
    assert [p["display"] for p in points] == ["78.12"]
    assert cli_fmt(78.125) == offline_fmt(78.125) == "78.12"


def test_the_json_board_lists_the_registered_metrics(setup):
    from evaluation.metrics.registry import METRIC_KEYS

    phase, _ = setup
    data = Client().get(f"/api/v1/phases/{phase.id}/leaderboard/").json()
    assert [m["key"] for m in data["metrics"]] == list(METRIC_KEYS)
    assert {m["key"] for m in data["metrics"] if not m["higher_is_better"]} == {"MedR", "MeanR"}
