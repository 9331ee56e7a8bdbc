"""Cached boards: every write that changes what a board shows makes the next read current, no cached
board shows a viewer what they may not see, conditional GET answers 304, and pages are bounded."""

from __future__ import annotations

import csv
import html
import io

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import Client
from django.test.utils import CaptureQueriesContext

from challenge.models import Phase, Submission
from tests.factories import PhaseFactory, ResultFactory, SubmissionFactory, TeamFactory

pytestmark = pytest.mark.django_db

BOARD = "/c/video-pentathlon/val/leaderboard/"
CSV = "/c/video-pentathlon/val/leaderboard.csv"


def api(phase: Phase) -> str:
    return f"/api/v1/phases/{phase.id}/leaderboard/"


def metrics(score: float) -> dict:
    return {
        name: {"score": score, "t2v": {"R1": score, "MedR": 3.0}, "v2t": None}
        for name in ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")
    }


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a write as if its transaction committed (the board version is bumped on commit)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def scored(phase, team, participant, committed):
    """scored(score, team=team, **fields) -> a finished submission with a result, committed."""

    def make(score: float, *, team_=None, **fields) -> Submission:
        fields.setdefault("created_by", participant)
        with committed():
            submission = SubmissionFactory(team=team_ or team, phase=phase, **fields)
            ResultFactory(submission=submission, primary_score=score, metrics=metrics(score))
        return submission

    return make


def teams_on(client: Client, phase: Phase, **params) -> list[str]:
    data = client.get(api(phase), params).json()
    return [e["team"] for e in data["entries"]]


def board_html(client: Client, **params) -> str:
    response = client.get(BOARD, params)
    assert response.status_code == 200
    return response.content.decode()


def test_a_second_read_is_served_from_the_cache_without_querying_the_board(phase, scored):
    from django.db import connection

    scored(40.0)
    client = Client()
    with CaptureQueriesContext(connection) as first:
        board_html(client)
    with CaptureQueriesContext(connection) as second:
        body = board_html(client)
    assert 'data-team="Alpha"' in body
    board_queries = [q for q in second.captured_queries if "leaderboard_datasetresult" in q["sql"]]
    assert board_queries == [] and len(second) < len(first)


# --- every change a board shows makes the next read current --------------------------------------------


def test_a_result_written_by_the_scorer_shows_on_the_next_read(phase, upload):
    client = Client()
    assert teams_on(client, phase) == []
    assert "No scored public submission yet" in board_html(client)
    upload("npz", seed=0)  # scored eagerly on commit, through result_store
    assert teams_on(client, phase) == ["Alpha"]
    assert 'data-team="Alpha"' in board_html(client)


def test_a_result_removed_leaves_the_next_read(phase, scored, committed):
    submission = scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"]
    with committed():
        submission.result.delete()
    assert teams_on(client, phase) == []


def test_a_failed_rescore_drops_the_entry_on_the_next_read(phase, scored, committed):
    from challenge.services.submissions import submission_fail

    submission = scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"]
    with committed():
        assert submission_fail(row={"id": submission.id, "status": Submission.Status.FINISHED}, message="x")
    assert teams_on(client, phase) == []


def test_a_team_hiding_its_entry_leaves_the_next_read(phase, scored, participant, committed):
    from challenge.services import submission_update

    submission = scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"]
    with committed():
        submission_update(submission=submission, user=participant, is_public=False)
    assert teams_on(client, phase) == []
    assert 'data-team="Alpha"' not in board_html(client)


def test_a_new_final_choice_shows_on_the_next_read(phase, scored, participant, committed):
    from challenge.services import submission_update

    with committed():
        Phase.objects.filter(id=phase.id).update(final_submission=Phase.FinalSubmission.SELECTED)
    phase.refresh_from_db()
    first = scored(40.0, method_name="first")
    scored(20.0, method_name="second")
    client = Client()
    assert [e["method_name"] for e in client.get(api(phase)).json()["entries"]] == ["second"]  # the last
    with committed():
        submission_update(submission=first, user=participant, is_final=True)
    assert [e["method_name"] for e in client.get(api(phase)).json()["entries"]] == ["first"]


def test_metadata_edited_in_the_admin_shows_on_the_next_read(phase, scored, committed):
    submission = scored(40.0, method_name="old name")
    client = Client()
    assert "old name" in board_html(client)
    with committed():
        submission.method_name = "new name"
        submission.save()  # the admin's save, past the services
    body = board_html(client)
    assert "new name" in body and "old name" not in body


def test_moderation_shows_on_the_next_read(phase, scored, committed):
    from challenge.services import submission_moderate

    submission = scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"]
    with committed():
        submission_moderate(submission=submission, moderation="disqualified", reason="Copied.")
    assert teams_on(client, phase) == []
    with committed():
        submission_moderate(submission=submission, moderation="shown")
    assert teams_on(client, phase) == ["Alpha"]


def test_publication_shows_on_the_next_read(phase, scored, committed):
    from challenge.services import phase_visibility_set

    scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"]
    for visibility, shown in (("hidden", []), ("owners", []), ("public", ["Alpha"])):
        with committed():
            phase_visibility_set(phase=phase, visibility=visibility)
        assert teams_on(client, phase) == shown, visibility
        assert ('data-team="Alpha"' in board_html(client)) is bool(shown), visibility


def test_a_rule_change_shows_on_the_next_read(phase, scored, committed):
    scored(40.0, method_name="best")
    scored(20.0, method_name="last")
    client = Client()
    assert [e["method_name"] for e in client.get(api(phase)).json()["entries"]] == ["best"]
    with committed():
        phase.final_submission = Phase.FinalSubmission.LAST
        phase.save()
    assert [e["method_name"] for e in client.get(api(phase)).json()["entries"]] == ["last"]


def test_a_challenge_setting_shows_on_the_next_read(phase, scored, committed):
    scored(40.125)
    client = Client()
    assert client.get(api(phase)).json()["decimals"] == 2
    with committed():
        phase.challenge.score_decimals = 3
        phase.challenge.save()
    assert client.get(api(phase)).json()["decimals"] == 3
    assert "40.125" in board_html(client)


def test_a_finished_rescore_shows_on_the_next_read(phase, upload, organiser, monkeypatch, committed):
    from evaluation import sandbox
    from leaderboard.services import phase_rescore_with_snapshot

    upload("npz", seed=0)
    client = Client()
    before = client.get(api(phase)).json()["entries"][0]["primary_score"]
    real = sandbox.score_in_child  # the worker scores in a child process (evaluation.sandbox)

    def shifted(**kwargs):  # the fixed scorer of the re-score gives other numbers
        report = real(**kwargs)
        for entry in report["datasets"].values():
            entry["score"] = 12.5
        return report

    monkeypatch.setattr(sandbox, "score_in_child", shifted)
    with committed():
        assert phase_rescore_with_snapshot(phase=phase, user=organiser, reason="fix") == 1
    after = client.get(api(phase)).json()["entries"]
    assert before != 12.5 and [e["primary_score"] for e in after] == [12.5]


def test_a_cold_cache_is_never_stale(phase, scored):
    submission = scored(40.0)
    client = Client()
    assert client.get(api(phase)).json()["entries"][0]["primary_score"] == 40.0
    result = submission.result
    result.primary_score = 45.0
    result.save()  # no commit callbacks run: no bump
    caches[settings.BOARD_CACHE].delete_many(
        [k for k in (f"board-version:{_identity(phase)}",)]
    )  # the cache lost the version (eviction, restart of Redis)
    assert client.get(api(phase)).json()["entries"][0]["primary_score"] == 45.0


def _identity(phase: Phase) -> str:
    from leaderboard.boards.versions import phase_board_identity

    return phase_board_identity(phase=phase)


def test_the_version_is_shared_through_the_cache_store_not_the_process(phase, committed):
    from django.core.cache.backends.filebased import FileBasedCache

    from leaderboard.boards.versions import phase_board_version, phase_boards_changed

    before = phase_board_version(phase=phase)
    with committed():
        phase_boards_changed(phase_ids=[phase.id])
    other_process = FileBasedCache(settings.CACHES[settings.BOARD_CACHE]["LOCATION"], {})  # its own backend
    seen = other_process.get(f"board-version:{_identity(phase)}")
    assert seen == phase_board_version(phase=phase) and seen != before


def test_the_bump_waits_for_the_commit(phase, django_capture_on_commit_callbacks):
    from leaderboard.boards.versions import phase_board_version, phase_boards_changed

    before = phase_board_version(phase=phase)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        phase_boards_changed(phase_ids=[phase.id])
        assert phase_board_version(phase=phase) == before  # a reader before the commit keeps the old rows
    assert len(callbacks) == 1


# --- the phase a board's URL names, kept by the process under the catalog version ------------------------


def test_a_warm_anonymous_read_runs_no_query_at_all(phase, scored):
    from django.db import connection

    scored(40.0)
    client = Client()
    for path in (BOARD, api(phase), BOARD + "?dataset=MSVD&sort=MSVD:MedR"):
        client.get(path)
        with CaptureQueriesContext(connection) as warm:
            assert client.get(path).status_code == 200
        assert len(warm) == 0, (path, [q["sql"] for q in warm.captured_queries])


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(
            lambda phase: Phase.objects.filter(id=phase.id).update(leaderboard_visibility="hidden"),
            id="update",
        ),
        pytest.param(
            lambda phase: phase.challenge.phases.filter(id=phase.id).update(leaderboard_visibility="hidden"),
            id="related-update",
        ),
        pytest.param(
            lambda phase: Phase.objects.bulk_update(
                [Phase(id=phase.id, leaderboard_visibility="hidden")], ["leaderboard_visibility"]
            ),
            id="bulk-update",
        ),
        pytest.param(
            lambda phase: type(phase.challenge).objects.filter(id=phase.challenge_id).update(is_public=False),
            id="challenge-update",
        ),
        pytest.param(lambda phase: Phase.objects.filter(id=phase.id).delete(), id="delete"),
        pytest.param(
            lambda phase: type(phase.challenge).objects.filter(id=phase.challenge_id).delete(), id="cascade"
        ),
    ],
)
def test_a_bulk_write_to_a_phase_or_challenge_hides_the_kept_board_at_once(phase, scored, committed, write):
    scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"] and 'data-team="Alpha"' in board_html(client)
    with committed():
        write(phase)
    page = client.get(BOARD)
    assert page.status_code == 404 or 'data-team="Alpha"' not in page.content.decode()
    data = client.get(api(phase))  # last: the API's 404 marks the test's transaction
    assert data.status_code == 404 or data.json()["entries"] == []


def test_a_new_phase_with_an_old_url_is_never_served_the_old_phases_board(phase, scored, committed):
    scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"]
    challenge = phase.challenge
    with committed():
        phase.delete()
    with committed():
        again = PhaseFactory(challenge=challenge, slug="val", title="Validation again")
    assert client.get(BOARD).status_code == 200 and 'data-team="Alpha"' not in board_html(client)
    assert client.get(api(again)).json()["entries"] == []


def hide_past_django(phase: Phase) -> None:
    """Hide the phase's board with SQL, past Django: no signal, no query set, no version bumped."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Phase._meta.db_table} SET leaderboard_visibility = %s WHERE id = %s",
            ["hidden", phase.id],
        )


def test_a_migration_makes_the_kept_phase_current(phase, scored):
    from django.db.models.signals import post_migrate

    from leaderboard.boards import receivers

    assert any(key[0] == "catalog-migrated" for key, *_ in post_migrate.receivers)
    scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"]
    hide_past_django(phase)  # a data migration writes past the models' query sets
    receivers._migrated(sender=None)
    assert teams_on(client, phase) == []


def test_sql_by_hand_is_current_within_the_kept_time(phase, scored, monkeypatch):
    import time

    scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"]
    hide_past_django(phase)  # no version is bumped
    now = time.monotonic()
    from leaderboard.boards import phases

    monkeypatch.setattr(phases.time_module, "monotonic", lambda: now + phases.KEPT_BRIEF_SECONDS + 0.1)
    assert teams_on(client, phase) == []


def test_another_process_bump_of_the_catalog_reaches_this_one(phase, scored):
    from leaderboard.boards.versions import catalog_bump

    scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"]
    hide_past_django(phase)
    assert teams_on(client, phase) == ["Alpha"]  # kept: nothing said the catalog changed (yet)
    catalog_bump()  # what another process's write does through the shared cache
    assert teams_on(client, phase) == []


def test_a_cache_that_lost_the_catalog_version_keeps_nothing_from_before(phase, scored):
    from leaderboard.boards.versions import CATALOG_KEY

    scored(40.0)
    client = Client()
    assert teams_on(client, phase) == ["Alpha"]
    hide_past_django(phase)
    caches[settings.BOARD_CACHE].delete(CATALOG_KEY)  # evicted, or Redis restarted empty
    assert teams_on(client, phase) == []


def test_unknown_urls_are_not_kept(phase):
    from leaderboard.boards import phases

    phases._KEPT_BRIEFS.clear()
    for i in range(50):
        assert Client().get(f"/c/video-pentathlon/no-such-{i}/leaderboard/").status_code == 404
    assert Client().get(f"/api/v1/phases/{10_000 + phase.id}/leaderboard/").status_code == 404
    assert phases._KEPT_BRIEFS == {}


def test_a_board_rendered_under_a_derived_version_is_not_kept_past_a_second_cache_loss(
    phase, scored, team, committed
):
    scored(40.0)
    client = Client()
    caches[settings.BOARD_CACHE].clear()  # lost: the version is derived from the database
    assert 'data-team="Alpha"' in board_html(client)
    with committed():
        team.name = "Renamed"
        team.save()  # bumps; the derived version does not summarise team names
    caches[settings.BOARD_CACHE].clear()  # lost again: the same derived version as before
    body = board_html(client)
    assert 'data-team="Renamed"' in body and 'data-team="Alpha"' not in body


def test_kept_bodies_stay_within_their_byte_budget():
    from leaderboard.boards.responses import _KeptBodies

    kept = _KeptBodies(budget=1000)
    for i in range(20):
        kept.put(f"k{i}", {"body": b"x" * 100, "type": "text/html", "at": 0})
    assert kept.get("k0") is None and kept.get("k19") is not None
    assert sum(len(kept.get(f"k{i}")["body"]) for i in range(20) if kept.get(f"k{i}")) <= 1000
    kept.put("huge", {"body": b"x" * 400, "type": "text/html", "at": 0})  # over a quarter: not kept
    assert kept.get("huge") is None and kept.get("k19") is not None


# --- no cached board shows a viewer what they may not see ----------------------------------------------


def test_an_organisers_cached_view_of_hidden_results_is_never_served_to_others(
    hidden_phase, organiser, participant, team, committed
):
    with committed():
        submission = SubmissionFactory(team=team, phase=hidden_phase, method_name="secret method")
        ResultFactory(submission=submission, primary_score=50.0, metrics=metrics(50.0))
    url = "/c/video-pentathlon/test/leaderboard/"
    as_organiser = Client()
    as_organiser.force_login(organiser)
    for _ in range(2):  # rendered, then from the cache
        assert "secret method" in as_organiser.get(url).content.decode()
        assert as_organiser.get(api(hidden_phase)).json()["entries"]
    as_team = Client()
    as_team.force_login(participant)
    for client in (Client(), as_team):
        for _ in range(2):
            page = client.get(url)
            assert "secret method" not in page.content.decode() and "hidden until" in page.content.decode()
            data = client.get(api(hidden_phase)).json()
            assert data["entries"] == [] and data["detail"]
            assert client.get("/c/video-pentathlon/test/leaderboard.csv").status_code == 403


def test_a_private_entry_is_never_on_a_cached_board(phase, scored, other_participant, organiser):
    scored(40.0)
    scored(90.0, team_=other_participant.teams.get(), is_public=False, method_name="private one")
    as_organiser = Client()
    as_organiser.force_login(organiser)
    for client in (Client(), as_organiser, Client()):
        assert teams_on(client, phase) == ["Alpha"]
        assert "private one" not in board_html(client)


def test_a_signed_in_page_is_not_cached_for_anyone_else(phase, scored, participant):
    scored(40.0)
    signed_in = Client()
    signed_in.force_login(participant)
    assert "alice" in board_html(signed_in)
    assert "alice" not in board_html(Client())
    assert "alice" in board_html(signed_in)
    assert signed_in.get(BOARD)["Cache-Control"].startswith("private")


def test_an_organisers_json_is_not_marked_for_shared_caches(hidden_phase, organiser):
    client = Client()
    client.force_login(organiser)
    response = client.get(api(hidden_phase))
    assert "private" in response["Cache-Control"] and "public" not in response["Cache-Control"]


# --- conditional requests -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["board", "json", "csv", "embed"])
def test_a_client_with_the_current_version_gets_304_until_the_board_changes(path, phase, scored, committed):
    from challenge.services import submission_moderate

    submission = scored(40.0)
    url = {"board": BOARD, "json": api(phase), "csv": CSV, "embed": BOARD + "embed/"}[path]
    client = Client()
    first = client.get(url)
    assert first.status_code == 200 and first["ETag"]
    assert first["Cache-Control"] == f"public, max-age={settings.PENTATHLON_BOARD_MAX_AGE}"
    again = client.get(url, headers={"if-none-match": first["ETag"]})
    assert again.status_code == 304 and again["ETag"] == first["ETag"] and not again.content
    with committed():
        submission_moderate(submission=submission, moderation="hidden", reason="Checking.")
    changed = client.get(url, headers={"if-none-match": first["ETag"]})
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]


def test_last_modified_is_sent_and_an_unknown_etag_gets_the_board(phase, scored):
    scored(40.0)
    client = Client()
    response = client.get(api(phase), headers={"if-none-match": '"not-this-one"'})
    assert response.status_code == 200 and response["Last-Modified"].endswith("GMT")
    assert response.json()["entries"]


# --- pages --------------------------------------------------------------------------------------------


@pytest.fixture
def many(phase, committed):
    """250 teams with one entry each: scores 1..250 (team-250 first)."""
    from leaderboard.models import DatasetResult, Result

    with committed():
        teams = TeamFactory.create_batch(250, challenge=phase.challenge)
        for i, team in enumerate(teams, start=1):
            team.name = f"team-{i:03d}"
        type(teams[0]).objects.bulk_update(teams, ["name"])
        submissions = [SubmissionFactory.build(team=t, phase=phase, file="x.zip") for t in teams]
        Submission.objects.bulk_create(submissions)
        submissions = list(Submission.objects.filter(phase=phase).order_by("id"))
        results = Result.objects.bulk_create(
            [
                Result(
                    submission=s, primary_score=float(i), aggregation="mean", metrics={}, scorer_version="t"
                )
                for i, s in enumerate(submissions, start=1)
            ]
        )
        DatasetResult.objects.bulk_create(
            [DatasetResult(result=r, dataset="MSRVTT", score=r.primary_score) for r in results]
        )
        Phase.objects.get(id=phase.id).save()  # one bump for the bulk writes
    return phase


def test_pages_cut_the_ranked_board_and_report_the_total(many):
    client = Client()
    first = client.get(api(many)).json()
    assert (first["page"], first["page_size"], first["pages"], first["total"]) == (1, 100, 3, 250)
    assert [e["rank"] for e in first["entries"]][:2] == [1, 2] and len(first["entries"]) == 100
    last = client.get(api(many), {"page": 3}).json()
    assert [e["rank"] for e in last["entries"]] == list(range(201, 251))
    assert last["entries"][-1]["team"] == "team-001"
    small = client.get(api(many), {"page": 2, "page_size": 10}).json()
    assert [e["rank"] for e in small["entries"]] == list(range(11, 21))
    assert len(client.get(api(many), {"limit": 5}).json()["entries"]) == 5  # the chart's request
    page = board_html(client, page=2)
    assert page.count('data-team="team-') == 100 and "Rows 101–200 of 250" in page
    assert 'rel="next"' in page and 'rel="prev"' in page


def test_the_csv_streams_every_row(many):
    response = Client().get(CSV)
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 250 and rows[0]["rank"] == "1"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"page": "0"}, "'page' must be a whole number from 1 to"),
        ({"page": "abc"}, "'page' must be a whole number from 1 to"),
        ({"page": "-1"}, "'page' must be a whole number from 1 to"),
        ({"page": "9" * 30}, "'page' must be a whole number from 1 to"),
        ({"page": "4"}, "page must be from 1 to 3"),
        ({"page_size": "0"}, "'page_size' must be a whole number from 1 to 500"),
        ({"page_size": "501"}, "'page_size' must be a whole number from 1 to 500"),
        ({"limit": "x"}, "'limit' must be a whole number from 1 to 500"),
    ],
)
def test_bad_page_numbers_are_a_400_that_says_the_range(many, params, expected):
    client = Client()
    data = client.get(api(many), params)
    assert data.status_code == 400 and expected in data.json()["detail"]
    page = client.get(BOARD, params)  # the site's error page, with the sentence
    assert page.status_code == 400 and expected in html.unescape(page.content.decode())


def test_a_private_challenges_board_is_a_404_for_visitors_even_once_cached(
    phase, scored, superuser, committed
):
    scored(40.0)
    with committed():
        phase.challenge.is_public = False
        phase.challenge.save()
    root = Client()
    root.force_login(superuser)
    assert root.get(BOARD).status_code == 200 and root.get(api(phase)).status_code == 200
    assert Client().get(BOARD).status_code == 404
    assert Client().get(BOARD + "embed/").status_code == 404
    assert Client().get(api(phase)).status_code == 404  # last: the API's 404 marks the test's transaction
