"""The console's teams and their memberships."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from challenge.admin.scope import ChallengeScopedAdmin, ChallengeScopedInline, TabularInline
from challenge.models import Team, TeamMembership
from challenge.selectors import team_storage_annotate


class MembershipInline(ChallengeScopedInline, TabularInline):
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
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
