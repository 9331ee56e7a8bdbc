"""Create the "Video Pentathlon" challenge with synthetic hidden ground truth and demo accounts.

Idempotent: running it again updates the same rows; ground truth is replaced only when its
content (the scale) changes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from challenge.models import Phase, TeamMembership
from challenge.publication import phase_caption_warning
from challenge.services import (
    challenge_upsert,
    phase_caption_audit_set,
    phase_ground_truth_set,
    phase_upsert,
    team_create,
    user_create,
)

CHALLENGE_SLUG = "video-pentathlon"
DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")
ORGANISER = ("organiser", "pentathlon-organiser")
PARTICIPANT = ("participant", "pentathlon-participant")
DEMO_TEAM = "Demo team"

DESCRIPTION = """Text-to-video retrieval across five datasets: MSRVTT, MSVD, DiDeMo, YouCook2 and ActivityNet.
For every dataset of a phase, rank the phase's videos for each of its queries (and the queries for each video).
Submit a similarity matrix, a pair of embedding matrices or top-k rank lists per dataset."""

RULES = """1. One team per participant; teams form with an invite code.
2. The validation phase is open for development; the test phase allows three submissions per team in total.
3. Failed submissions do not count towards a quota.
4. Per-dataset score: the text-to-video geometric mean of R@1, R@5 and R@10. Overall score: the mean over the five datasets;
   a submission that misses a dataset gets per-dataset results but no overall score.
5. Test results are published by the organisers after the phase ends; choose your final submission before then.
6. Do not try to obtain the hidden ground truth; entries that use it are removed."""


#: The split whose ground truth a phase holds, where its slug is not the split's name.
SPLIT_OF = {"test-code": "test"}


def _truth_from_store(store_dir: Path, *, phase: str) -> Any:
    """The phase's ground truth from the expert stores' split named like the phase."""
    from baselines.store import split_truth, store_path
    from evaluation.ground_truth import GroundTruth

    missing = [name for name in DATASETS if not store_path(store_dir, name).is_file()]
    if missing:
        raise CommandError(
            f"no expert store for {', '.join(missing)} in {store_dir}; generate them with"
            f" `python -m baselines synth --out {store_dir}`"
        )
    return GroundTruth(
        challenge="Video Pentathlon",
        phase=phase,
        datasets={name: split_truth(store_path(store_dir, name), phase) for name in DATASETS},
    )


def _store_annotations(store_dir: Path) -> Any:
    """Every caption of the stores with its video: the public annotations the stores' captions stand for
    (a converted store holds the release's raw captions), for the caption audit."""
    from itertools import chain

    from baselines.store import store_annotations, store_path

    return chain.from_iterable(store_annotations(store_path(store_dir, name)) for name in DATASETS)


def _store_gallery_inputs(phase: Phase, *, truth: Any, store_dir: Path, split: str) -> str:
    """A code phase's gallery inputs from the expert stores (`baselines.code_program`): the split's expert
    features and its queries' word features in the published order, for the encoders and experts the
    organisers' CE baseline reads (what `train_baseline` packages for the phase). Returns a summary line."""
    from baselines.code_program import write_phase_inputs
    from baselines.config import load_config
    from challenge.publication import phase_published_truth, published_source_query_ids
    from challenge.services.code import phase_gallery_inputs_set

    configs = {name: load_config(name, "ce", profile="demo") for name in truth.datasets}
    encoders = sorted({c["data"]["text_encoder"] for c in configs.values()})
    experts = {name: sorted(c["data"]["experts"]) for name, c in configs.items()}
    published = phase_published_truth(phase=phase)
    with tempfile.TemporaryDirectory(prefix="pentathlon-gallery-") as work:
        path = write_phase_inputs(
            Path(work) / "gallery.zip",
            store_dir=store_dir,
            split=split,
            query_captions=published_source_query_ids(phase=phase, truth=truth),
            query_ids={name: list(d.query_ids) for name, d in published.datasets.items()},
            encoders=encoders,
            experts=experts,
        )
        size = path.stat().st_size
        with open(path, "rb") as handle:
            phase_gallery_inputs_set(phase=phase, file=File(handle, name="gallery.zip"))
    return f"gallery inputs stored ({size / 1024**2:.1f} MiB: {', '.join(encoders)} word features and the CE baseline's experts)"


class Command(BaseCommand):
    help = "Seed the Video Pentathlon challenge (datasets, val and test phases, synthetic ground truth, demo users)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            choices=["tiny", "full"],
            default="tiny",
            help="tiny: a few queries per dataset (fast); full: the 2020 challenge's real counts.",
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed of the synthetic ground truth.")
        parser.add_argument(
            "--experts",
            type=Path,
            default=None,
            help="Expert-store directory (<Dataset>.h5): take each phase's ground truth from the"
            " store's split of the same name, so baselines trained on it can be submitted; the stores'"
            " captions are the public annotations of the caption audit.",
        )

    def handle(self, *args: Any, scale: str, seed: int, experts: Path | None = None, **options: Any) -> None:
        from evaluation.synthetic import pentathlon_ground_truth

        start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        user_model = get_user_model()
        challenge, phases = _challenge_and_phases(start)
        label = f"expert store {experts}" if experts is not None else scale
        for slug, phase in phases.items():
            split = SPLIT_OF.get(slug, slug)
            if experts is not None:
                truth = _truth_from_store(experts, phase=split)
            else:
                # Uploaded as organisers have it (ids naming videos, grouped by video): the blind
                # phase, not the file, keeps the answers hidden.
                truth = pentathlon_ground_truth(phase=split, scale=scale, seed=seed)
            self._seed_ground_truth(phase, truth, label=label, experts=experts, split=split)
        with transaction.atomic():
            participant = user_model.objects.get(username=PARTICIPANT[0])
            if not TeamMembership.objects.filter(challenge=challenge, user=participant).exists():
                team_create(challenge=challenge, user=participant, name=DEMO_TEAM)
        self.stdout.write(self.style.SUCCESS(f"Seeded {challenge.title!r} ({label} scale)."))
        self.stdout.write(
            f"  organiser login:   {ORGANISER[0]} / {ORGANISER[1]}  (organises {challenge.slug!r}; "
            f"tools at /organiser/c/{challenge.slug}/, admin at /admin/)"
        )
        self.stdout.write(f"  participant login: {PARTICIPANT[0]} / {PARTICIPANT[1]}  (team {DEMO_TEAM!r})")

    def _seed_ground_truth(
        self, phase: Phase, truth: Any, *, label: str, experts: Path | None, split: str
    ) -> None:
        """Store the phase's ground truth when it changed, with its audit and, for a code phase built
        from an expert store, the gallery inputs; print what was done."""
        from evaluation.ground_truth import write_ground_truth

        fd, path = tempfile.mkstemp(suffix=".h5", prefix="pentathlon-seed-")
        os.close(fd)
        try:
            write_ground_truth(path, truth)
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            stored = digest != phase.ground_truth_sha256 or not phase.ground_truth
            if stored:
                rows = _store_annotations(experts) if experts is not None else None
                with open(path, "rb") as handle:
                    phase_ground_truth_set(phase=phase, file=handle, annotation_rows=rows)
                self.stdout.write(
                    f"  {phase}: ground truth stored ({label}): "
                    + ", ".join(
                        f"{name} {d.num_queries}q/{d.num_videos}v" for name, d in truth.datasets.items()
                    )
                )
                phase.refresh_from_db()
                telling = [name for name, audit in phase.ground_truth_audit.items() if audit["leaks"]]
                self.stdout.write(
                    f"  {phase}: published {phase.query_order}"
                    + (f"; the uploaded ids and order would reveal {', '.join(telling)}" if telling else "")
                )
            else:
                self.stdout.write(f"  {phase}: ground truth unchanged ({label})")
                if experts is not None:
                    phase_caption_audit_set(phase=phase, rows=_store_annotations(experts))
            phase.refresh_from_db()
            if experts is not None and phase.is_code and (stored or not phase.gallery_inputs):
                self.stdout.write(
                    f"  {phase}: " + _store_gallery_inputs(phase, truth=truth, store_dir=experts, split=split)
                )
            warning = phase_caption_warning(phase=phase)
            if warning:
                self.stdout.write(f"  {phase}: {warning}")
        finally:
            os.unlink(path)


#: The seeded phases (validation, test, test as code), as `phase_upsert` takes them, less the dates.
PHASES: dict[str, dict[str, Any]] = {
    "val": {
        "title": "Validation",
        "max_submissions_per_day": 20,
        "max_submissions_total": None,
        "allowed_formats": ["zip", "npz", "h5"],
        "description": "Development phase on the validation splits; results are public.",
        "leaderboard_visibility": Phase.LeaderboardVisibility.PUBLIC,
    },
    "test": {
        "title": "Test",
        "max_submissions_per_day": None,
        "max_submissions_total": 3,
        "allowed_formats": ["zip", "npz", "h5"],
        "description": "Final phase on the test splits; three submissions per team, "
        "results hidden until the organisers publish them.",
        "leaderboard_visibility": Phase.LeaderboardVisibility.HIDDEN,
    },
    # The test split again, as a code phase: its queries never leave the server
    # (docs/code-phases.md); the kit's main.py is a runnable example.
    "test-code": {
        "title": "Test (code)",
        "max_submissions_per_day": None,
        "max_submissions_total": 5,
        "description": "The test splits as a code phase: upload a .zip holding main.py; the server "
        "runs it on the hidden queries and scores its output. Five runs per team; failures count.",
        "leaderboard_visibility": Phase.LeaderboardVisibility.HIDDEN,
        "submission_kind": Phase.SubmissionKind.CODE,
        "code": {
            "code_wall_limit_s": 600,
            "code_memory_limit_mb": 8192,
            "code_cpus": 2,
            "code_output_limit_mb": 2048,
            "code_show_output": False,
            "code_failures_count": True,
        },
    },
}


def _challenge_and_phases(start: datetime) -> tuple[Any, dict[str, Phase]]:
    """The demo accounts, the challenge and its phases (PHASES, in that order), as seeded."""
    user_model = get_user_model()
    with transaction.atomic():
        # The demo organiser is a staff account (it reaches the admin) that organises this challenge
        # only; it is not a superuser, so it shows what a per-challenge organiser sees.
        for (username, password), staff in ((ORGANISER, True), (PARTICIPANT, False)):
            if not user_model.objects.filter(username=username).exists():
                user_create(username=username, password=password, is_staff=staff, is_superuser=False)
        organiser = user_model.objects.get(username=ORGANISER[0])
        challenge = challenge_upsert(
            slug=CHALLENGE_SLUG,
            title="Video Pentathlon",
            summary="The CVPR 2020 Video Pentathlon: text-to-video retrieval on five datasets.",
            description=DESCRIPTION,
            rules=RULES,
            datasets=DATASETS,
            organisers=[organiser],
        )
        phases = {
            slug: phase_upsert(
                challenge=challenge,
                slug=slug,
                order=order,
                starts_at=start,
                ends_at=None,
                query_order=Phase.QueryOrder.BLIND,
                **spec,
            )
            for order, (slug, spec) in enumerate(PHASES.items())
        }
    return challenge, phases
