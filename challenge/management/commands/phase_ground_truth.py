"""manage.py phase_ground_truth CHALLENGE/PHASE FILE [--annotations TABLE]: store a phase's hidden ground
truth and print the leak audit of its ids and order and the caption audit of its texts (the same service
as the admin and the API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from challenge.models import Phase
from challenge.publication import (
    phase_caption_findings,
    phase_caption_warning,
    phase_leak_findings,
    phase_query_order_warning,
)
from challenge.services import phase_ground_truth_set, phase_query_order_set, phase_query_text_set
from core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Store a phase's hidden ground truth (HDF5) and print what its ids and order would reveal."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("phase", help="CHALLENGE/PHASE slugs, e.g. video-pentathlon/test")
        parser.add_argument("file", type=Path, help="the ground-truth HDF5 (docs/design.md, file formats)")
        parser.add_argument(
            "--query-order",
            choices=[value for value, _ in Phase.QueryOrder.choices],
            help="also set how the phase publishes its queries (default: keep the phase's setting)",
        )
        parser.add_argument(
            "--annotations",
            type=Path,
            help="the public caption -> video table the captions come from (TSV or CSV with the columns"
            " caption and video_id, optionally dataset): the caption audit looks each query text up in it",
        )
        parser.add_argument(
            "--query-text",
            choices=["publish", "withhold"],
            help="also publish the queries' text in the kit or withhold it (default: keep the setting)",
        )

    def handle(
        self,
        *args: Any,
        phase: str,
        file: Path,
        query_order: str | None = None,
        annotations: Path | None = None,
        query_text: str | None = None,
        **options: Any,
    ) -> None:
        challenge_slug, _, phase_slug = phase.partition("/")
        target = (
            Phase.objects.select_related("challenge")
            .filter(challenge__slug=challenge_slug, slug=phase_slug)
            .first()
        )
        if target is None:
            raise CommandError(f"no phase {phase!r}; give CHALLENGE/PHASE slugs, e.g. video-pentathlon/test")
        for path in (file, annotations):
            if path is not None and not path.is_file():
                raise CommandError(f"no file at {path}")
        if query_order:
            phase_query_order_set(phase=target, query_order=query_order)
        if query_text:
            phase_query_text_set(phase=target, publish=query_text == "publish")
        try:
            with open(file, "rb") as handle, open(annotations or file, "rb") as table:
                target = phase_ground_truth_set(
                    phase=target, file=handle, annotations=table if annotations else None
                )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        target.refresh_from_db()
        splits = ", ".join(
            f"{s.dataset.name} {s.num_queries:,}q/{s.num_videos:,}v"
            for s in target.splits.select_related("dataset")
        )
        self.stdout.write(
            self.style.SUCCESS(f"{target}: ground truth stored ({splits}); published {target.query_order}")
        )
        findings = phase_leak_findings(phase=target)
        for finding in findings:
            self.stdout.write(f"  leak audit: {finding}")
        if not findings:
            self.stdout.write("  leak audit: the uploaded ids and order reveal no answer")
        for finding in phase_caption_findings(phase=target):
            self.stdout.write(f"  caption audit: {finding}")
        for warning in (phase_query_order_warning(phase=target), phase_caption_warning(phase=target)):
            if warning:
                self.stdout.write(self.style.WARNING(warning))
