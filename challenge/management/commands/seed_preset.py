"""Create a challenge from a preset (`evaluation.presets`) with synthetic hidden ground truth in the
preset's shapes: the demo's second challenge, beside the Video Pentathlon.

The challenge goes through the same bundle loader organisers use (``preset:`` names the preset), and
its ground truth through the same upload service. Idempotent: running it again updates the same rows;
ground truth is replaced only when its content changes. Run `seed_pentathlon` first for the demo
accounts, or pass accounts that exist.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from challenge.bundle import BundleError, bundle_load
from challenge.management.commands.seed_pentathlon import DEMO_TEAM, ORGANISER, PARTICIPANT
from challenge.models import Phase, TeamMembership
from challenge.services import phase_ground_truth_set, team_create


def preset_bundle(key: str, *, slug: str, starts_at: str, organisers: list[str]) -> dict[str, Any]:
    """A bundle of one public validation phase for the preset `key` (the preset fills the rest)."""
    return {
        "preset": key,
        "challenge": {"slug": slug, "is_public": True},
        "phases": [
            {
                "slug": "val",
                "title": "Validation",
                "description": "Development phase on synthetic data in the benchmark's real shapes.",
                "starts_at": starts_at,
                "max_submissions_per_day": 20,
                "allowed_formats": ["zip", "npz", "h5"],
                "leaderboard_visibility": Phase.LeaderboardVisibility.PUBLIC.value,
                "query_order": Phase.QueryOrder.BLIND.value,
            }
        ],
        "organisers": organisers,
    }


class Command(BaseCommand):
    help = "Seed a challenge from a preset (datasets, a val phase, synthetic ground truth in its shapes)."

    def add_arguments(self, parser: CommandParser) -> None:
        from evaluation.presets import PRESETS

        parser.add_argument("preset", choices=sorted(PRESETS), help="The preset (evaluation.presets).")
        parser.add_argument("--slug", default=None, help="The challenge's slug (default: the preset's name).")
        parser.add_argument(
            "--scale",
            choices=["tiny", "full"],
            default="tiny",
            help="tiny: a few dozen items per dataset; full: the benchmark's real counts.",
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed of the synthetic ground truth.")

    def handle(
        self, *args: Any, preset: str, slug: str | None, scale: str, seed: int, **options: Any
    ) -> None:
        from evaluation.ground_truth import write_ground_truth
        from evaluation.synthetic import preset_ground_truth

        users = get_user_model().objects
        organisers = [ORGANISER[0]] if users.filter(username=ORGANISER[0]).exists() else []
        start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        data = preset_bundle(preset, slug=slug or preset, starts_at=start.isoformat(), organisers=organisers)
        try:
            challenge = bundle_load(data=data)
        except BundleError as exc:
            raise CommandError("; ".join(exc.problems)) from exc
        phase = challenge.phases.get(slug="val")
        truth = preset_ground_truth(preset, phase="val", scale=scale, seed=seed)
        fd, path = tempfile.mkstemp(suffix=".h5", prefix="pentathlon-preset-")
        os.close(fd)
        try:
            write_ground_truth(path, truth)
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            if digest != phase.ground_truth_sha256 or not phase.ground_truth:
                with open(path, "rb") as handle:
                    phase_ground_truth_set(phase=phase, file=handle)
                shapes = ", ".join(
                    f"{name} {d.num_queries}q/{d.num_videos} items"
                    + ("" if d.relevance is None else f", {d.relevance.nnz} relevant pairs")
                    for name, d in truth.datasets.items()
                )
                self.stdout.write(f"  {phase}: ground truth stored ({scale}): {shapes}")
            else:
                self.stdout.write(f"  {phase}: ground truth unchanged ({scale})")
        finally:
            os.unlink(path)
        participant = users.filter(username=PARTICIPANT[0]).first()
        if (
            participant is not None
            and not TeamMembership.objects.filter(challenge=challenge, user=participant).exists()
        ):
            team_create(challenge=challenge, user=participant, name=DEMO_TEAM)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {challenge.title!r} from the preset {preset!r} ({scale} scale), ranked by"
                f" {challenge.primary_metric}."
            )
        )
