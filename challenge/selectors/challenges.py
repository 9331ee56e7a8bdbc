"""Reads of challenges: which a user may see, which they organise."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet

from challenge.models import Challenge
from core.exceptions import NotFoundError

CHALLENGE_NOT_FOUND = "No challenge with this name exists."


def challenge_is_organiser(*, user: User | AnonymousUser | None, challenge: Challenge | int) -> bool:
    """The one test of challenge-scoped power: hidden results, ground truth, organiser tools, exports.

    True for an active superuser, and for an active member of `challenge.organisers`. Plain `is_staff`
    does NOT count: a staff account reaches the admin, but sees only the challenges it organises
    (SECURITY.md, "Organisers"). `challenge` may be an instance or an id.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    challenge_id = challenge if isinstance(challenge, int) else challenge.pk
    return Challenge.organisers.through.objects.filter(challenge_id=challenge_id, user_id=user.pk).exists()


def challenge_organised_list(*, user: User | AnonymousUser | None) -> QuerySet[Challenge]:
    """The challenges the user organises (every challenge for a superuser, none for anonymous)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Challenge.objects.none()
    if user.is_superuser:
        return Challenge.objects.all()
    return Challenge.objects.filter(id__in=_organised_ids(user))


def _organised_ids(user: User) -> QuerySet[Any, Any]:
    return Challenge.organisers.through.objects.filter(user_id=user.pk).values("challenge_id")


def _visible_challenges(user: User | AnonymousUser | None) -> Q:
    """Public challenges, plus the (draft) challenges the user organises."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(is_public=True)
    if user.is_superuser:
        return Q()
    return Q(is_public=True) | Q(id__in=_organised_ids(user))


def challenge_list(*, user: User | AnonymousUser | None = None) -> QuerySet[Challenge]:
    return Challenge.objects.filter(_visible_challenges(user))


def challenge_get(*, slug: str, user: User | AnonymousUser | None = None) -> Challenge:
    challenge = challenge_list(user=user).filter(slug=slug).first()
    if challenge is None:
        raise NotFoundError(CHALLENGE_NOT_FOUND)
    return challenge


def challenge_team_count(*, challenge: Challenge) -> int:
    return challenge.teams.filter(is_baseline=False).count()
