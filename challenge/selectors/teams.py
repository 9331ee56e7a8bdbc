"""Reads of teams: a user's team, its members, the storage its files take."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

from challenge.models import Challenge, Team, TeamMembership


def team_for_user(*, user: User | AnonymousUser, challenge: Challenge) -> Team | None:
    if not user.is_authenticated:
        return None
    membership = TeamMembership.objects.filter(user=user, challenge=challenge).select_related("team").first()
    return None if membership is None else membership.team


def team_members(*, team: Team) -> QuerySet[TeamMembership]:
    return team.memberships.select_related("user").order_by("joined_at")


class TeamStorage(TypedDict):
    storage_bytes: int


def team_storage_annotate(teams: QuerySet[Team]) -> QuerySet[WithAnnotations[Team, TeamStorage]]:
    """Teams with `storage_bytes`: the bytes of their stored submission files, so an
    organiser sees which team fills the disk.

    Files the retention period deleted (failed and cancelled submissions) count no more.
    """
    from django.db.models import Sum
    from django.db.models.functions import Coalesce

    return teams.annotate(
        storage_bytes=Coalesce(Sum("submissions__file_size", filter=~Q(submissions__file="")), 0)
    )
