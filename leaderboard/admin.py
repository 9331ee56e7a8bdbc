from django.contrib import admin
from django.http import HttpRequest

from challenge.admin import ChallengeScopedAdmin
from leaderboard.models import Result


@admin.register(Result)
class ResultAdmin(ChallengeScopedAdmin):
    """Results of the challenges the staff user organises (superusers: all); never added by hand."""

    challenge_path = "submission__phase__challenge"
    list_display = ["submission", "primary_score", "aggregation", "scorer_version", "updated_at"]
    list_filter = [("submission__phase", admin.RelatedOnlyFieldListFilter), "scorer_version"]
    readonly_fields = [
        "submission",
        "primary_score",
        "aggregation",
        "metrics",
        "missing_datasets",
        "scorer_version",
        "intervals",
        "primary_score_low",
        "primary_score_high",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Results are written by the scorer only (an admin-made one had no submission: a server error)."""
        return False
