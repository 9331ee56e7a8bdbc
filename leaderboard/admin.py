from django.contrib import admin

from leaderboard.models import Result


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin):
    list_display = ["submission", "primary_score", "aggregation", "scorer_version", "updated_at"]
    list_filter = ["submission__phase", "scorer_version"]
    readonly_fields = ["submission", "primary_score", "aggregation", "metrics", "missing_datasets",
                       "scorer_version", "created_at", "updated_at"]
