"""challenge_bundle validate|load|export: a whole challenge as one YAML file."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from challenge.bundle import BundleError, bundle_dump, bundle_load, bundle_parse, bundle_validate
from challenge.models import Challenge


class Command(BaseCommand):
    help = "Validate, load (create or update) or export a challenge as a YAML bundle."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["validate", "load", "export"])
        parser.add_argument(
            "target", help="validate/load: the YAML file ('-' for stdin); export: the challenge slug"
        )
        parser.add_argument("-o", "--output", help="export: write here instead of stdout")

    def handle(self, *args: Any, action: str, target: str, output: str | None = None, **options: Any) -> None:
        if action == "export":
            challenge = Challenge.objects.filter(slug=target).first()
            if challenge is None:
                raise CommandError(f"No challenge with the slug {target!r}.")
            text = bundle_dump(challenge=challenge)
            if output:
                with open(output, "w", encoding="utf-8") as handle:
                    handle.write(text)
                self.stdout.write(self.style.SUCCESS(f"Exported {challenge.slug!r} to {output}."))
            else:
                self.stdout.write(text, ending="")
            return
        try:
            text = sys.stdin.read() if target == "-" else open(target, encoding="utf-8").read()
        except OSError as exc:
            raise CommandError(f"Cannot read {target}: {exc}") from exc
        try:
            data = bundle_parse(text)
            if action == "validate":
                problems = bundle_validate(data=data)
                if problems:
                    raise BundleError(problems)
                self.stdout.write(self.style.SUCCESS("The bundle is valid."))
                return
            challenge = bundle_load(data=data)
        except BundleError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {challenge.slug!r}: {challenge.datasets.count()} dataset(s), {challenge.phases.count()} phase(s)."
            )
        )
