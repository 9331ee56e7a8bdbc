"""Challenges, their organisers and datasets, phases, and a phase's hidden ground truth."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from challenge.models import Challenge, Dataset, Phase, Split
from challenge.publication import ground_truth_audit
from challenge.services.boards import challenge_boards_changed, phase_boards_changed
from challenge.services.files import spooled_copy, store_spooled

GROUND_TRUTH_TOO_LARGE = "The ground-truth file is {size:,} bytes; the largest accepted is {limit:,} bytes."


@transaction.atomic
def challenge_upsert(
    *,
    slug: str,
    title: str,
    summary: str = "",
    description: str = "",
    rules: str = "",
    datasets: Iterable[str] = (),
    organisers: Iterable[AbstractBaseUser] = (),
) -> Challenge:
    """Create or update a challenge and its datasets (idempotent, keyed by slug and dataset name).

    `organisers` are added to the challenge's organisers; existing organisers are kept (remove them
    with `challenge_organisers_set` or in the admin).
    """
    challenge = Challenge.objects.filter(slug=slug).first() or Challenge(slug=slug)
    challenge.title, challenge.summary, challenge.description, challenge.rules = (
        title,
        summary,
        description,
        rules,
    )
    challenge.full_clean()
    challenge.save()
    challenge_organisers_add(challenge=challenge, users=organisers)
    for order, name in enumerate(datasets):
        dataset = Dataset.objects.filter(challenge=challenge, name=name).first() or Dataset(
            challenge=challenge, name=name
        )
        dataset.order = order
        dataset.full_clean()
        dataset.save()
    challenge_boards_changed(challenge_id=challenge.id)
    return challenge


@transaction.atomic
def challenge_organisers_add(*, challenge: Challenge, users: Iterable[AbstractBaseUser]) -> Challenge:
    """Make the users organisers of the challenge (idempotent). Staff status is not changed: it only
    decides whether they may use the admin."""
    users = list(users)
    if users:
        challenge.organisers.add(*users)
    return challenge


@transaction.atomic
def challenge_organisers_set(*, challenge: Challenge, users: Iterable[AbstractBaseUser]) -> Challenge:
    """Replace the challenge's organisers with exactly these users."""
    challenge.organisers.set(list(users))
    return challenge


CODE_SETTINGS = (
    "runtime",
    "code_wall_limit_s",
    "code_memory_limit_mb",
    "code_cpus",
    "code_output_limit_mb",
    "code_gpu",
    "code_show_output",
    "code_failures_count",
)


@transaction.atomic
def phase_upsert(
    *,
    challenge: Challenge,
    slug: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime | None = None,
    order: int = 0,
    description: str = "",
    max_submissions_per_day: int | None = None,
    max_submissions_total: int | None = None,
    allowed_formats: list[str] | None = None,
    aggregation: str = Phase.Aggregation.MEAN,
    leaderboard_visibility: str = Phase.LeaderboardVisibility.PUBLIC,
    query_order: str = Phase.QueryOrder.BLIND,
    submission_kind: str = Phase.SubmissionKind.PREDICTIONS,
    code: dict[str, Any] | None = None,
) -> Phase:
    """Create or update a phase (idempotent, keyed by challenge and slug). `code`: a code phase's
    settings (runtime, code_wall_limit_s, code_memory_limit_mb, code_cpus, code_output_limit_mb,
    code_gpu, code_show_output, code_failures_count)."""
    phase = Phase.objects.filter(challenge=challenge, slug=slug).first() or Phase(
        challenge=challenge, slug=slug
    )
    phase.title, phase.starts_at, phase.ends_at, phase.order = title, starts_at, ends_at, order
    phase.description = description
    phase.max_submissions_per_day, phase.max_submissions_total = (
        max_submissions_per_day,
        max_submissions_total,
    )
    phase.allowed_formats = list(allowed_formats or [])
    phase.aggregation, phase.leaderboard_visibility = aggregation, leaderboard_visibility
    phase.query_order = query_order
    phase.submission_kind = submission_kind
    for key, value in (code or {}).items():
        if key not in CODE_SETTINGS:
            raise ValueError(
                f"unknown code phase setting {key!r}; expected one of {', '.join(CODE_SETTINGS)}"
            )
        setattr(phase, key, value)
    phase.full_clean()
    phase.save()
    phase_boards_changed(phase_ids=[phase.id])
    return phase


def ground_truth_check(*, challenge: Challenge, file: IO[bytes] | File) -> Any:
    """Validate an uploaded ground-truth file without storing it (the admin form's check)."""
    with spooled_copy(
        file, suffix=".h5", limit=settings.GROUND_TRUTH_MAX_BYTES, too_large=GROUND_TRUTH_TOO_LARGE
    ) as (tmp_path, _size, _digest):
        return ground_truth_validate(challenge=challenge, path=tmp_path)


def ground_truth_validate(*, challenge: Challenge, path: str | os.PathLike[str]) -> Any:
    """Read a ground-truth file with the evaluation core and check it against the challenge's datasets.

    Returns the `evaluation.ground_truth.GroundTruth`.
    Raises:
        ValidationError: the evaluation core's message, or a dataset unknown to the challenge.
    """
    from evaluation.errors import GroundTruthError
    from evaluation.ground_truth import read_ground_truth

    try:
        truth = read_ground_truth(path)
    except GroundTruthError as exc:
        raise ValidationError(f"Invalid ground-truth file: {exc}") from exc
    known = set(challenge.datasets.values_list("name", flat=True))
    unknown = sorted(set(truth.datasets) - known)
    if unknown:
        raise ValidationError(
            f"Invalid ground-truth file: the dataset(s) {', '.join(unknown)} are not datasets of the challenge "
            f"{challenge.title!r} (it has {', '.join(sorted(known)) or 'none'}); add them first."
        )
    return truth


QUERY_ORDER_UNKNOWN = "Unknown query order {value!r}; use one of: {choices}."


@transaction.atomic
def phase_query_order_set(*, phase: Phase, query_order: str) -> Phase:
    """Publish the phase's queries blind or as uploaded. The starter kit follows (its cache key includes
    the order); kits downloaded under the other order are no longer valid."""
    choices = [value for value, _ in Phase.QueryOrder.choices]
    if query_order not in choices:
        raise ValidationError(QUERY_ORDER_UNKNOWN.format(value=query_order, choices=", ".join(choices)))
    phase.query_order = query_order
    phase.save(update_fields=["query_order"])
    return phase


def ground_truth_publishable(*, phase: Phase, truth: Any) -> dict[str, dict]:
    """Check that the phase can publish `truth` (its blind view can be drawn) and return the leak audit.

    Raises:
        ValidationError: the blind view cannot be drawn (two query ids share an opaque id).
    """
    from evaluation.blinding import QUERY_ORDER_BLIND, publish_ground_truth
    from evaluation.errors import GroundTruthError

    try:
        publish_ground_truth(truth, query_order=QUERY_ORDER_BLIND, secret=phase.blinding_key)
    except GroundTruthError as exc:
        raise ValidationError(f"Invalid ground-truth file: {exc}") from exc
    return ground_truth_audit(truth=truth)


@transaction.atomic
def phase_ground_truth_set(*, phase: Phase, file: IO[bytes] | File) -> Phase:
    """Validate and store a phase's hidden ground truth in the private storage; record its splits and
    the leak audit of its ids and order (`Phase.ground_truth_audit`).

    Splits of datasets that the new file no longer holds are removed.
    """
    with spooled_copy(
        file, suffix=".h5", limit=settings.GROUND_TRUTH_MAX_BYTES, too_large=GROUND_TRUTH_TOO_LARGE
    ) as (tmp_path, size, digest):
        truth = ground_truth_validate(challenge=phase.challenge, path=tmp_path)
        phase.ground_truth_audit = ground_truth_publishable(phase=phase, truth=truth)
        old_name = phase.ground_truth.name if phase.ground_truth else ""
        store_spooled(phase.ground_truth, "ground_truth.h5", tmp_path)
    phase.ground_truth_sha256 = digest
    phase.ground_truth_uploaded_at = timezone.now()
    phase.full_clean()
    phase.save()
    datasets = {d.name: d for d in phase.challenge.datasets.all()}
    for name, dataset_truth in truth.datasets.items():
        Split.objects.update_or_create(
            phase=phase,
            dataset=datasets[name],
            defaults={
                "num_queries": dataset_truth.num_queries,
                "num_videos": dataset_truth.num_videos,
                "captions_per_video": dataset_truth.captions_per_video,
            },
        )
    Split.objects.filter(phase=phase).exclude(dataset__name__in=list(truth.datasets)).delete()
    if old_name and old_name != phase.ground_truth.name:
        storage = phase.ground_truth.storage
        transaction.on_commit(lambda: storage.delete(old_name))
    phase_boards_changed(phase_ids=[phase.id])  # the boards' dataset columns follow the splits
    return phase


@transaction.atomic
def phase_publish_results(*, phase: Phase, published: bool) -> Phase:
    phase.leaderboard_visibility = (
        Phase.LeaderboardVisibility.PUBLIC if published else Phase.LeaderboardVisibility.HIDDEN
    )
    phase.save(update_fields=["leaderboard_visibility"])
    phase_boards_changed(phase_ids=[phase.id])
    return phase
