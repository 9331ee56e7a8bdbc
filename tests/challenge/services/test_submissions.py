"""The submission's state machine: one lease rule for the claim and the sweeper, and no status write
anywhere else in the site apps."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from challenge.models import Submission
from challenge.services import (
    claim_row,
    lease_expired_before,
    submission_claim,
    submission_fail,
    submission_finish,
    submission_heartbeat,
    submission_release,
    submission_requeue_stale_now,
)

Status = Submission.Status
pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[3]
SITE_APPS = ("accounts", "challenge", "leaderboard", "workers", "config")
STATE_MACHINE = REPO / "challenge" / "services" / "submissions.py"
OTHER_MODELS = {"ChunkedUpload"}


def _running_since(submission: Submission, *, seconds_ago: float, heartbeat: bool = True) -> None:
    when = timezone.now() - timedelta(seconds=seconds_ago)
    Submission.objects.filter(id=submission.id).update(
        status=Status.RUNNING, started_at=when, heartbeat_at=when if heartbeat else None
    )


@pytest.mark.parametrize("heartbeat", [True, False])
def test_the_claim_and_the_sweeper_share_one_lease_threshold(queued, settings, heartbeat):
    stale_after = settings.PENTATHLON_HEARTBEAT_STALE_AFTER
    fresh, expired = queued(), queued()
    _running_since(fresh, seconds_ago=stale_after - 5, heartbeat=heartbeat)
    _running_since(expired, seconds_ago=stale_after + 5, heartbeat=heartbeat)
    assert submission_claim(submission_id=fresh.id) is None
    assert submission_requeue_stale_now() == [expired.id]
    _running_since(expired, seconds_ago=stale_after + 5, heartbeat=heartbeat)
    assert submission_claim(submission_id=expired.id) is not None


def test_every_write_of_a_run_is_guarded_by_its_claim(queued):
    submission = queued()
    claimed_at = submission_claim(submission_id=submission.id)
    stale_claim = claim_row(submission_id=submission.id, claimed_at=claimed_at - timedelta(seconds=1))
    assert not submission_heartbeat(row=stale_claim)
    assert not submission_release(row=stale_claim)
    assert not submission_finish(row=stale_claim, progress={})
    assert not submission_fail(row=stale_claim, message="lost")
    mine = claim_row(submission_id=submission.id, claimed_at=claimed_at)
    assert submission_heartbeat(row=mine) and submission_release(row=mine)
    assert Submission.objects.get(id=submission.id).status == Status.QUEUED


def test_the_lease_threshold_follows_the_setting(settings):
    settings.PENTATHLON_HEARTBEAT_STALE_AFTER = 100
    assert abs((timezone.now() - lease_expired_before()).total_seconds() - 100) < 5


def _root_name(node: ast.AST) -> str:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return getattr(node, "id", "")


def _status_writes(path: Path) -> list[str]:
    """Writes of a status in a module: `.update(status=...)` and friends, `Submission(status=...)` and
    `x.status = ...`, except those of another model (`ChunkedUpload` has a status of its own)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and any(k.arg == "status" for k in node.keywords):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            other_model = _root_name(func) in OTHER_MODELS
            if (
                name in ("update", "create", "update_or_create", "get_or_create", "Submission")
                and not other_model
            ):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "status":
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_no_module_of_the_site_apps_but_the_state_machine_writes_a_status():
    modules = [p for app in SITE_APPS for p in (REPO / app).rglob("*.py") if "migrations" not in p.parts]
    assert STATE_MACHINE in modules
    writes = [w for p in modules if p != STATE_MACHINE for w in _status_writes(p)]
    assert writes == []
    assert len(_status_writes(STATE_MACHINE)) >= 5  # the detector does see the state machine's writes


# --- lost workers, their cap, and cancelling a dead worker's row ------------


def _expired(submission: Submission, settings, *, lost: int = 0) -> None:
    _running_since(submission, seconds_ago=settings.PENTATHLON_HEARTBEAT_STALE_AFTER + 5)
    Submission.objects.filter(id=submission.id).update(lost_attempts=lost)


def test_taking_over_an_expired_lease_counts_one_lost_attempt(queued, settings):
    submission = queued()
    _expired(submission, settings)
    assert submission_claim(submission_id=submission.id) is not None
    assert Submission.objects.get(id=submission.id).lost_attempts == 1


@pytest.mark.parametrize("road", ["claim", "sweeper"])
def test_the_last_lost_attempt_fails_the_submission_and_refunds_its_quota(queued, settings, road, mailoutbox):
    from challenge.services import WORKER_LOST
    from challenge.services.intake import quota_check

    settings.PENTATHLON_MAX_LOST_ATTEMPTS = 3
    submission = queued()
    _expired(submission, settings, lost=2)
    if road == "claim":
        assert submission_claim(submission_id=submission.id) is None
    else:
        assert submission_requeue_stale_now() == []
    row = Submission.objects.get(id=submission.id)
    assert row.status == Status.FAILED and row.quota_refunded and row.lost_attempts == 3
    assert row.error_message == WORKER_LOST.format(times=3)
    assert "stopped the worker 3 times" in row.error_message
    submission.phase.max_submissions_total = 1
    submission.phase.save()
    quota_check(team=submission.team, phase=submission.phase)  # the refunded row does not count


def test_the_sweeper_counts_the_losses_it_re_sends(queued, settings):
    settings.PENTATHLON_MAX_LOST_ATTEMPTS = 3
    submission = queued()
    _expired(submission, settings, lost=1)
    assert submission_requeue_stale_now() == [submission.id]
    row = Submission.objects.get(id=submission.id)
    assert (row.status, row.lost_attempts) == (Status.QUEUED, 2)


def test_a_row_whose_lease_expired_can_be_cancelled_by_its_team(queued, settings, participant):
    from challenge.services import submission_cancel

    submission = queued()
    _expired(submission, settings)
    assert submission_cancel(submission=submission, user=participant)
    assert Submission.objects.get(id=submission.id).status == Status.CANCELLED


def test_a_row_held_by_a_live_worker_cannot_be_cancelled(queued, settings, participant):
    from challenge.services import submission_cancel
    from core.exceptions import ApplicationError

    submission = queued()
    _running_since(submission, seconds_ago=1)
    with pytest.raises(ApplicationError, match="worker stopped answering"):
        submission_cancel(submission=submission, user=participant)
    assert Submission.objects.get(id=submission.id).status == Status.RUNNING


def test_the_lease_left_of_a_running_row(queued, settings):
    from challenge.services import submission_lease_left

    submission = queued()
    assert submission_lease_left(submission_id=submission.id) is None
    _running_since(submission, seconds_ago=10)
    left = submission_lease_left(submission_id=submission.id)
    assert (
        settings.PENTATHLON_HEARTBEAT_STALE_AFTER - 15
        < left
        <= settings.PENTATHLON_HEARTBEAT_STALE_AFTER - 10
    )


# --- the stored files of failed and cancelled submissions expire ---------------------


def test_the_files_of_failed_and_cancelled_submissions_are_deleted_after_the_retention(queued, settings):
    from django.core.management import call_command

    from challenge.models import Team
    from challenge.selectors import team_storage_annotate
    from challenge.services import phase_rescore, submission_mark_failed

    settings.PENTATHLON_FAILED_FILE_RETENTION_DAYS = 3
    failed, kept, recent = queued(), queued(), queued()
    for row in (failed, recent):
        submission_mark_failed(submission_id=row.id, message="bad")
    old = timezone.now() - timedelta(days=4)
    Submission.objects.filter(id=failed.id).update(finished_at=old)
    path = Path(failed.file.path)
    assert path.exists()
    team = Team.objects.filter(id=failed.team_id)
    before = team_storage_annotate(team).get().storage_bytes
    call_command("expire_submission_files")
    row = Submission.objects.get(id=failed.id)
    assert row.file.name == "" and not path.exists() and row.status == Status.FAILED
    assert Path(recent.file.path).exists() and Path(kept.file.path).exists()
    assert team_storage_annotate(team).get().storage_bytes == before - failed.file_size
    assert failed.id not in (Submission.objects.filter(status=Status.QUEUED).values_list("id", flat=True))
    phase_rescore(phase=failed.phase)  # a re-score leaves the file-less row alone
    assert Submission.objects.get(id=failed.id).status == Status.FAILED
