"""The console's submissions: read-only where the state machine owns the field (status, progress)."""

from __future__ import annotations

from django.contrib import admin
from django.db import models

from challenge.admin.scope import ChallengeScopedAdmin
from challenge.models import Submission


@admin.register(Submission)
class SubmissionAdmin(ChallengeScopedAdmin):
    challenge_path = "phase__challenge"
    list_display = [
        "id",
        "team",
        "phase",
        "method_name",
        "status",
        "is_public",
        "is_baseline",
        "is_final",
        "moderation",
        "quota_refunded",
        "created_at",
    ]
    list_filter = [
        ("phase", admin.RelatedOnlyFieldListFilter),
        "status",
        "is_public",
        "is_baseline",
        "moderation",
        "quota_refunded",
    ]
    search_fields = ["method_name", "team__name"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = [
        "stored_file",
        "original_filename",
        "file_format",
        "file_size",
        "checksum_sha256",
        "status",
        "progress",
        "error_message",
        "attempts",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
        "updated_at",
        "created_by",
    ]
    exclude = ["file"]

    @admin.display(description="stored file (private, never served)")
    def stored_file(self, submission: Submission) -> str | None:
        return submission.file.name
