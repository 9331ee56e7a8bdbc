from django.contrib import admin

from leaderboard.models import Result


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin):
    list_display = ["submission", "primary_score", "aggregation", "scorer_version", "updated_at"]
    list_filter = ["submission__phase", "scorer_version"]
    readonly_fields = ["submission", "primary_score", "aggregation", "metrics", "missing_datasets",
                       "scorer_version", "created_at", "updated_at"]

    def has_add_permission(self, request) -> bool:
        """Results are written by the scorer only (an admin-made one had no submission: a server error)."""
        return False
