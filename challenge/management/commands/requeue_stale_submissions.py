"""Re-send evaluations that a dead worker or a lost broker message left behind (also a beat task)."""

from typing import Any

from django.core.management.base import BaseCommand

from challenge.services import submission_requeue_stale_now


class Command(BaseCommand):
    help = (
        "Re-send the evaluation of QUEUED rows waiting too long and RUNNING rows older than the hard limit."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        ids = submission_requeue_stale_now()
        self.stdout.write(
            f"Re-sent {len(ids)} submission(s){': ' + ', '.join(map(str, ids)) if ids else ''}."
        )
