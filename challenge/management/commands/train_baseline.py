"""Train a reference model on the challenge's expert store and submit it like any participant.

    python manage.py train_baseline --model ce|moee|teachtext|crosskd|teachtext_crosskd --phase video-pentathlon/val [--datasets ...]

The model trains on the store's train split, selects its epoch on the store's validation split,
predicts the phase's queries in the phase's published order (read from its ground truth) and
writes an `.npz` similarity submission. That file goes through `submission_create` for the
challenge's baseline team, so the workers score it exactly as they score a participant's.

The submitted model is kept in the checkpoint directory with its model card (`<checkpoint>.card.json`:
config, data, seed, commit, selection scores), and the same run (config, seed, store) is loaded from
there instead of trained again: TeachText's openai teacher is the CE baseline trained before it (a
teacher trained on the way is not kept), and one baseline can be submitted to the val and the test
phase. `--retrain`
trains anew.

On a code phase the trained models are submitted as a program instead (`baselines.code_program`: main.py,
the model code and one checkpoint per dataset), which the worker runs in the sandbox on the phase's
gallery inputs; it writes the same matrices the upload would hold.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.utils import get_random_secret_key
from django.db import transaction

from challenge.models import Phase, Submission, Team, TeamMembership
from challenge.publication import published_source_query_ids
from challenge.services import challenge_organisers_add, submission_create, team_create, user_create
from core.exceptions import ApplicationError

if TYPE_CHECKING:
    from evaluation.ground_truth import GroundTruth

BASELINE_TEAM = "Organisers' baselines"
BASELINE_USER = "baselines"
NO_GALLERY_INPUTS = (
    "the code phase {phase!r} has no gallery inputs, which the packaged baseline reads its features from;"
    " seed it with `seed_pentathlon --experts` or upload them on the phase's admin page"
)
MODELS = ("ce", "moee", "teachtext", "crosskd", "teachtext_crosskd")  # baselines.config.MODELS (lazy import)


def _phase(reference: str) -> Phase:
    query = Phase.objects.select_related("challenge")
    if reference.isdigit():
        query = query.filter(id=int(reference))
    else:
        challenge_slug, _, phase_slug = reference.partition("/")
        query = query.filter(challenge__slug=challenge_slug, slug=phase_slug)
    phase: Phase | None = query.first()
    if phase is None:
        raise CommandError(f"no phase {reference!r}; expected an id or CHALLENGE_SLUG/PHASE_SLUG")
    if not phase.ground_truth:
        raise CommandError(f"phase {reference!r} has no ground truth yet; upload it first")
    return phase


def _phase_query_order(phase: Phase, truth: GroundTruth, names: list[str]) -> dict[str, list[str]]:
    """Dataset -> the store's caption ids in the order the phase publishes its rows: a baseline's
    submission follows the published (blind) order like any participant's. Only the organisers'
    own tools know which caption each published row is (`published_source_query_ids`)."""
    published = published_source_query_ids(phase=phase, truth=truth)
    return {n: published[n] for n in names}


@transaction.atomic
def _baseline_account(phase: Phase) -> tuple[User, Team]:
    """The challenge's baseline team and its bot account (no usable password; an organiser, so a
    baseline can be submitted before a phase opens)."""
    user_model = get_user_model()
    user: User | None = user_model.objects.filter(username=BASELINE_USER).first()
    if user is None:
        user = user_create(username=BASELINE_USER, password=get_random_secret_key())
        user.set_unusable_password()
        user.save(update_fields=["password"])
    challenge_organisers_add(challenge=phase.challenge, users=[user])
    membership = (
        TeamMembership.objects.filter(challenge=phase.challenge, user=user).select_related("team").first()
    )
    if membership is not None:
        if not membership.team.is_baseline:
            raise CommandError(f"account {BASELINE_USER!r} is in a non-baseline team of this challenge")
        return user, membership.team
    team = Team.objects.filter(challenge=phase.challenge, name=BASELINE_TEAM).first()
    if team is not None:
        raise CommandError(f"team {BASELINE_TEAM!r} exists without the {BASELINE_USER!r} account")
    return user, team_create(challenge=phase.challenge, user=user, name=BASELINE_TEAM, is_baseline=True)


class Command(BaseCommand):
    help = (
        "Train a baseline (CE, MoEE, TeachText, cross-modal KD) on the expert store and submit it to a phase."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, choices=MODELS)
        parser.add_argument("--phase", required=True, help="phase id or CHALLENGE_SLUG/PHASE_SLUG")
        parser.add_argument(
            "--datasets", nargs="*", help="default: every dataset of the phase's ground truth"
        )
        parser.add_argument(
            "--store-dir",
            type=Path,
            default=None,
            help="directory of <Dataset>.h5 expert stores (default: PENTATHLON_EXPERT_STORE_DIR)",
        )
        parser.add_argument(
            "--split", default=None, help="the store split the phase evaluates (default: its slug)"
        )
        parser.add_argument(
            "--profile",
            default="cpu",
            help="config profile: 'challenge' is the CVPR 2020 challenge baseline (i3d + SENet-154, full"
            " size, the reference epochs); 'cpu' and 'demo' are reduced and train in minutes; '' for the"
            " dataset configs at full size. The submission's method name says which was trained.",
        )
        parser.add_argument(
            "--set",
            action="append",
            dest="overrides",
            metavar="KEY=VALUE",
            help="config override, e.g. train.epochs=5 (repeatable)",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--device", default="cpu", help="cpu or cuda")
        parser.add_argument(
            "--checkpoint-dir",
            type=Path,
            default=None,
            help="where trained models are kept and reused (default: PENTATHLON_BASELINE_CHECKPOINT_DIR)",
        )
        parser.add_argument(
            "--retrain", action="store_true", help="train even when the checkpoint directory has the run"
        )

    def handle(
        self,
        *args: Any,
        model: str,
        phase: str,
        datasets: list[str] | None,
        store_dir: Path | None,
        split: str | None,
        profile: str,
        seed: int,
        device: str,
        overrides: list[str] | None = None,
        checkpoint_dir: Path | None = None,
        retrain: bool = False,
        **options: Any,
    ) -> None:
        from baselines.config import parse_overrides
        from baselines.pipeline import baseline_label
        from evaluation.ground_truth import read_ground_truth

        try:
            config_overrides = parse_overrides(overrides)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        target = _phase(phase)
        store_dir = Path(store_dir or settings.PENTATHLON_EXPERT_STORE_DIR)
        if not store_dir.is_dir():
            raise CommandError(
                f"no expert store at {store_dir}; generate one with"
                f" `python -m baselines synth --out {store_dir}` or convert the real features"
            )
        with tempfile.TemporaryDirectory(prefix="pentathlon-baseline-") as work:
            truth_path = Path(work) / "truth.h5"
            with target.ground_truth.open("rb") as source, open(truth_path, "wb") as copy:
                shutil.copyfileobj(source, copy)
            truth = read_ground_truth(truth_path)
            names = datasets or list(truth.datasets)
            unknown = [n for n in names if n not in truth.datasets]
            if unknown:
                raise CommandError(f"datasets {unknown} are not in the phase; it has {list(truth.datasets)}")
            common: dict[str, Any] = {
                "store_dir": store_dir,
                "model": model,
                "datasets": names,
                "seed": seed,
                "device": device,
                "profile": profile or None,
                "config_overrides": config_overrides,
                "checkpoint_dir": checkpoint_dir or settings.PENTATHLON_BASELINE_CHECKPOINT_DIR,
                "reuse": not retrain,
            }
            out = self._train(target=target, truth=truth, work=Path(work), split=split, common=common)
            label = baseline_label(
                model=model,
                datasets=names,
                profile=profile or None,
                seed=seed,
                config_overrides=config_overrides,
            )
            submission, team = _submit(target, out, label)
        self.stdout.write(
            self.style.SUCCESS(
                f"submitted {submission.method_name} as submission {submission.id} of team {team.name!r};"
                " the workers score it like any other"
            )
        )

    def _train(
        self, *, target: Phase, truth: Any, work: Path, split: str | None, common: dict[str, Any]
    ) -> Path:
        """Train the model and write what the phase takes: a program for a code phase, else a similarity
        file in the phase's query order."""
        from baselines.pipeline import train_and_write_program, train_and_write_submission

        model, names, store_dir = common["model"], common["datasets"], common["store_dir"]
        stem = f"{target.challenge.slug}-{target.slug}-{model}-seed{common['seed']}"
        if target.is_code:
            # The program comes to the data: the trained model packaged with its code, run by the
            # worker on the phase's gallery inputs (seed_pentathlon --experts writes them).
            if not target.gallery_inputs:
                raise CommandError(NO_GALLERY_INPUTS.format(phase=f"{target.challenge.slug}/{target.slug}"))
            out = work / f"{stem}.zip"
            self.stdout.write(f"training {model} on {', '.join(names)} (store {store_dir}), as a program")
            train_and_write_program(out_path=out, **common)
            return out
        out = work / f"{stem}.npz"
        self.stdout.write(
            f"training {model} on {', '.join(names)} (store {store_dir}, split {split or target.slug})"
        )
        train_and_write_submission(
            split=split or target.slug,
            out_path=out,
            query_order=_phase_query_order(target, truth, names),
            **common,
        )
        return out


def _submit(target: Phase, out: Path, label: Any) -> tuple[Submission, Team]:
    """Submit the file as the baseline team, like any participant's upload."""
    user, team = _baseline_account(target)
    try:
        with open(out, "rb") as handle:
            submission = submission_create(
                user=user,
                phase=target,
                file=File(handle, name=out.name),
                filename=out.name,
                method_name=label.method_name,
                description=label.description,
                is_public=True,
            )
    except ApplicationError as exc:
        raise CommandError(str(exc)) from exc
    return submission, team
