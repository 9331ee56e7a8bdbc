"""The challenge's terms (its rules) as participants accept them: recorded with the time and the
version accepted; a raised `Challenge.terms_version` asks everyone again."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.urls import reverse

from challenge.models import Challenge, TermsAcceptance
from challenge.selectors import challenge_is_organiser, terms_accepted
from core.exceptions import ApplicationError, PermissionDeniedError

TERMS_NOT_ACCEPTED = (
    "Accept the rules of {challenge} (version {version}) before {what}: read and accept them at {url}"
)
TERMS_NEED_LOGIN = "Log in and accept the rules of {challenge} (version {version}) before {what}: {url}"
NO_TERMS = "{challenge} asks no acceptance of its rules."


def terms_accept(*, challenge: Challenge, user: User) -> TermsAcceptance:
    """Record that the user accepts the challenge's current terms (idempotent per version)."""
    if not challenge.terms_version:
        raise ApplicationError(NO_TERMS.format(challenge=challenge.title))
    with transaction.atomic():
        acceptance, _ = TermsAcceptance.objects.get_or_create(
            challenge=challenge, user=user, version=challenge.terms_version
        )
    return acceptance


def terms_ensure_accepted(*, challenge: Challenge, user: User | AnonymousUser | None, what: str) -> None:
    """Refuse `what` (e.g. "downloading the starter kit") until the user accepted the current terms;
    organisers pass (they wrote them).

    Raises:
        PermissionDeniedError: the sentence says where to accept them.
    """
    if not challenge.terms_version or challenge_is_organiser(user=user, challenge=challenge):
        return
    if terms_accepted(challenge=challenge, user=user):
        return
    url = reverse("challenge:detail", args=[challenge.slug]) + "#rules"
    signed_in = user is not None and user.is_authenticated
    raise PermissionDeniedError(
        (TERMS_NOT_ACCEPTED if signed_in else TERMS_NEED_LOGIN).format(
            challenge=challenge.title, version=challenge.terms_version, what=what, url=url
        )
    )
