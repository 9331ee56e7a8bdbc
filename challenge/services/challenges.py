"""A challenge's own settings from the console: creating one, changing its settings and its datasets.

The metric set and the words the pages use are settings like any other: the model's validation
(`challenge.models.vocabulary`) says what is wrong with them in sentences the organiser reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from challenge.events import challenge_boards_changed
from challenge.models import Challenge, Dataset
from challenge.services.audit import brief, organiser_action_record, shown
from core.exceptions import ApplicationError, PermissionDeniedError

CHALLENGE_CREATE_STAFF_ONLY = (
    "Only site staff create challenges; ask them to create it or to make you an organiser of one."
)
CHALLENGE_SLUG_TAKEN = "A challenge at /c/{slug}/ exists already; choose another address."
DATASET_IN_USE = "Dataset {name} has ground truth in phase(s) {phases}; it cannot be removed."
#: The challenge settings an organiser edits in the console (the datasets are edited beside them). The
#: direction is not one: it is the primary metric's (`Challenge.higher_is_better`); nor is a
#: metric's, which the registry owns.
CHALLENGE_SETTINGS = (
    "title",
    "summary",
    "description",
    "rules",
    "is_public",
    "primary_metric",
    "metrics",
    "query_modality",
    "gallery_modality",
    "query_noun",
    "query_noun_singular",
    "item_noun",
    "item_noun_singular",
    "score_decimals",
    "teams_need_approval",
    "terms_version",
    "pages",
)


def _datasets_set(*, challenge: Challenge, names: list[str]) -> list[str]:
    """Make the challenge's datasets exactly `names`, in that order; returns what changed, in words.

    Raises:
        ValidationError: removing a dataset that some phase's ground truth holds.
    """
    existing = {d.name: d for d in challenge.datasets.all()}
    changed = []
    for name in sorted(set(existing) - set(names)):
        phases = sorted(existing[name].splits.values_list("phase__title", flat=True))
        if phases:
            raise ValidationError({"datasets": DATASET_IN_USE.format(name=name, phases=", ".join(phases))})
        existing[name].delete()
        changed.append(f"removed {name}")
    for order, name in enumerate(names):
        dataset = existing.get(name) or Dataset(challenge=challenge, name=name)
        if dataset.pk is None:
            changed.append(f"added {name}")
        dataset.order = order
        dataset.full_clean()
        dataset.save()
    return changed


@transaction.atomic
def challenge_create(
    *, actor: User, slug: str, title: str, datasets: Iterable[str] = (), **settings: Any
) -> Challenge:
    """Create a challenge from the console; its creator becomes its first organiser.

    Site staff only, as in the admin (an organiser runs the challenges they are given).

    Raises:
        PermissionDeniedError: the user is not site staff.
        ApplicationError: a setting that is not in `CHALLENGE_SETTINGS`.
        ValidationError: the slug is taken or a value is invalid (nothing is created).
    """
    if not (actor.is_staff or actor.is_superuser):
        raise PermissionDeniedError(CHALLENGE_CREATE_STAFF_ONLY)
    unknown = sorted(set(settings) - set(CHALLENGE_SETTINGS))
    if unknown:
        raise ApplicationError(f"Unknown challenge setting(s): {', '.join(unknown)}.")
    if Challenge.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": CHALLENGE_SLUG_TAKEN.format(slug=slug)})
    challenge = Challenge(slug=slug, title=title, **settings)
    challenge.full_clean()
    challenge.save()
    challenge.organisers.add(actor)
    _datasets_set(challenge=challenge, names=list(datasets))
    challenge_boards_changed(challenge_id=challenge.id)
    organiser_action_record(
        challenge=challenge,
        user=actor,
        action="create challenge",
        target=f"challenge {challenge.title}",
        detail=f"/c/{slug}/; datasets: {shown(list(datasets))}",
    )
    return challenge


@transaction.atomic
def challenge_settings_update(
    *,
    challenge: Challenge,
    actor: User | None = None,
    datasets: list[str] | None = None,
    **changes: Any,
) -> Challenge:
    """Change a challenge's pages, rules, metric and approval settings (`CHALLENGE_SETTINGS`) and,
    when given, its datasets; validated like the admin's form, boards refreshed, changes logged.

    Raises:
        ApplicationError: a setting that is not in `CHALLENGE_SETTINGS`.
        ValidationError: an invalid value, or removing a dataset that holds ground truth.
    """
    unknown = sorted(set(changes) - set(CHALLENGE_SETTINGS))
    if unknown:
        raise ApplicationError(f"Unknown challenge setting(s): {', '.join(unknown)}.")
    before = {name: getattr(challenge, name) for name in changes}
    for name, value in changes.items():
        setattr(challenge, name, value)
    challenge.full_clean()
    changed = [name for name in changes if before[name] != getattr(challenge, name)]
    if changed:
        challenge.save(update_fields=changed)
    words = [f"{name}: {brief(before[name])} → {brief(getattr(challenge, name))}" for name in changed]
    if datasets is not None:
        words += _datasets_set(challenge=challenge, names=list(datasets))
    if not words:
        return challenge
    challenge_boards_changed(challenge_id=challenge.id)
    organiser_action_record(
        challenge=challenge,
        user=actor,
        action="challenge settings",
        target=f"challenge {challenge.title}",
        detail="; ".join(words),
    )
    return challenge
