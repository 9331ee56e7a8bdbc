"""The console's phases (their form, ground-truth upload, leak audit, re-score and publishing) and splits."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from challenge.admin.scope import ChallengeScopedAdmin, ChallengeScopedInline
from challenge.code_phases import runtime_choices
from challenge.exceptions import ApplicationError
from challenge.models import Phase, Split, SubmissionFormat
from challenge.publication import phase_leak_findings, phase_query_order_warning
from challenge.services import (
    ground_truth_check,
    phase_ground_truth_set,
    phase_publish_results,
    phase_rescore,
)
from challenge.services.code import phase_gallery_inputs_set
from challenge.services.dispatch import intervals_refresh_on_commit


class PhaseAdminForm(forms.ModelForm):
    # Tick boxes instead of a raw JSON list; none ticked = every format.
    allowed_formats = forms.MultipleChoiceField(
        choices=[(choice.value, f".{choice.value}") for choice in SubmissionFormat],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Accepted formats",
        help_text="Leave all unticked to accept every format.",
    )
    gallery_inputs_upload = forms.FileField(
        required=False,
        label="Gallery inputs (.zip)",
        help_text="Code phases: features or lists every run gets, unpacked read-only at /input/gallery.",
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
            "submission_kind",
            "runtime",
            "code_wall_limit_s",
            "code_memory_limit_mb",
            "code_cpus",
            "code_output_limit_mb",
            "code_gpu",
            "code_show_output",
            "code_failures_count",
        ]
        widgets = {"final_submission": forms.RadioSelect}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "runtime" in self.fields:  # the runtimes this site knows (PENTATHLON_SANDBOX_RUNTIMES)
            self.fields["runtime"].widget = forms.Select(
                choices=[("", "the site's default"), *runtime_choices()]
            )

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
        "submission_kind",
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
        gallery = form.cleaned_data.get("gallery_inputs_upload")
        if gallery:
            try:
                phase_gallery_inputs_set(phase=obj, file=gallery)
                messages.success(request, f"Gallery inputs stored for {obj}.")
            except ApplicationError as exc:
                messages.error(request, exc.message)
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
