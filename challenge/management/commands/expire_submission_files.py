"""Delete the stored files of failed and cancelled submissions past the retention period (also a beat task)."""

from typing import Any

from django.core.management.base import BaseCommand

from challenge.services import submission_files_expire_now


class Command(BaseCommand):
    help = (
        "Delete the stored files of failed and cancelled submissions that ended more than "
        "PENTATHLON_FAILED_FILE_RETENTION_DAYS ago (the rows stay)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        files, freed = submission_files_expire_now()
        self.stdout.write(f"Deleted {files} stored file(s), {freed:,} bytes.")
