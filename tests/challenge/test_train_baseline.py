"""Baselines enter the site like any participant: trained on the expert store, submitted, scored."""

import io
import shutil
import subprocess
import sys
import zipfile

import pytest
from django.core.management import CommandError, call_command

from challenge.models import Phase, Submission, Team

pytestmark = pytest.mark.slow  # trains models

# Small and fast: a few epochs of a narrow CE on the tiny synthetic stores.
FAST = [
    "arch.ce_shared_dim=32",
    "arch.moee_dim_scale=0.03",
    "arch.text_clusters=4",
    "train.epochs=3",
    "train.batch_size=16",
]


@pytest.fixture(scope="module")
def tiny_experts(tmp_path_factory):
    from baselines.synthetic import generate

    out = tmp_path_factory.mktemp("experts")
    generate(out, scale="tiny", seed=0, datasets=("DiDeMo", "MSVD", "MSRVTT", "YouCook2", "ActivityNet"))
    return out


@pytest.mark.django_db(transaction=True)
def test_train_baseline_submits_a_scored_public_baseline_entry(
    tiny_experts, django_capture_on_commit_callbacks, settings
):
    call_command("seed_pentathlon", "--experts", str(tiny_experts))
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "train_baseline",
            "--model",
            "ce",
            "--phase",
            "video-pentathlon/val",
            "--store-dir",
            str(tiny_experts),
            "--datasets",
            "DiDeMo",
            "MSVD",
            *[a for o in FAST for a in ("--set", o)],
        )
    submission = Submission.objects.get(team__is_baseline=True)
    assert submission.status == Submission.Status.FINISHED, submission.error
    assert submission.is_baseline and submission.is_public
    # the leaderboard row and the entry page say what was trained
    assert (
        submission.method_name
        == "Collaborative Experts (baseline: cpu profile, 7-9 experts, 3 epochs, seed 0)"
    )
    assert "MSVD: imagenet.resnext101_32x48d.0, " in submission.description
    assert '"epochs": 3' in submission.description
    datasets = submission.result.metrics
    assert set(datasets) == {"DiDeMo", "MSVD"}
    # Trained on the same hidden semantics: a mean rank well below chance ((16 + 1) / 2 over 16 videos).
    print({name: d["t2v"] for name, d in datasets.items()})
    assert datasets["DiDeMo"]["t2v"]["MeanR"] < 0.8 * (16 + 1) / 2
    team = Team.objects.get(is_baseline=True)
    assert team.challenge.organisers.filter(username="baselines").exists()
    assert not team.members.get().has_usable_password()
    kept = sorted(p.name.split("-")[0] for p in settings.PENTATHLON_BASELINE_CHECKPOINT_DIR.glob("*.pt"))
    assert kept == ["DiDeMo", "MSVD"], (
        "the trained models are kept for reuse (TeachText's teacher, the test phase)"
    )
    cards = settings.PENTATHLON_BASELINE_CHECKPOINT_DIR.glob("*.card.json")
    assert sorted(p.name.split("-")[0] for p in cards) == ["DiDeMo", "MSVD"], "each with its model card"


def test_train_baseline_offers_every_baseline_model():
    from baselines.config import MODELS as BASELINE_MODELS
    from challenge.management.commands.train_baseline import MODELS

    assert MODELS == BASELINE_MODELS


@pytest.mark.django_db
def test_train_baseline_refuses_a_missing_store_or_phase(tmp_path, phase):
    with pytest.raises(CommandError, match="no phase"):
        call_command("train_baseline", "--model", "ce", "--phase", "nope/val", "--store-dir", str(tmp_path))
    with pytest.raises(CommandError, match="no expert store"):
        call_command(
            "train_baseline",
            "--model",
            "ce",
            "--phase",
            str(phase.id),
            "--store-dir",
            str(tmp_path / "missing"),
        )
    assert Phase.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_train_baseline_challenge_profile_trains_i3d_and_senet_and_says_so(
    tiny_experts, django_capture_on_commit_callbacks
):
    call_command("seed_pentathlon", "--experts", str(tiny_experts))
    small = ["arch.ce_shared_dim=32", "arch.text_clusters=4", "train.epochs=2", "train.batch_size=16"]
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "train_baseline",
            "--model",
            "ce",
            "--phase",
            "video-pentathlon/val",
            "--store-dir",
            str(tiny_experts),
            "--datasets",
            "MSVD",
            "--profile",
            "challenge",
            "--seed",
            "3",
            *[a for o in small for a in ("--set", o)],
        )
    submission = Submission.objects.get(team__is_baseline=True)
    assert submission.status == Submission.Status.FINISHED, submission.error
    assert submission.method_name == (
        "Collaborative Experts (baseline: challenge profile, i3d + SENet-154, 2 epochs, seed 3)"
    )
    assert "challenge profile (the CVPR 2020 challenge baseline at full size)" in submission.description
    assert "MSVD: i3d.i3d.0, imagenet.senet154.0, 2 epochs" in submission.description


@pytest.mark.django_db(transaction=True)
def test_the_demo_teachtext_row_is_trained_on_the_default_target(
    tiny_experts, django_capture_on_commit_callbacks, settings, tmp_path
):
    """What bin/demo runs after CE: `train_baseline --model teachtext` with no target override."""
    settings.PENTATHLON_BASELINE_CHECKPOINT_DIR = tmp_path / "ckpt"
    call_command("seed_pentathlon", "--experts", str(tiny_experts))
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "train_baseline",
            "--model",
            "teachtext",
            "--phase",
            "video-pentathlon/val",
            "--store-dir",
            str(tiny_experts),
            "--datasets",
            "DiDeMo",
            "--profile",
            "demo",
            *[a for o in FAST for a in ("--set", o)],
        )
    submission = Submission.objects.get(team__is_baseline=True)
    assert submission.status == Submission.Status.FINISHED, submission.error
    assert submission.method_name.startswith("TeachText (baseline: demo profile")
    assert "(DiDeMo: openai), target mixture." in submission.description
    cards = list((tmp_path / "ckpt").glob("*.card.json"))
    assert len(cards) == 1 and '"target": "mixture"' in cards[0].read_text()


def _finished(submission: Submission) -> Submission:
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FINISHED, (submission.error_message, submission.program_run)
    return submission


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap)")
def test_the_example_and_the_ce_baseline_score_as_code_on_the_demo_test_phase_what_their_uploads_score(
    tiny_experts, django_capture_on_commit_callbacks, tmp_path, settings
):
    from django.contrib.auth import get_user_model
    from django.core.files import File

    from challenge.publication import phase_published_truth
    from challenge.services import submission_create
    from challenge.starter_kit import EXAMPLE_PROGRAM
    from leaderboard.services.code_run import input_build

    settings.SUBMISSION_MAX_BYTES = 64 * 1024**2  # the program carries its weights
    call_command("seed_pentathlon", "--experts", str(tiny_experts))
    code, test = Phase.objects.get(slug="test-code"), Phase.objects.get(slug="test")
    assert code.is_code and code.gallery_inputs and code.ground_truth_sha256 == test.ground_truth_sha256
    # The organisers' CE: an upload of its predictions to the test phase, and the same trained models
    # (kept in the checkpoint directory) as a program on the code test phase.
    for target in ("video-pentathlon/test", "video-pentathlon/test-code"):
        with django_capture_on_commit_callbacks(execute=True):
            call_command(
                "train_baseline",
                "--model",
                "ce",
                "--phase",
                target,
                "--store-dir",
                str(tiny_experts),
                "--datasets",
                "DiDeMo",
                "MSVD",
                *[a for o in FAST for a in ("--set", o)],
            )
    upload = _finished(Submission.objects.get(team__is_baseline=True, phase=test))
    program = _finished(Submission.objects.get(team__is_baseline=True, phase=code))
    assert program.file.name.endswith(".zip") and program.program_run["ok"]
    assert upload.method_name == program.method_name
    assert set(program.result.metrics) == {"DiDeMo", "MSVD"}
    assert program.result.metrics == upload.result.metrics
    assert program.result.primary_score == upload.result.primary_score
    # The kit's example program: run as code on the code phase, and run by a participant on the test
    # phase's public inputs with its output uploaded there.
    participant = get_user_model().objects.get(username="participant")
    with django_capture_on_commit_callbacks(execute=True):
        ran = submission_create(
            user=participant,
            phase=code,
            file=File(io.BytesIO(_zip({"main.py": EXAMPLE_PROGRAM.read_bytes()})), name="example.zip"),
            method_name="example",
        )
    input_build(phase=test, truth=phase_published_truth(phase=test), dest=tmp_path / "input")
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
    with (
        django_capture_on_commit_callbacks(execute=True),
        open(tmp_path / "out" / "submission.npz", "rb") as f,
    ):
        uploaded = submission_create(
            user=participant, phase=test, file=File(f, name="submission.npz"), method_name="example"
        )
    ran, uploaded = _finished(ran), _finished(uploaded)
    assert set(ran.result.metrics) == {"MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"}
    assert ran.result.metrics == uploaded.result.metrics
    assert ran.result.primary_score == uploaded.result.primary_score


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.django_db
def test_train_baseline_needs_the_gallery_inputs_of_a_code_phase(tiny_experts):
    call_command("seed_pentathlon", "--scale", "tiny")  # synthetic truth: no features to give programs
    assert not Phase.objects.get(slug="test-code").gallery_inputs
    with pytest.raises(CommandError, match="has no gallery inputs"):
        call_command(
            "train_baseline",
            "--model",
            "ce",
            "--phase",
            "video-pentathlon/test-code",
            "--store-dir",
            str(tiny_experts),
            *[a for o in FAST for a in ("--set", o)],
        )
    assert not Submission.objects.exists()
