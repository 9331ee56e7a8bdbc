"""What a phase publishes of its hidden ground truth: the blind view, the leak audit, the caption
audit and their warnings.

Every reader that needs the queries as participants see them (the starter kit, the scorer, the
baselines) goes through `phase_published_truth`; the organiser's own ids and order never leave the
server. See docs/blind-phases.md.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from challenge.models import Phase

if TYPE_CHECKING:  # the evaluation core is imported lazily, where it is used
    from evaluation.ground_truth import GroundTruth

AS_UPLOADED_WARNING = (
    "This phase publishes its queries as uploaded: the starter kit lists the ground truth's own query ids "
    "in its own order. {inference} Switch the phase's query order to blind unless participants must use "
    "the 2020 challenge files unchanged."
)
AS_UPLOADED_INFERENCE_FOUND = "From this ground truth participants can infer the answers: {findings}."
AS_UPLOADED_INFERENCE_UNKNOWN = (
    "Participants can read the answers off them whenever the ids name the videos or the queries come "
    "grouped by video."
)
AS_UPLOADED_INFERENCE_NONE = (
    "The audit found no answer in these ids or this order, but the order is still the organisers' own."
)

CAPTION_LOOKUP_WARNING = (
    "Participants can look these captions up; use a code phase or new captions. This phase publishes its "
    "queries' text and the caption audit found it in the public annotations: {findings}. Blinding hides "
    "the query ids and order, not what a query says: withhold the text (publish_query_text off) or replace "
    "the captions."
)


#: Published views kept per process (a worker scores many submissions of the same phases): reading and
#: blinding a test phase's ground truth costs a few tenths of a second; a few phases fit in ~100 MB.
_PUBLISHED_CACHE_SIZE = 4
_published_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_published_lock = threading.Lock()


def published_truth_from_file(*, phase: Phase, path: str | os.PathLike[str]) -> Any:
    """Read the phase's stored ground-truth file at `path` and return it as `phase` publishes it
    (blind or as uploaded); memoised per process, keyed by the stored file, its digest, the query
    order and the secret, so a new file or setting is never served from the cache.

    Raises:
        evaluation.errors.GroundTruthError: the file is invalid.
    """
    from evaluation.blinding import publish_ground_truth
    from evaluation.ground_truth import read_ground_truth

    key = (
        phase.pk,
        phase.ground_truth.name,
        phase.ground_truth_sha256,
        phase.query_order,
        phase.blinding_secret,
    )
    cacheable = bool(phase.ground_truth_sha256)
    with _published_lock:
        if cacheable and key in _published_cache:
            _published_cache.move_to_end(key)
            return _published_cache[key]
    names = list(phase.challenge.datasets.values_list("name", flat=True))
    published = publish_ground_truth(
        read_ground_truth(path, datasets=names or None),
        query_order=phase.query_order,
        secret=phase.blinding_key,
    )
    if cacheable:
        with _published_lock:
            _published_cache[key] = published
            while len(_published_cache) > _PUBLISHED_CACHE_SIZE:
                _published_cache.popitem(last=False)
    return published


def phase_published_truth(*, phase: Phase) -> Any:
    """The phase's stored ground truth as the phase publishes it (see `published_truth_from_file`).

    Raises:
        ValueError: the phase has no ground truth yet.
        OSError, evaluation.errors.GroundTruthError: the stored file cannot be read.
    """
    from challenge.services.files import local_path

    if not phase.ground_truth:
        raise ValueError(f"the phase {phase} has no ground truth yet")
    with local_path(phase.ground_truth) as path:
        return published_truth_from_file(phase=phase, path=path)


def published_source_query_ids(*, phase: Phase, truth: Any) -> dict[str, list[str]]:
    """For each dataset, the organisers' query id behind each published row, in the published order.

    What the organisers' own tools (the baselines, which index their features by those ids) need to
    write a submission in the order participants see; participants never get this mapping.
    """
    from evaluation.blinding import publish_dataset

    if not phase.is_blind:
        return {name: list(d.query_ids) for name, d in truth.datasets.items()}
    out = {}
    for name, d in truth.datasets.items():
        rows = publish_dataset(d, secret=phase.blinding_key).source_rows
        out[name] = [d.query_ids[row] for row in rows]
    return out


def phase_public_shapes(*, phase: Phase) -> dict[str, Any]:
    """The shapes the phase accepts (`evaluation.validation.DatasetShape` per dataset), from its splits:
    the upload's checks need no read of the ground truth."""
    from evaluation.validation import DatasetShape

    return {
        split.dataset.name: DatasetShape(
            num_queries=split.num_queries,
            num_videos=split.num_videos,
            captions_per_video=split.captions_per_video
            if split.captions_per_video > 1 and not phase.is_blind
            else None,
            blind=phase.is_blind,
        )
        for split in phase.splits.select_related("dataset")
    }


def phase_gallery_ids(*, phase: Phase, datasets: Any) -> dict[str, tuple[str, ...]]:
    """Each of `datasets`' gallery ids in column order (the kit's `<Dataset>/videos.txt`), from the
    phase's published ground truth (memoised per process): what top-k lists of gallery ids are read
    against at upload.

    Raises:
        ValueError, OSError, evaluation.errors.GroundTruthError: as `phase_published_truth`.
    """
    truth = phase_published_truth(phase=phase)
    return {name: tuple(truth.datasets[name].videos) for name in datasets if name in truth.datasets}


def ground_truth_audit(*, truth: Any) -> dict[str, dict[str, Any]]:
    """The leak audit of an organiser's ground truth (`evaluation.blinding.audit_ground_truth`)."""
    from evaluation.blinding import audit_ground_truth

    return audit_ground_truth(truth)


def phase_leak_findings(*, phase: Phase) -> list[str]:
    """The audit's findings as 'DATASET: finding' sentences (empty when nothing leaks or no audit yet)."""
    return [
        f"{name}: {finding}"
        for name, audit in (phase.ground_truth_audit or {}).items()
        for finding in audit.get("findings", [])
    ]


def phase_query_order_warning(*, phase: Phase) -> str | None:
    """The warning organisers see while a phase publishes its queries as uploaded; None when blind."""
    if phase.is_blind:
        return None
    findings = phase_leak_findings(phase=phase)
    if findings:
        inference = AS_UPLOADED_INFERENCE_FOUND.format(findings="; ".join(findings))
    elif phase.ground_truth_audit:
        inference = AS_UPLOADED_INFERENCE_NONE
    else:
        inference = AS_UPLOADED_INFERENCE_UNKNOWN
    return AS_UPLOADED_WARNING.format(inference=inference)


def caption_audit(*, truth: Any, annotations: Any = None) -> dict[str, dict[str, Any]]:
    """The caption audit of an organiser's ground truth (`evaluation.caption_audit.audit_captions`):
    per dataset, the queries with text and, given the public annotations, the captions a lookup finds.

    Raises:
        evaluation.caption_audit.AnnotationsError: the annotations cannot be read.
    """
    from evaluation.caption_audit import audit_captions

    return audit_captions(truth, annotations)


def phase_caption_findings(*, phase: Phase) -> list[str]:
    """The caption audit's findings as 'DATASET: finding' sentences (empty without text or audit)."""
    return [
        f"{name}: {finding}"
        for name, audit in (phase.caption_audit or {}).items()
        for finding in audit.get("findings", [])
    ]


def phase_caption_lookup(*, phase: Phase) -> bool:
    """Some published query text of the phase appears in the public annotations it was audited against."""
    return phase.publishes_query_text and any(
        audit.get("found") for audit in (phase.caption_audit or {}).values()
    )


def phase_caption_warning(*, phase: Phase) -> str | None:
    """The warning organisers see while a phase publishes query text found in the public annotations."""
    if not phase_caption_lookup(phase=phase):
        return None
    found = [
        f"{name}: {audit['found']:,} of {audit['num_queries']:,} captions found, {audit['unique']:,} naming "
        f"exactly one video of the split (a lookup scores R@1 = {audit['lookup_r1']:.1f})"
        for name, audit in phase.caption_audit.items()
        if audit.get("found")
    ]
    return CAPTION_LOOKUP_WARNING.format(findings="; ".join(found))


def in_challenge_spelling(truth: GroundTruth, names: list[str]) -> GroundTruth:
    """`truth` with each dataset under the challenge's spelling of its name (matched case-insensitively)
    and in the challenge's order; a dataset the challenge does not name keeps the file's name, last."""
    from dataclasses import replace

    by_lower = {name.lower(): name for name in names}
    datasets = {}
    for name, dataset in truth.datasets.items():
        spelt = by_lower.get(name.lower(), name)
        datasets[spelt] = replace(dataset, name=spelt)
    order = {name: i for i, name in enumerate(names)}
    ordered = sorted(datasets.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
    return replace(truth, datasets=dict(ordered))
