"""Reads of phases: by id or slugs as a user may see them, the 404 that names the next step, the
starter kit's phase."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet
from django.utils import timezone

from challenge.models import Challenge, Dataset, Phase
from challenge.selectors.challenges import challenge_get, challenge_is_organiser, challenge_list
from challenge.selectors.status import phase_status
from core.exceptions import NotFoundError

PHASE_NOT_FOUND = "No phase with this id exists."


PHASE_ID_UNKNOWN = (
    "No phase with the id {id} exists. {open} `pentathlon phases CHALLENGE` lists a challenge's phases."
)


PHASE_SLUG_UNKNOWN = (
    "The challenge {challenge!r} has no phase {slug!r}; its phases are: {phases}. "
    "`pentathlon phases {challenge}` lists them with their ids."
)


OPEN_PHASES = "Open for submissions now: {phases}."


NO_OPEN_PHASE = "No phase is open for submissions now."


_OPEN_PHASES_SHOWN = 5


def phase_list(*, challenge: Challenge) -> QuerySet[Phase]:
    return (
        challenge.phases.select_related("challenge")
        .prefetch_related("splits__dataset")
        .order_by("order", "id")
    )


def phase_get(
    *,
    phase_id: int | None = None,
    challenge: Challenge | None = None,
    slug: str | None = None,
    user: User | AnonymousUser | None = None,
) -> Phase:
    qs = Phase.objects.select_related("challenge").filter(challenge__in=challenge_list(user=user))
    phase: Phase | None = (
        qs.filter(id=phase_id) if phase_id is not None else qs.filter(challenge=challenge, slug=slug)
    ).first()
    if phase is None:
        raise phase_not_found(user=user, phase_id=phase_id, challenge=challenge, slug=slug)
    return phase


KIT_NOT_YET = "The starter kit of this phase is published when the phase opens, {opens} UTC; come back then."


def phase_kit_get(
    *,
    phase_id: int | None = None,
    challenge: Challenge | None = None,
    slug: str | None = None,
    user: User | AnonymousUser | None = None,
) -> Phase:
    """The phase whose starter kit (and its README) `user` may download.

    A kit names the phase's queries, so before the phase opens only the challenge's organisers get it:
    anyone else gets the same 404 whether or not they are in a team (SECURITY.md, "Starter kits").
    """
    phase = phase_get(phase_id=phase_id, challenge=challenge, slug=slug, user=user)
    if not phase_kit_published(phase=phase) and not challenge_is_organiser(
        user=user, challenge=phase.challenge_id
    ):
        raise NotFoundError(KIT_NOT_YET.format(opens=phase.starts_at.strftime("%Y-%m-%d %H:%M")))
    return phase


def phase_kit_published(*, phase: Phase, now: datetime | None = None) -> bool:
    """Whether the phase's starter kit is public: from the moment the phase opens."""
    return (now or timezone.now()) >= phase.starts_at


def phase_not_found(
    *,
    user: User | AnonymousUser | None,
    phase_id: int | None = None,
    challenge: Challenge | None = None,
    slug: str | None = None,
) -> NotFoundError:
    """The 404 of an unknown phase, with the next step: the challenge's phases and their states (by
    slug), or the phases open now that `user` can see (by id). It names nothing `user` cannot see."""
    if phase_id is None and challenge is not None:
        phases = ", ".join(
            f"{phase.slug} ({phase_status(phase=phase).label.lower()})"
            for phase in phase_list(challenge=challenge)
        )
        return NotFoundError(
            PHASE_SLUG_UNKNOWN.format(challenge=challenge.slug, slug=slug, phases=phases or "none yet")
        )
    now = timezone.now()
    open_now = (
        Phase.objects.select_related("challenge")
        .filter(challenge__in=challenge_list(user=user), starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .exclude(ground_truth="")
    )
    if phase_id is not None:  # the ground-truth API's 404 for a phase the user may not change
        open_now = open_now.exclude(id=phase_id)
    open_now = open_now.order_by("challenge__slug", "order", "id")[:_OPEN_PHASES_SHOWN]
    listed = ", ".join(f"{phase.id} ({phase.challenge.slug}/{phase.slug})" for phase in open_now)
    return NotFoundError(
        PHASE_ID_UNKNOWN.format(
            id=phase_id, open=OPEN_PHASES.format(phases=listed) if listed else NO_OPEN_PHASE
        )
    )


def phase_get_by_slugs(*, challenge_slug: str, slug: str, user: User | AnonymousUser | None = None) -> Phase:
    """`phase_get` by the challenge's and the phase's slugs in one query (with its challenge), for
    pages read at high rates (the boards). The same 404s as `challenge_get` then `phase_get`."""
    phase = None
    if user is None or not user.is_authenticated:  # anonymous: public challenges only
        phase = (
            Phase.objects.select_related("challenge")
            .filter(challenge__is_public=True, challenge__slug=challenge_slug, slug=slug)
            .order_by("pk")  # the model's ordering would join the challenge's ordering for nothing
            .first()
        )
    if phase is None:
        challenge = challenge_get(slug=challenge_slug, user=user)  # the challenge's own 404 first
        phase = phase_get(challenge=challenge, slug=slug, user=user)
    return phase


def phase_dataset_names(*, phase: Phase) -> list[str]:
    """The phase's datasets (its splits) in the challenge's order; the challenge's datasets before any upload."""
    names = list(
        phase.splits.order_by("dataset__order", "dataset__id").values_list("dataset__name", flat=True)
    )
    if names:
        return names
    return list(Dataset.objects.filter(challenge_id=phase.challenge_id).values_list("name", flat=True))
