"""Challenges, their organisers and datasets, phases, and a phase's hidden ground truth."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from challenge.events import challenge_boards_changed, phase_boards_changed
from challenge.models import Challenge, Dataset, Phase, Split
from challenge.publication import caption_audit, ground_truth_audit, in_challenge_spelling
from challenge.services.files import spooled_copy, store_spooled

if TYPE_CHECKING:  # the evaluation core is imported lazily, where it is used
    from evaluation.ground_truth import GroundTruth

GROUND_TRUTH_TOO_LARGE = "The ground-truth file is {size:,} bytes; the largest accepted is {limit:,} bytes."
ANNOTATIONS_INVALID = "Invalid public annotations: {error}"
NO_GROUND_TRUTH_TO_AUDIT = "The phase {phase} has no ground truth yet: upload it with the public annotations."


@transaction.atomic
def challenge_upsert(
    *,
    slug: str,
    title: str,
    summary: str = "",
    description: str = "",
    rules: str = "",
    datasets: Iterable[str] = (),
    organisers: Iterable[User] = (),
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
def challenge_organisers_add(*, challenge: Challenge, users: Iterable[User]) -> Challenge:
    """Make the users organisers of the challenge (idempotent). Staff status is not changed: it only
    decides whether they may use the admin."""
    users = list(users)
    if users:
        challenge.organisers.add(*users)
    return challenge


@transaction.atomic
def challenge_organisers_set(*, challenge: Challenge, users: Iterable[User]) -> Challenge:
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
    publish_query_text: bool = True,
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
    phase.publish_query_text = publish_query_text
    phase.full_clean()
    phase.save()
    phase_boards_changed(phase_ids=[phase.id])
    return phase


def ground_truth_check(*, challenge: Challenge, file: IO[bytes] | File[bytes]) -> GroundTruth:
    """Validate an uploaded ground-truth file without storing it (the admin form's check)."""
    with spooled_copy(
        file, suffix=".h5", limit=settings.GROUND_TRUTH_MAX_BYTES, too_large=GROUND_TRUTH_TOO_LARGE
    ) as (tmp_path, _size, _digest):
        return ground_truth_validate(challenge=challenge, path=tmp_path)


def ground_truth_validate(*, challenge: Challenge, path: str | os.PathLike[str]) -> GroundTruth:
    """Read a ground-truth file with the evaluation core and check it against the challenge's datasets.

    Returns the `evaluation.ground_truth.GroundTruth`.
    Raises:
        ValidationError: the evaluation core's message, or a dataset unknown to the challenge.
    """
    from evaluation.errors import GroundTruthError
    from evaluation.ground_truth import read_ground_truth

    try:
        truth = read_ground_truth(path)  # the file's own names: any challenge's, not only the Pentathlon's
    except GroundTruthError as exc:
        raise ValidationError(f"Invalid ground-truth file: {exc}") from exc
    names = list(challenge.datasets.values_list("name", flat=True))
    by_lower = {name.lower(): name for name in names}
    unknown = sorted(name for name in truth.datasets if name.lower() not in by_lower)
    if unknown:
        raise ValidationError(
            f"Invalid ground-truth file: the dataset(s) {', '.join(unknown)} are not datasets of the challenge "
            f"{challenge.title!r} (it has {', '.join(sorted(names)) or 'none'}); add them first."
        )
    return in_challenge_spelling(truth, names)


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


@transaction.atomic
def phase_query_text_set(*, phase: Phase, publish: bool) -> Phase:
    """Publish the queries' text in the phase's kit (queries.tsv) or withhold it. The kit follows (its
    cache key includes the setting)."""
    phase.publish_query_text = bool(publish)
    phase.save(update_fields=["publish_query_text"])
    return phase


def annotations_rows(file: IO[bytes] | File[bytes]) -> Any:
    """The rows of an uploaded public-annotations table (`evaluation.caption_audit.read_annotations`),
    read lazily under the site's limits (PENTATHLON_ANNOTATIONS_MAX_BYTES)."""
    from evaluation.caption_audit import AnnotationLimits, read_annotations

    if hasattr(file, "seek"):
        file.seek(0)
    return read_annotations(file, limits=AnnotationLimits(max_bytes=settings.ANNOTATIONS_MAX_BYTES))


def annotations_check(*, file: IO[bytes] | File[bytes]) -> int:
    """Read a public-annotations table to its end (the admin form's check); returns its rows.

    Raises:
        ValidationError: ANNOTATIONS_INVALID with the reader's sentence.
    """
    from evaluation.caption_audit import AnnotationsError

    try:
        count = sum(1 for _ in annotations_rows(file))
    except AnnotationsError as exc:
        raise ValidationError(ANNOTATIONS_INVALID.format(error=exc)) from exc
    if hasattr(file, "seek"):
        file.seek(0)
    return count


def _caption_audit(
    *, truth: GroundTruth, annotations: IO[bytes] | File[bytes] | None, rows: Any
) -> dict[str, dict[str, Any]]:
    from evaluation.caption_audit import AnnotationsError

    source = annotations_rows(annotations) if annotations is not None else rows
    try:
        return caption_audit(truth=truth, annotations=source)
    except AnnotationsError as exc:
        raise ValidationError(ANNOTATIONS_INVALID.format(error=exc)) from exc


@transaction.atomic
def phase_caption_audit_set(
    *, phase: Phase, annotations: IO[bytes] | File[bytes] | None = None, rows: Any = None
) -> Phase:
    """Audit the phase's stored ground truth against public annotations (an uploaded caption -> video
    table, or `rows` of `evaluation.caption_audit.Annotation`, e.g. from an expert store) and store the
    result (`Phase.caption_audit`).

    Raises:
        ValidationError: no ground truth yet, or the annotations cannot be read.
    """
    from challenge.services.files import local_path
    from evaluation.ground_truth import read_ground_truth

    if not phase.ground_truth:
        raise ValidationError(NO_GROUND_TRUTH_TO_AUDIT.format(phase=phase))
    with local_path(phase.ground_truth) as path:
        truth = read_ground_truth(path)
    phase.caption_audit = _caption_audit(truth=truth, annotations=annotations, rows=rows)
    phase.save(update_fields=["caption_audit"])
    return phase


def ground_truth_publishable(*, phase: Phase, truth: GroundTruth) -> dict[str, dict[str, Any]]:
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
def phase_ground_truth_set(
    *,
    phase: Phase,
    file: IO[bytes] | File[bytes],
    annotations: IO[bytes] | File[bytes] | None = None,
    annotation_rows: Any = None,
) -> Phase:
    """Validate and store a phase's hidden ground truth in the private storage; record its splits, the
    leak audit of its ids and order (`Phase.ground_truth_audit`) and the caption audit of its query
    texts (`Phase.caption_audit`) against the public annotations when given: an uploaded caption ->
    video table (`annotations`) or rows from an expert store (`annotation_rows`).

    Splits of datasets that the new file no longer holds are removed.

    Raises:
        ValidationError: the ground truth or the annotations are invalid (nothing is stored).
    """
    with spooled_copy(
        file, suffix=".h5", limit=settings.GROUND_TRUTH_MAX_BYTES, too_large=GROUND_TRUTH_TOO_LARGE
    ) as (tmp_path, size, digest):
        truth = ground_truth_validate(challenge=phase.challenge, path=tmp_path)
        phase.ground_truth_audit = ground_truth_publishable(phase=phase, truth=truth)
        phase.caption_audit = _caption_audit(truth=truth, annotations=annotations, rows=annotation_rows)
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
