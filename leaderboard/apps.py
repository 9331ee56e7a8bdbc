from typing import Any

from django.apps import AppConfig


def _result_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    from challenge.services.boards import submission_boards_changed

    submission_boards_changed(submission_ids=[instance.submission_id])


class LeaderboardConfig(AppConfig):
    name = "leaderboard"
    verbose_name = "Leaderboard"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from leaderboard.models import Result

        # A result edited or deleted outside the services (the admin) changes its phase's boards.
        post_save.connect(_result_changed, sender=Result, dispatch_uid="boards-save-result")
        post_delete.connect(_result_changed, sender=Result, dispatch_uid="boards-delete-result")
