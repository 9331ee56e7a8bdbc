"""The organisers' console. Ground-truth uploads and re-scoring go through the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest

from challenge.exceptions import ApplicationError
from challenge.models import (
    Challenge,
    Dataset,
    Phase,
    Split,
    Submission,
    SubmissionFormat,
    Team,
    TeamMembership,
)
from challenge.publication import phase_leak_findings, phase_query_order_warning
from challenge.selectors import challenge_is_organiser, challenge_organised_list, team_storage_annotate
from challenge.services import (
    ground_truth_check,
    phase_ground_truth_set,
    phase_publish_results,
    phase_rescore,
)
from challenge.services.dispatch import intervals_refresh_on_commit

# --- per-challenge scope -------------------------------------------------------------------------------
#
# Staff status opens the admin; what a staff user sees in it is the challenges it organises (and
# their phases, datasets, splits, teams, submissions and results). Superusers see everything. The
# rights come from `Challenge.organisers` through `challenge_is_organiser`, not from Django's model
# permissions, so making someone an organiser of a challenge is the one step that grants them its
# console. Objects of other challenges answer 404, list filters offer only objects in scope, and
# foreign-key choices are limited to the user's challenges.

#: Lookup path from each scoped model to its challenge ("" for Challenge itself).
CHALLENGE_PATHS: dict[type[models.Model], str] = {
    Challenge: "",
    Dataset: "challenge",
    Phase: "challenge",
    Split: "phase__challenge",
    Team: "challenge",
    TeamMembership: "challenge",
    Submission: "phase__challenge",
}


def organiser_scope(queryset: QuerySet, *, path: str, user: Any) -> QuerySet:
    """The rows of `queryset` that belong to challenges the user organises (all of them for a superuser)."""
    if user.is_active and user.is_superuser:
        return queryset
    organised = challenge_organised_list(user=user).values("id")
    return queryset.filter(**{f"{path}__in" if path else "id__in": organised})


def challenge_id_of(obj: models.Model, path: str) -> int:
    """The id of the challenge an object belongs to, following `path` (e.g. "phase__challenge")."""
    if not path:
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
    return getattr(obj, f"{last}_id")


class ChallengeScopedAdmin(admin.ModelAdmin):
    """A model admin limited to the challenges the staff user organises (superusers: all)."""

    #: Lookup path from the model to its Challenge; "" for Challenge itself.
    challenge_path = "challenge"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return organiser_scope(super().get_queryset(request), path=self.challenge_path, user=request.user)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """Out of scope (or missing) is a 404 for organisers: the object may belong to a challenge they do
        not run, and the admin's "does not exist" redirect would look like success."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None and not request.user.is_superuser:
            raise Http404("No such object among the challenges you organise.")
        return obj

    def _organises_any(self, request: HttpRequest) -> bool:
        cache = "_pentathlon_organises_any"
        if not hasattr(request, cache):
            setattr(request, cache, challenge_organised_list(user=request.user).exists())
        return getattr(request, cache)

    def _may(self, request: HttpRequest, obj: models.Model | None) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        if user.is_superuser:
            return True
        if obj is None:
            return self._organises_any(request)
        return challenge_is_organiser(user=user, challenge=challenge_id_of(obj, self.challenge_path))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request, None)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may(request, None)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        path = CHALLENGE_PATHS.get(db_field.related_model)
        if path is not None and "queryset" not in kwargs:
            kwargs["queryset"] = organiser_scope(
                db_field.related_model._default_manager.all(), path=path, user=request.user
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ChallengeScopedInline:
    """Inline rows follow the parent object's scope (the parent admin already checked the user)."""

    challenge_path = "challenge"  # from the *parent* object to its challenge

    def _may_parent(self, request: HttpRequest, obj: models.Model | None) -> bool:
        user = request.user
        if user.is_active and user.is_superuser:
            return True
        if obj is None:
            return bool(user.is_active and user.is_staff)  # an add form: the parent admin decided
        return challenge_is_organiser(user=user, challenge=challenge_id_of(obj, self.challenge_path))

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_parent(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_parent(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_parent(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_parent(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        path = CHALLENGE_PATHS.get(db_field.related_model)
        if path is not None and "queryset" not in kwargs:
            kwargs["queryset"] = organiser_scope(
                db_field.related_model._default_manager.all(), path=path, user=request.user
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class DatasetInline(ChallengeScopedInline, admin.TabularInline):
    model = Dataset
    extra = 0
    challenge_path = ""  # the parent is the challenge


@admin.register(Challenge)
class ChallengeAdmin(ChallengeScopedAdmin):
    """Any staff user may create a challenge (and becomes its organiser); only organisers see or change one."""

    challenge_path = ""
    list_display = ["title", "slug", "is_public", "primary_metric", "teams_need_approval", "created_at"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["organisers"]
    inlines = [DatasetInline]

    def _may(self, request: HttpRequest, obj: models.Model | None) -> bool:
        if obj is None:
            return bool(request.user.is_active and request.user.is_staff)
        return super()._may(request, obj)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "organisers" and not request.user.is_superuser:
            # Organisers pick co-organisers among staff accounts; the current ones stay listed.
            mine = challenge_organised_list(user=request.user).values("id")
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(Q(is_staff=True, is_active=True) | Q(organised_challenges__in=mine))
                .distinct()
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if not change:  # the creator organises the new challenge (after the form's M2M is saved)
            form.instance.organisers.add(request.user)


@admin.register(Dataset)
class DatasetAdmin(ChallengeScopedAdmin):
    list_display = ["name", "challenge", "order"]
    list_filter = [("challenge", admin.RelatedOnlyFieldListFilter)]


class PhaseAdminForm(forms.ModelForm):
    # Tick boxes instead of a raw JSON list; none ticked = every format.
    allowed_formats = forms.MultipleChoiceField(
        choices=[(choice.value, f".{choice.value}") for choice in SubmissionFormat],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Accepted formats",
        help_text="Leave all unticked to accept every format.",
    )
    ground_truth_upload = forms.FileField(
        required=False,
        label="Ground-truth HDF5",
        help_text="One file per phase, one group per dataset (videos, query_ids, query_video[, query_masks][, query_text]). "
        "It is validated, stored privately and never served to participants.",
    )

    class Meta:
        model = Phase
        fields = [
            "challenge",
            "slug",
            "title",
            "description",
            "order",
            "starts_at",
            "ends_at",
            "max_submissions_per_day",
            "max_submissions_total",
            "allowed_formats",
            "aggregation",
            "leaderboard_visibility",
            "final_submission",
            "query_order",
            "intervals_enabled",
            "interval_level",
        ]
        widgets = {"final_submission": forms.RadioSelect}

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


class SplitInline(ChallengeScopedInline, admin.TabularInline):
    model = Split
    extra = 0
    can_delete = False
    readonly_fields = ["dataset", "num_queries", "num_videos", "captions_per_video"]

    def has_add_permission(self, request: HttpRequest, obj: Phase | None = None) -> bool:
        return False


@admin.register(Phase)
class PhaseAdmin(ChallengeScopedAdmin):
    form = PhaseAdminForm
    list_display = [
        "__str__",
        "title",
        "starts_at",
        "ends_at",
        "max_submissions_per_day",
        "max_submissions_total",
        "aggregation",
        "leaderboard_visibility",
        "query_order",
        "has_ground_truth",
    ]
    list_filter = [("challenge", admin.RelatedOnlyFieldListFilter), "leaderboard_visibility"]
    readonly_fields = [
        "ground_truth_file",
        "ground_truth_sha256",
        "ground_truth_uploaded_at",
        "ground_truth_leak_audit",
    ]
    inlines = [SplitInline]
    actions = ["rescore", "publish_results", "hide_results"]

    @admin.display(description="stored ground truth (private, never served)")
    def ground_truth_file(self, phase: Phase) -> str:
        return phase.ground_truth.name or "none yet"

    @admin.display(boolean=True, description="ground truth")
    def has_ground_truth(self, phase: Phase) -> bool:
        return bool(phase.ground_truth)

    @admin.display(description="leak audit of the uploaded ids and order")
    def ground_truth_leak_audit(self, phase: Phase) -> str:
        if not phase.ground_truth_audit:
            return "no ground truth audited yet"
        findings = phase_leak_findings(phase=phase)
        if not findings:
            return "the uploaded ids and order reveal no answer"
        shown = "published blind, so none of this is visible" if phase.is_blind else "PUBLISHED AS UPLOADED"
        return f"{'; '.join(findings)} ({shown})"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        phase = self.get_object(request, object_id)
        warning = phase_query_order_warning(phase=phase) if phase is not None else None
        if warning and request.method == "GET":
            messages.warning(request, warning)
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Phase, form: PhaseAdminForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and {"intervals_enabled", "interval_level"} & set(form.changed_data):
            intervals_refresh_on_commit(phase_id=obj.id)
            self.message_user(
                request, f"{obj}: the stored results' intervals are being recomputed at the new setting."
            )
        upload = form.cleaned_data.get("ground_truth_upload")
        if upload:
            phase_ground_truth_set(phase=obj, file=upload)
            messages.success(
                request,
                f"Ground truth stored for {obj}: "
                f"{', '.join(s.dataset.name for s in obj.splits.select_related('dataset'))}.",
            )
            findings = phase_leak_findings(phase=obj)
            if findings:
                level, tail = (
                    (messages.INFO, "The phase is blind, so participants see none of it.")
                    if obj.is_blind
                    else (
                        messages.WARNING,
                        "The phase publishes its queries as uploaded, so participants see it.",
                    )
                )
                self.message_user(request, f"Leak audit: {'; '.join(findings)}. {tail}", level)

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
class SplitAdmin(ChallengeScopedAdmin):
    challenge_path = "phase__challenge"
    list_display = ["phase", "dataset", "num_queries", "num_videos", "captions_per_video"]
    list_filter = [("phase__challenge", admin.RelatedOnlyFieldListFilter)]
    readonly_fields = ["phase", "dataset", "num_queries", "num_videos", "captions_per_video"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class MembershipInline(ChallengeScopedInline, admin.TabularInline):
    model = TeamMembership
    extra = 0
    fields = ["user", "role", "challenge", "joined_at"]
    readonly_fields = ["joined_at"]


@admin.register(Team)
class TeamAdmin(ChallengeScopedAdmin):
    list_display = [
        "name",
        "challenge",
        "is_baseline",
        "is_approved",
        "invite_code",
        "storage_used",
        "created_at",
    ]
    list_filter = [("challenge", admin.RelatedOnlyFieldListFilter), "is_baseline", "is_approved"]
    actions = ["approve"]

    @admin.action(description="Approve the selected teams (they may then submit)")
    def approve(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        from challenge.organiser import team_approve

        teams = list(queryset)
        for team in teams:
            team_approve(team=team, approved=True)
        self.message_user(request, f"{len(teams)} team(s) approved.", messages.SUCCESS)

    search_fields = ["name", "memberships__user__username"]
    readonly_fields = ["invite_code", "storage_used"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return team_storage_annotate(super().get_queryset(request))

    @admin.display(description="Storage used", ordering="storage_bytes")
    def storage_used(self, team: Team) -> str:
        """The team's stored submission files (deleted files of failed submissions no longer count)."""
        if team.pk is None:  # the add form
            return "-"
        used = getattr(team, "storage_bytes", None)
        if used is None:
            used = team_storage_annotate(Team.objects.filter(id=team.id)).values_list(
                "storage_bytes", flat=True
            )[0]
        return f"{(used or 0) / 1024**2:,.1f} MiB"


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
    def stored_file(self, submission: Submission) -> str:
        return submission.file.name
