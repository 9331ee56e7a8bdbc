"""Code phases through the real pipeline: upload a program, the worker runs it in the real bubblewrap
sandbox and scores its output with the usual scorer; what a team sees on a validation and on a hidden
test phase (docs/code-phases.md)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from django.core.files import File
from django.urls import reverse

from challenge.models import Phase, Submission
from challenge.services import submission_create
from challenge.starter_kit import EXAMPLE_PROGRAM
from leaderboard.models import Result
from tests.factories import PhaseFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap)"),
]
Status = Submission.Status
SMALL = {"code_wall_limit_s": 20, "code_memory_limit_mb": 1024, "code_output_limit_mb": 64, "code_cpus": 1}


def _code_phase(challenge, tiny_truth_path, **fields) -> Phase:
    from challenge.services import phase_ground_truth_set

    phase = PhaseFactory(
        challenge=challenge, submission_kind=Phase.SubmissionKind.CODE, **{**SMALL, **fields}
    )
    with open(tiny_truth_path, "rb") as handle:
        phase_ground_truth_set(phase=phase, file=File(handle))
    return phase


@pytest.fixture
def code_val(challenge, tiny_truth_path):
    return _code_phase(challenge, tiny_truth_path, slug="code-val", code_show_output=True)


@pytest.fixture
def code_test(challenge, tiny_truth_path):
    return _code_phase(
        challenge,
        tiny_truth_path,
        slug="code-test",
        code_show_output=False,
        leaderboard_visibility=Phase.LeaderboardVisibility.HIDDEN,
    )


def _program(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


def _submit(user, phase, data: bytes, django_capture_on_commit_callbacks, name="program.zip") -> Submission:
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(
            user=user, phase=phase, file=File(io.BytesIO(data), name=name), method_name="code"
        )
    submission.refresh_from_db()
    return submission


def test_the_example_program_scores_exactly_what_its_predictions_score(
    code_val, participant, tmp_path, django_capture_on_commit_callbacks
):
    from challenge.publication import phase_published_truth
    from evaluation.scoring import score_submission
    from leaderboard.services.code_run import input_build

    submission = _submit(
        participant,
        code_val,
        _program({"main.py": EXAMPLE_PROGRAM.read_text()}),
        django_capture_on_commit_callbacks,
    )
    assert submission.status == Status.FINISHED, (submission.error_message, submission.program_run)
    run = submission.program_run
    assert run["ok"] and run["wall_s"] > 0 and run["peak_memory_bytes"] > 0 and run["hardware"]
    assert "MSVD:" in run["stderr"] and "queries" in run["stderr"]  # the validation phase shows the output
    # The same predictions, made outside the sandbox and scored as an upload would be:
    truth = phase_published_truth(phase=code_val)
    input_build(phase=code_val, truth=truth, dest=tmp_path / "input")
    (tmp_path / "out").mkdir()
    subprocess.run(
        [
            sys.executable,
            str(EXAMPLE_PROGRAM),
            "--input",
            str(tmp_path / "input"),
            "--output",
            str(tmp_path / "out"),
        ],
        check=True,
        capture_output=True,
    )
    report = score_submission(ground_truth=truth, submission_path=tmp_path / "out" / "submission.npz")
    result = Result.objects.get(submission=submission)
    assert set(result.metrics) == set(report["datasets"]) and result.metrics
    for name, entry in report["datasets"].items():
        assert result.metrics[name]["t2v"] == entry["t2v"]
        assert result.metrics[name]["score"] == entry["score"]
    assert submission.progress["stage"] != "waiting for a sandbox"


def test_a_hidden_phase_shows_no_program_output_even_when_it_prints_the_queries(
    code_test, participant, django_capture_on_commit_callbacks, tiny_truth, client
):
    from challenge.code_phases import submission_program_run_visible

    texts = [t for d in tiny_truth.datasets.values() for t in (d.query_text or ()) if t]
    source = """
    import os, sys
    for name in os.listdir("/input"):
        path = os.path.join("/input", name, "queries.tsv")
        if os.path.exists(path):
            text = open(path).read()
            print(text)
            print(text, file=sys.stderr)
    open("/output/submission.npz", "wb").write(open("/input/MSVD/queries.tsv", "rb").read())
    raise SystemExit(open("/input/MSVD/queries.tsv").read()[:200])
    """
    submission = _submit(
        participant, code_test, _program({"main.py": source}), django_capture_on_commit_callbacks
    )
    assert submission.status == Status.FAILED
    stored = submission.program_run
    assert "query_id" in stored["stdout"]  # recorded for the organisers ...
    visible = submission_program_run_visible(submission=submission)
    assert set(visible) == {"ok", "wall_s", "failure_class", "message", "hardware"}  # ... never shown
    assert visible["failure_class"] == "crash"
    assert "query_id" not in submission.error_message and not any(
        t in submission.error_message for t in texts
    )
    client.force_login(participant)
    for url in (
        reverse("api:submission-detail", args=[submission.id]),
        reverse("challenge:submission", kwargs={"submission_id": submission.id}),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "query_id" not in body, url
        assert not any(t in body for t in texts if len(t) > 12), url
    # the quota: a program's own failure counts on this phase (it could otherwise probe the hidden data)
    from challenge.selectors import submission_quota_counted

    assert not submission.quota_refunded
    assert submission_quota_counted(team=submission.team, phase=code_test).filter(id=submission.id).exists()
    code_test.code_failures_count = False
    assert not submission_quota_counted(team=submission.team, phase=code_test).exists()


@pytest.mark.slow
def test_a_program_failure_on_a_validation_phase_shows_its_reason_and_output(
    challenge, tiny_truth_path, participant, django_capture_on_commit_callbacks
):
    # a wall limit of its own: the program sleeps out 3 s rather than burn SMALL's 20 s of a core
    short = _code_phase(
        challenge, tiny_truth_path, slug="code-val-short", code_show_output=True, code_wall_limit_s=3
    )
    submission = _submit(
        participant,
        short,
        _program({"main.py": "import time\nprint('hello from the program')\ntime.sleep(600)\n"}),
        django_capture_on_commit_callbacks,
    )
    assert submission.status == Status.FAILED
    assert submission.error_message == "Your program ran longer than 3 s and was stopped."
    assert "hello from the program" in submission.program_run["stdout"]


def test_output_the_scorer_refuses_is_a_bad_output_and_a_missing_one_too(
    code_test, participant, django_capture_on_commit_callbacks
):
    bad = _submit(
        participant,
        code_test,
        _program(
            {
                "main.py": "import numpy as np\nnp.savez('/output/submission.npz', NoSuchDataset=np.ones((2, 2)))\n"
            }
        ),
        django_capture_on_commit_callbacks,
    )
    assert bad.status == Status.FAILED
    assert bad.error_message == "Your program's output could not be scored (missing, too large or invalid)."
    assert "NoSuchDataset" not in bad.error_message
    missing = _submit(
        participant,
        code_test,
        _program({"main.py": "print('nothing')\n"}),
        django_capture_on_commit_callbacks,
    )
    assert missing.status == Status.FAILED and missing.program_run["failure_class"] == "bad_output"


def test_an_upload_without_main_py_or_not_a_zip_is_refused_at_once(code_val, participant):
    from core.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="holds no main.py"):
        submission_create(
            user=participant,
            phase=code_val,
            file=File(io.BytesIO(_program({"model.py": "x = 1"})), name="p.zip"),
            method_name="m",
        )
    with pytest.raises(ApplicationError, match="upload a .zip holding main.py"):
        submission_create(
            user=participant,
            phase=code_val,
            file=File(io.BytesIO(b"\x93NUMPY"), name="p.npz"),
            method_name="m",
        )
    with pytest.raises(ApplicationError, match="leaves the archive"):
        submission_create(
            user=participant,
            phase=code_val,
            file=File(io.BytesIO(_program({"main.py": "", "../evil.py": ""})), name="p.zip"),
            method_name="m",
        )


@pytest.fixture
def eager_retries():
    """Eager retries run inline only when failures do not propagate; restore the test default after."""
    from config.celery import app

    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = True


def test_a_sandbox_that_cannot_start_is_the_sites_fault_retried_and_never_counted(
    code_val, participant, django_capture_on_commit_callbacks, settings, eager_retries
):
    from leaderboard.services.evaluate import SANDBOX_GAVE_UP
    from workers.tasks import MAX_RETRIES

    settings.PENTATHLON_SANDBOX_OPTIONS = {"bwrap": "/nonexistent/bwrap"}
    submission = _submit(
        participant, code_val, _program({"main.py": "print(1)\n"}), django_capture_on_commit_callbacks
    )
    # retried (eager mode: in place); after the last attempt the row fails, refunded
    assert (submission.status, submission.error_message) == (Status.FAILED, SANDBOX_GAVE_UP)
    assert submission.quota_refunded
    assert submission.attempts == MAX_RETRIES + 1
    settings.PENTATHLON_SANDBOX_OPTIONS = {}
    again = _submit(
        participant,
        code_val,
        _program({"main.py": EXAMPLE_PROGRAM.read_text(), "notes.txt": "again"}),
        django_capture_on_commit_callbacks,
    )
    assert again.status == Status.FINISHED


def test_the_kit_and_the_api_of_a_code_phase_carry_no_query_text(code_test, participant, tiny_truth, client):
    from challenge.starter_kit import starter_kit_build

    kit = zipfile.ZipFile(io.BytesIO(starter_kit_build(phase=code_test)))
    names = kit.namelist()
    assert "main.py" in names and "shapes.json" in names and "MSVD/videos.txt" in names
    assert not [n for n in names if "queries" in n]
    texts = [t for d in tiny_truth.datasets.values() for t in (d.query_text or ()) if len(t) > 12]
    everything = b"".join(kit.read(n) for n in names).decode(errors="replace")
    assert not any(t in everything for t in texts)
    client.force_login(participant)
    body = client.get(reverse("api:phase-list", args=[code_test.challenge.slug])).content.decode()
    assert '"submission_kind":"code"' in body.replace(" ", "") and "python main.py" in body
    assert not any(t in body for t in texts)


def test_routing_sends_a_gpu_phase_program_to_the_gpu_queue_only_when_there_is_one(settings):
    from challenge.services.dispatch import evaluation_queue

    settings.PENTATHLON_GPU_QUEUE_ENABLED = True
    assert evaluation_queue(manifest={"program": {}, "gpu": True}) == settings.PENTATHLON_GPU_QUEUE
    assert evaluation_queue(manifest={"program": {}, "gpu": False}) == settings.PENTATHLON_CPU_QUEUE
    settings.PENTATHLON_GPU_QUEUE_ENABLED = False
    assert evaluation_queue(manifest={"program": {}, "gpu": True}) == settings.PENTATHLON_CPU_QUEUE


def test_the_example_program_file_exists():
    assert Path(EXAMPLE_PROGRAM).is_file()


def test_the_submit_page_of_a_code_phase_asks_for_a_program(code_val, participant, client):
    client.force_login(participant)
    response = client.get(reverse("challenge:submit", args=[code_val.challenge.slug, code_val.slug]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "python main.py --input /input --output /output" in body and "accepted formats: .zip" in body
