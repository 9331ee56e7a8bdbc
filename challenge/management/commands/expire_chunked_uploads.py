"""Delete resumable uploads abandoned for PENTATHLON_UPLOAD_EXPIRES_AFTER seconds (also an hourly beat task)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from challenge.services import chunked_upload_expire


class Command(BaseCommand):
    help = (
        "Delete unfinished chunked uploads untouched for PENTATHLON_UPLOAD_EXPIRES_AFTER seconds, their partial "
        "files, and orphaned partial files in this host's PENTATHLON_UPLOAD_PARTIAL_DIR."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="SECONDS",
            help="idle time before an upload expires (default: PENTATHLON_UPLOAD_EXPIRES_AFTER)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        seconds = options["older_than"]
        if seconds is None:
            seconds = settings.UPLOAD_EXPIRES_AFTER
        if seconds < 0:
            raise CommandError("--older-than must be 0 or more seconds")
        count = chunked_upload_expire(older_than=timezone.now() - timedelta(seconds=seconds))
        self.stdout.write(f"Deleted {count} abandoned upload(s) idle for more than {seconds} s.")
