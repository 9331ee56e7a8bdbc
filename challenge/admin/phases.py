"""The console's phases (their form, ground-truth upload, leak and caption audits, re-score and publishing)
and splits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from challenge.admin.scope import ChallengeScopedAdmin, ChallengeScopedInline, TabularInline
from challenge.code_phases import runtime_choices
from challenge.models import Phase, Split, SubmissionFormat
from challenge.publication import (
    phase_caption_findings,
    phase_caption_warning,
    phase_leak_findings,
    phase_query_order_warning,
)
from challenge.services import (
    annotations_check,
    ground_truth_check,
    phase_caption_audit_set,
    phase_ground_truth_set,
    phase_publish_results,
    phase_rescore,
)
from challenge.services.code import phase_gallery_inputs_set
from challenge.services.dispatch import intervals_refresh_on_commit
from core.exceptions import ApplicationError

if TYPE_CHECKING:
    _PhaseModelForm = forms.ModelForm[Phase]
else:
    _PhaseModelForm = forms.ModelForm  # generic in django-stubs only: no subscript at run time


class PhaseAdminForm(_PhaseModelForm):
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
        help_text="One file per phase, one group per dataset, named as the challenge names it (videos, query_ids,"
        " query_video[, query_masks][, query_text]; or, for several relevant items per query, rel_query and rel_item"
        " [, rel_grade] instead of query_video). It is validated, stored privately and never served to participants.",
    )
    annotations_upload = forms.FileField(
        required=False,
        label="Public annotations (caption audit)",
        help_text="Optional: the public caption -> video table the captions come from (the release's raw "
        "captions), as TSV or CSV with a header naming caption and video_id (optionally dataset). The "
        "query texts are looked up in it (docs/blind-phases.md); it is read, not stored. Alone, it "
        "re-audits the stored ground truth.",
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
            "publish_query_text",
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "runtime" in self.fields:  # the runtimes this site knows (PENTATHLON_SANDBOX_RUNTIMES)
            self.fields["runtime"].widget = forms.Select(
                choices=[("", "the site's default"), *runtime_choices()]
            )

    def clean(self) -> dict[str, Any]:
        super().clean()  # a model form's clean returns its cleaned_data
        cleaned = self.cleaned_data
        upload = cleaned.get("ground_truth_upload")
        challenge = cleaned.get("challenge") or getattr(self.instance, "challenge", None)
        if upload and challenge is not None:
            try:
                ground_truth_check(challenge=challenge, file=upload)
            except ValidationError as exc:
                self.add_error("ground_truth_upload", exc)
            except ApplicationError as exc:
                self.add_error("ground_truth_upload", exc.message)
        annotations = cleaned.get("annotations_upload")
        if annotations:
            if not upload and not getattr(self.instance, "ground_truth", None):
                self.add_error(
                    "annotations_upload", "Upload the ground truth with the annotations: it has none yet."
                )
            else:
                try:
                    annotations_check(file=annotations)
                except ValidationError as exc:
                    self.add_error("annotations_upload", exc)
        return cleaned


class SplitInline(ChallengeScopedInline, TabularInline):
    model = Split
    extra = 0
    can_delete = False
    readonly_fields = ["dataset", "num_queries", "num_videos", "captions_per_video"]

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
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
        "caption_lookup_audit",
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

    @admin.display(description="caption audit of the query texts")
    def caption_lookup_audit(self, phase: Phase) -> str:
        if not phase.caption_audit:
            return "no ground truth audited yet"
        findings = phase_caption_findings(phase=phase)
        if not findings:
            return "the queries carry no text"
        shown = "published" if phase.publishes_query_text else "WITHHELD from participants"
        return f"{'; '.join(findings)} (text {shown})"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        phase = self.get_object(request, object_id)
        if phase is not None and request.method == "GET":
            for warning in (phase_query_order_warning(phase=phase), phase_caption_warning(phase=phase)):
                if warning:
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
        annotations = form.cleaned_data.get("annotations_upload")
        if annotations and not upload:
            phase_caption_audit_set(phase=obj, annotations=annotations)
            findings = phase_caption_findings(phase=obj) or ["the queries carry no text"]
            self.message_user(request, f"Caption audit: {'; '.join(findings)}.")
        if upload:
            phase_ground_truth_set(phase=obj, file=upload, annotations=annotations or None)
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
        caption_warning = phase_caption_warning(phase=obj) if (upload or annotations) else None
        if caption_warning:
            self.message_user(request, caption_warning, messages.WARNING)

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
