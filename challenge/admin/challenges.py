"""The console's challenges and their datasets."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q
from django.http import HttpRequest

from challenge.admin.scope import ChallengeScopedAdmin, ChallengeScopedInline, TabularInline
from challenge.models import Challenge, Dataset
from challenge.selectors import challenge_organised_list


class DatasetInline(ChallengeScopedInline, TabularInline):
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
    readonly_fields = ["direction"]
    inlines = [DatasetInline]

    @admin.display(description="Direction")
    def direction(self, obj: Challenge) -> str:
        """Shown, never set: the direction is the primary metric's (`Challenge.higher_is_better`)."""
        return "higher is better" if obj.higher_is_better else "lower is better"

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
