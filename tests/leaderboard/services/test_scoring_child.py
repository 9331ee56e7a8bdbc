"""The scoring step runs in a child process that holds no secret, cannot open the site's files and
scores only the file that was accepted (evaluation.sandbox, docs/deploying.md "The scoring child")."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3

import pytest

from challenge.models import Submission
from leaderboard.models import Result
from leaderboard.services import submission_evaluate

pytestmark = pytest.mark.django_db

SECRETS = {
    "DJANGO_SECRET_KEY": "probe-secret-key-4f1b",
    "EMAIL_HOST_PASSWORD": "probe-mail-password-77a2",
    "AWS_SECRET_ACCESS_KEY": "probe-storage-key-0c9e",
    "PENTATHLON_S3_SECRET_KEY": "probe-s3-key-5d21",
    "CELERY_BROKER_URL": "redis://:probe-broker-password-9b@localhost:1/0",
    "SENTRY_DSN": "https://probe-dsn-e3@example.org/1",
    "GITHUB_TOKEN": "probe-token-31aa",
}


def _isolations():
    from evaluation.sandbox import bwrap_works

    return (["auto"] if bwrap_works() else []) + ["env"]


@pytest.mark.parametrize("mode", _isolations())
def test_the_scoring_step_holds_no_secret_and_cannot_open_the_sites_files(
    queued, upload, settings, monkeypatch, tmp_path, mode
):
    """Read from inside the child, while it scores: /proc/self/environ holds no secret (none of the
    worker's, nor the site's secret key), and neither the site's SQLite database, another team's
    stored file nor the organiser's ground-truth file can be opened."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    database = settings.VAR_DIR / "db.sqlite3"  # where the embedded default keeps the site's database
    sqlite3.connect(database).execute("create table if not exists probe (x)").connection.close()
    other = upload()  # a stored file of another submission
    submission = queued()
    forbidden = [
        str(database),
        other.file.storage.path(other.file.name),
        submission.phase.ground_truth.storage.path(submission.phase.ground_truth.name),
        submission.file.storage.path(submission.file.name),  # even its own stored copy, by its path
    ]
    report_to = tmp_path / "probe.json"
    settings.PENTATHLON_SCORING_ISOLATION = mode
    settings.PENTATHLON_SCORING_TEST_PROBE = {"open": forbidden, "report_to": str(report_to)}
    submission_evaluate(submission_id=submission.id)

    seen = json.loads(report_to.read_text())
    names = [item.split("=", 1)[0] for item in seen["environ"]]
    assert names and not [n for n in names if re.search(r"SECRET|PASSWORD|KEY|TOKEN|_URL|DSN", n)], names
    everything = "\n".join(seen["environ"])
    for value in [*SECRETS.values(), settings.SECRET_KEY]:
        assert value not in everything
    assert seen["opened"] == dict.fromkeys(forbidden, False)
    if mode == "env":
        assert seen["uid"] == settings.PENTATHLON_SCORING_UID  # the test runs as root
    row = Submission.objects.get(id=submission.id)
    assert row.status == "finished", row.error_message  # and it still scored the file


def _flip_a_byte(submission) -> None:
    path = submission.file.storage.path(submission.file.name)
    with open(path, "r+b") as handle:
        data = bytearray(handle.read())
        data[len(data) // 2] ^= 0x01  # in the array data: still a well-formed file, other scores
        handle.seek(0)
        handle.write(data)
    assert hashlib.sha256(bytes(data)).hexdigest() != submission.checksum_sha256


def test_a_file_changed_behind_the_servers_back_is_not_scored(queued):
    submission = queued()
    _flip_a_byte(submission)
    submission_evaluate(submission_id=submission.id)
    row = Submission.objects.get(id=submission.id)
    assert row.status == "failed" and "the stored file changed" in row.error_message
    assert row.quota_refunded
    assert not Result.objects.filter(submission_id=submission.id).exists()
    assert str(row.file.name) not in row.error_message and "/" not in row.error_message


def test_a_rescore_checks_the_file_again_and_drops_the_old_result(queued, phase):
    from challenge.services.submissions import phase_rescore

    submission = queued()
    submission_evaluate(submission_id=submission.id)
    assert Result.objects.filter(submission_id=submission.id).exists()
    _flip_a_byte(submission)
    phase_rescore(phase=phase)
    submission_evaluate(submission_id=submission.id)
    row = Submission.objects.get(id=submission.id)
    assert row.status == "failed" and "the stored file changed" in row.error_message
    assert not Result.objects.filter(submission_id=submission.id).exists()
