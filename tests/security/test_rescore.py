"""A re-score that arrives while the submission is being scored: the latest scorer run wins.

Semantics (challenge.services.phase_rescore): a RUNNING submission is queued again; the run in
progress read the old ground truth, its claim no longer matches when it finishes, and its result
is discarded. The re-queued run then scores it. One result, from the latest run; the stale one is
never visible. The real-process version on PostgreSQL is in test_concurrency_postgres.py.
"""

from __future__ import annotations

import pytest

from challenge.models import Submission

pytestmark = pytest.mark.django_db
Status = Submission.Status


def test_rescore_during_scoring_discards_the_stale_run(
    upload, phase, monkeypatch, django_capture_on_commit_callbacks
):
    from challenge.services import phase_rescore
    from evaluation import sandbox
    from leaderboard.models import Result
    from workers.tasks import submission_evaluate_task

    submission = upload("npz", seed=4)
    assert submission.status == Status.FINISHED
    real_score = submission.result.primary_score
    real_scorer = sandbox.score_in_child  # the worker scores in a child process (evaluation.sandbox)
    pending = []

    def scorer_interrupted_by_a_rescore(**kwargs):
        with django_capture_on_commit_callbacks() as callbacks:  # the organiser re-scores now
            assert phase_rescore(phase=phase) == 1
        pending.extend(callbacks)
        return {
            "scorer_version": "stale",
            "aggregation": "mean",
            "overall_score": -1.0,
            "datasets": {},
            "missing_datasets": [],
        }

    Submission.objects.filter(id=submission.id).update(status=Status.QUEUED)
    monkeypatch.setattr(sandbox, "score_in_child", scorer_interrupted_by_a_rescore)
    submission_evaluate_task.apply(args=[submission.id])
    submission.refresh_from_db()
    assert submission.status == Status.QUEUED  # the stale run's result was not stored
    assert Result.objects.get(submission=submission).primary_score == real_score  # the old one still shows

    monkeypatch.setattr(sandbox, "score_in_child", real_scorer)
    # the re-score's message (its other callback bumps the boards' version)
    messages = [callback for callback in pending if "evaluation_enqueue" in callback.__qualname__]
    assert len(messages) == 1
    messages[0]()  # the worker scores it again
    submission.refresh_from_db()
    assert submission.status == Status.FINISHED
    assert Result.objects.filter(submission=submission).count() == 1
    assert submission.result.primary_score == real_score and submission.result.scorer_version != "stale"
    assert submission.attempts == 3  # first scoring, the stale run, the re-score


def test_rescore_requeues_finished_failed_and_running_but_not_queued_or_cancelled(phase, team):
    from challenge.services import phase_rescore
    from tests.factories import SubmissionFactory

    rows = {status: SubmissionFactory(team=team, phase=phase, status=status) for status in Status.values}
    with pytest.MonkeyPatch.context() as patch:
        from challenge.services import dispatch

        patch.setattr(dispatch, "evaluation_enqueue_on_commit", lambda **kwargs: None)
        assert phase_rescore(phase=phase) == 3
    for status, row in rows.items():
        row.refresh_from_db()
        expected = (
            Status.QUEUED
            if status in (Status.FINISHED, Status.FAILED, Status.RUNNING, Status.QUEUED)
            else status
        )
        assert row.status == expected, status
