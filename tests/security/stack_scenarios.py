"""Scenarios run *inside* a live stack's environment (its database, broker and settings).

    python -m tests.security.stack_scenarios state ID
    python -m tests.security.stack_scenarios send-twice ID
    python -m tests.security.stack_scenarios enqueue-corpus DIR
    python -m tests.security.stack_scenarios rescore-during-scoring ID

Each prints one JSON line. Used by tests/security/test_concurrency_postgres.py through the
integration harness (tests/integration/stack.py), so the web server and workers are real processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    import django

    django.setup()


def state(submission_id: int) -> dict:
    from challenge.models import Submission
    from leaderboard.models import Result

    row = Submission.objects.get(id=submission_id)
    results = list(
        Result.objects.filter(submission_id=submission_id).values_list("primary_score", "scorer_version")
    )
    return {
        "status": row.status,
        "attempts": row.attempts,
        "error": row.error_message,
        "results": len(results),
        "score": results[0][0] if results else None,
        "scorer_version": results[0][1] if results else None,
        "started_at": row.started_at.isoformat() if row.started_at else None,
    }


def send_twice(submission_id: int) -> dict:
    """Two more messages for the same submission, published concurrently from two threads."""
    from workers.tasks import submission_evaluate_task

    barrier = threading.Barrier(2)

    def send() -> None:
        barrier.wait()
        submission_evaluate_task.delay(submission_id)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"sent": 2}


def enqueue_corpus(directory: str) -> dict:
    """Every submission of the bad-input corpus as a QUEUED row of the demo team, sent to the workers."""
    from django.core.files import File
    from django.db import transaction

    from challenge.models import Phase, Submission, TeamMembership
    from challenge.services import evaluation_enqueue_on_commit
    from evaluation.synthetic import pentathlon_ground_truth
    from tests.security.corpus import SUBMISSION_CASES, write_case

    phase = Phase.objects.get(challenge__slug="video-pentathlon", slug="val")
    membership = TeamMembership.objects.select_related("team", "user").get(
        challenge=phase.challenge, user__username="participant"
    )
    truth = pentathlon_ground_truth(phase="val", scale="tiny", seed=0)
    ids = {}
    for case in SUBMISSION_CASES:
        path = write_case(case, Path(directory), truth)
        with transaction.atomic():
            row = Submission(
                team=membership.team,
                phase=phase,
                created_by=membership.user,
                file_format=path.suffix.lstrip("."),
                file_size=path.stat().st_size,
                checksum_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),  # as accepted
                method_name=case.name,
                status=Submission.Status.QUEUED,
            )
            with open(path, "rb") as handle:
                row.file.save(path.name, File(handle), save=False)
            row.save()
            evaluation_enqueue_on_commit(submission_id=row.id)
        ids[case.name] = row.id
    return {"ids": ids}


def rescore_during_scoring(submission_id: int) -> dict:
    """A scorer run blocked mid-evaluation in this process while the organiser re-scores the phase.

    The real worker picks up the re-score's message and finishes first; then the blocked run ends
    with a bogus report (-1). Returns the final state: the bogus report must not have been stored.
    """
    from challenge.models import Submission
    from challenge.services import phase_rescore, submission_transition
    from evaluation import sandbox
    from workers.tasks import submission_evaluate_task

    Status = Submission.Status
    entered, release = threading.Event(), threading.Event()

    def blocked_scorer(**kwargs):
        entered.set()
        release.wait(120)
        return {
            "scorer_version": "stale",
            "aggregation": "mean",
            "overall_score": -1.0,
            "datasets": {},
            "missing_datasets": [],
        }

    before = state(submission_id)
    # a run of our own: QUEUED without a message, claimed by a thread of this process
    assert submission_transition(
        submission_id=submission_id, from_states=(Status.FINISHED,), to_state=Status.QUEUED
    )
    sandbox.score_in_child = blocked_scorer  # the worker scores through the child (evaluation.sandbox)
    stale = threading.Thread(target=lambda: submission_evaluate_task.apply(args=[submission_id]))
    stale.start()
    assert entered.wait(60), "the stale run never started scoring"
    claimed = state(submission_id)
    phase = Submission.objects.get(id=submission_id).phase
    queued = phase_rescore(phase=phase)
    deadline = time.monotonic() + 120
    while True:  # the real worker scores the re-queued submission while our run is still blocked
        now = state(submission_id)
        if now["status"] == Status.FINISHED and now["started_at"] != claimed["started_at"]:
            break
        if time.monotonic() > deadline:
            release.set()
            raise SystemExit(f"the re-score was not picked up: {now}")
        time.sleep(0.2)
    release.set()
    stale.join(60)
    from django.db import connections

    connections.close_all()
    return {"before": before, "claimed": claimed, "queued": queued, "after": state(submission_id)}


def main(argv: list[str]) -> None:
    _setup()
    command, arg = argv[0], argv[1]
    commands = {
        "state": lambda: state(int(arg)),
        "send-twice": lambda: send_twice(int(arg)),
        "enqueue-corpus": lambda: enqueue_corpus(arg),
        "rescore-during-scoring": lambda: rescore_during_scoring(int(arg)),
    }
    print(json.dumps(commands[command]()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
