"""The organisers' console. Ground-truth uploads and re-scoring go through the services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from challenge.exceptions import ApplicationError
from challenge.models import Challenge, Dataset, Phase, Split, Submission, Team, TeamMembership
from challenge.services import (
    ground_truth_check,
    phase_ground_truth_set,
    phase_publish_results,
    phase_rescore,
)


class DatasetInline(admin.TabularInline):
    model = Dataset
    extra = 0


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "is_public", "primary_metric", "teams_need_approval", "created_at"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [DatasetInline]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "challenge", "order"]
    list_filter = ["challenge"]


class PhaseAdminForm(forms.ModelForm):
    ground_truth_upload = forms.FileField(
        required=False, label="Ground-truth HDF5",
        help_text="One file per phase, one group per dataset (videos, query_ids, query_video[, query_masks]). "
                  "It is validated, stored privately and never served to participants.")

    class Meta:
        model = Phase
        fields = ["challenge", "slug", "title", "description", "order", "starts_at", "ends_at",
                  "max_submissions_per_day", "max_submissions_total", "allowed_formats", "aggregation",
                  "leaderboard_visibility"]

    def clean(self) -> dict:
        cleaned = super().clean()
        upload = cleaned.get("ground_truth_upload")
        challenge = cleaned.get("challenge") or getattr(self.instance, "challenge", None)
        if upload and challenge is not None:
            try:
                ground_truth_check(challenge=challenge, file=upload)
            except ValidationError as exc:
                self.add_error("ground_truth_upload", exc)
            except ApplicationError as exc:
                self.add_error("ground_truth_upload", exc.message)
        return cleaned


class SplitInline(admin.TabularInline):
    model = Split
    extra = 0
    can_delete = False
    readonly_fields = ["dataset", "num_queries", "num_videos", "captions_per_video"]

    def has_add_permission(self, request: HttpRequest, obj: Phase | None = None) -> bool:
        return False


@admin.register(Phase)
class PhaseAdmin(admin.ModelAdmin):
    form = PhaseAdminForm
    list_display = ["__str__", "title", "starts_at", "ends_at", "max_submissions_per_day", "max_submissions_total",
                    "aggregation", "leaderboard_visibility", "has_ground_truth"]
    list_filter = ["challenge", "leaderboard_visibility"]
    readonly_fields = ["ground_truth_file", "ground_truth_sha256", "ground_truth_uploaded_at"]
    inlines = [SplitInline]
    actions = ["rescore", "publish_results", "hide_results"]

    @admin.display(description="stored ground truth (private, never served)")
    def ground_truth_file(self, phase: Phase) -> str:
        return phase.ground_truth.name or "none yet"

    @admin.display(boolean=True, description="ground truth")
    def has_ground_truth(self, phase: Phase) -> bool:
        return bool(phase.ground_truth)

    def save_model(self, request: HttpRequest, obj: Phase, form: PhaseAdminForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        upload = form.cleaned_data.get("ground_truth_upload")
        if upload:
            phase_ground_truth_set(phase=obj, file=upload)
            messages.success(request, f"Ground truth stored for {obj}: "
                                      f"{', '.join(s.dataset.name for s in obj.splits.select_related('dataset'))}.")

    @admin.action(description="Re-score every finished or failed submission of the selected phases")
    def rescore(self, request: HttpRequest, queryset: QuerySet[Phase]) -> None:
        total = sum(phase_rescore(phase=phase) for phase in queryset)
        self.message_user(request, f"{total} submission(s) queued for re-scoring.", messages.SUCCESS)

    @admin.action(description="Publish the results of the selected phases")
    def publish_results(self, request: HttpRequest, queryset: QuerySet[Phase]) -> None:
        for phase in queryset:
            phase_publish_results(phase=phase, published=True)
        self.message_user(request, "Results published.", messages.SUCCESS)

    @admin.action(description="Hide the results of the selected phases")
    def hide_results(self, request: HttpRequest, queryset: QuerySet[Phase]) -> None:
        for phase in queryset:
            phase_publish_results(phase=phase, published=False)
        self.message_user(request, "Results hidden.", messages.SUCCESS)


@admin.register(Split)
class SplitAdmin(admin.ModelAdmin):
    list_display = ["phase", "dataset", "num_queries", "num_videos", "captions_per_video"]
    list_filter = ["phase__challenge"]
    readonly_fields = ["phase", "dataset", "num_queries", "num_videos", "captions_per_video"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    fields = ["user", "role", "challenge", "joined_at"]
    readonly_fields = ["joined_at"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "challenge", "is_baseline", "is_approved", "invite_code", "created_at"]
    list_filter = ["challenge", "is_baseline", "is_approved"]
    actions = ["approve"]

    @admin.action(description="Approve the selected teams (they may then submit)")
    def approve(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        from challenge.organiser import team_approve

        teams = list(queryset)
        for team in teams:
            team_approve(team=team, approved=True)
        self.message_user(request, f"{len(teams)} team(s) approved.", messages.SUCCESS)
    search_fields = ["name", "memberships__user__username"]
    readonly_fields = ["invite_code"]
    inlines = [MembershipInline]


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "phase", "method_name", "status", "is_public", "is_baseline", "is_final",
                    "moderation", "quota_refunded", "created_at"]
    list_filter = ["phase", "status", "is_public", "is_baseline", "moderation", "quota_refunded"]
    search_fields = ["method_name", "team__name"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ["stored_file", "original_filename", "file_format", "file_size", "checksum_sha256", "status",
                       "progress", "error_message", "attempts", "created_at", "queued_at", "started_at",
                       "finished_at", "updated_at", "created_by"]
    exclude = ["file"]

    @admin.display(description="stored file (private, never served)")
    def stored_file(self, submission: Submission) -> str:
        return submission.file.name
