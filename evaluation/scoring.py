"""Turn (ground truth, submission file) into the report the server stores and the CLI prints.

Order of work: headers are inspected and checked against the phase first (cheap, and every
rejection names the dataset and member); then datasets are loaded and scored one at a time, so
peak memory is one dataset's arrays plus the scorer's bounded block buffers.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from . import SCORER_VERSION
from .datasets import PENTATHLON_DATASETS
from .errors import EvaluationError, SubmissionFormatError
from .ground_truth import DatasetTruth, GroundTruth
from .io import (
    KIND_EMBEDDINGS,
    KIND_SIMILARITY,
    KIND_TOPK,
    ReadLimits,
    SubmissionManifest,
    TopkBounds,
    inspect_submission,
    load_entry,
)
from .metrics import compiled
from .metrics.registry import GEOMETRIC_MEAN_KEY, METRIC_KEYS, RELEVANCE_METRIC_KEYS, metric
from .metrics.relevance import Relevance, relevance_directions, summarise, topk_relevance_metrics
from .metrics.retrieval import (
    metrics_from_ranks,
    rank_histogram,
    retrieval_ranks,
    topk_metrics,
    topk_ranks,
)
from .validation import check_manifest, check_topk, shapes_from_truth, topk_rows_in_query_order

AGGREGATIONS = ("mean", "sum")
# Bytes of the similarity matrix spread at a time: a block that stays in cache while its columns are gathered.
_SPREAD_BYTES = 1 << 20
#: What a dataset with sets of relevant items reports beside the rank metrics when the caller names none.
DEFAULT_RELEVANCE_METRICS: tuple[str, ...] = RELEVANCE_METRIC_KEYS
UNKNOWN_METRIC_MESSAGE = (
    "unknown metric {key!r}; expected registry keys such as {known}, or 'mAP@K', 'nDCG@K', 'Recall@K'"
)


def relevance_metric_keys(metrics: Sequence[str] | None, truth: DatasetTruth) -> tuple[str, ...]:
    """The relevance metrics (beyond the always-reported rank metrics) one dataset reports.

    None asks for the defaults: none on one relevant video per query (the report stays exactly as
    before), DEFAULT_RELEVANCE_METRICS on sets of relevant items.
    """
    if metrics is None:
        return () if truth.one_positive else DEFAULT_RELEVANCE_METRICS
    out = []
    for key in metrics:
        try:
            metric(key)
        except KeyError:
            known = ", ".join((*METRIC_KEYS, *RELEVANCE_METRIC_KEYS))
            raise EvaluationError(UNKNOWN_METRIC_MESSAGE.format(key=key, known=known)) from None
        if key not in METRIC_KEYS and key not in out:
            out.append(key)
    return tuple(out)


STAGE_VALIDATING = "validating"
STAGE_READING = "reading"
STAGE_SCORING = "scoring"
STAGE_DONE = "done"

ProgressCallback = Callable[[str, str | None, float], None]


def resolve_device(device: str) -> str:
    """ "cpu", "cuda" (fails clearly without one) or "auto" (CUDA when torch sees a GPU)."""
    if device not in ("cpu", "cuda", "auto"):
        raise EvaluationError(f"unknown device {device!r}; expected cpu, cuda or auto")
    if device == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        if device == "auto":
            return "cpu"
        raise EvaluationError("device cuda needs PyTorch, which is not installed") from None
    if torch.cuda.is_available():
        return "cuda"
    if device == "auto":
        return "cpu"
    raise EvaluationError("device cuda was asked for but no CUDA device is available")


def preload(device: str = "auto") -> None:
    """Import what scoring on `device` needs (torch, numba and the kernel's definition) without
    starting a thread or touching a device: safe in a process that forks its workers afterwards."""
    if device != "cpu":
        try:
            import torch  # noqa: F401
        except ImportError:
            pass
    from .metrics import compiled

    compiled.available()


def warm_up(device: str = "auto") -> str:
    """Pay scoring's one-time costs now rather than in the first submission: resolving the device
    (which imports torch for "auto" and "cuda", about 3.7 s on the 2-core machine) and loading the
    compiled rank kernel for float32 and float64 (numba's cache, about 0.4 s). Returns the device.

    >>> warm_up("cpu")
    'cpu'
    """
    resolved = resolve_device(device)
    backend = "compiled" if resolved == "cpu" and compiled.available() else "auto"
    for dtype in (np.float32, np.float64):
        sims = np.eye(3, dtype=dtype)
        retrieval_ranks(_on_device(sims, resolved), np.arange(3), num_videos=3, backend=backend)
    return resolved


def _on_device(array: np.ndarray, device: str) -> Any:
    if device == "cpu":
        return array
    return _device_tensor(array, device)


def _device_tensor(array: np.ndarray, device: str) -> Any:
    """A copy of `array` on `device`. A read-only array (a member mapped from the file) is only read
    on its way to the device, so torch's warning about non-writable arrays does not apply."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array).to(device)


def _check_finite_embeddings(array: np.ndarray, *, dataset: str, member: str) -> None:
    if not np.isfinite(array).all():
        raise SubmissionFormatError(
            "holds NaN or infinite values; expected finite embeddings", dataset=dataset, member=member
        )


def _distinct_rows(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `array` in float32, sorted by their bytes, and each row's index among them."""
    rows = np.ascontiguousarray(array, dtype=np.float32)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).reshape(-1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return rows[first], inverse.reshape(-1)


def _similarities_from_embeddings(text: np.ndarray, video: np.ndarray, device: str) -> Any:
    """S = text @ video.T in float32 (docs/design.md, section 4), on the scoring device.

    A BLAS product's value for one row depends on where the row falls in the kernel's tiles, so the
    same embeddings in another order (a blind phase's published order, the same program on two phases)
    can differ in the last bit and break a tie. The product is taken over the distinct rows in byte
    order and spread back: equal rows get equal scores, and the order of the upload changes nothing.
    """
    text_rows, text_of = _distinct_rows(text)
    video_rows, video_of = _distinct_rows(video)
    if device != "cpu":
        import torch

        product = _device_tensor(text_rows, device) @ _device_tensor(video_rows, device).T
        rows_t = torch.from_numpy(text_of).to(device)
        cols_t = torch.from_numpy(video_of).to(device)
        return product.index_select(0, rows_t).index_select(1, cols_t)
    product = text_rows @ video_rows.T
    sims = np.empty((text_of.size, video_of.size), dtype=np.float32)
    block = max(1, _SPREAD_BYTES // (sims.itemsize * max(video_of.size, 1)))
    for start in range(0, text_of.size, block):
        stop = min(start + block, text_of.size)
        product.take(text_of[start:stop], axis=0).take(video_of, axis=1, out=sims[start:stop])
    return sims


def _rows_layout(truth: DatasetTruth, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Ground truth of each row and the valid-row mask, for the compact or the padded layout."""
    if rows == truth.num_queries:
        return truth.query_video, None
    if truth.query_masks is None:  # the shape checks admit other rows only for a padded layout
        raise ValueError(f"{rows:,} rows for {truth.num_queries:,} queries and no padded layout")
    captions = truth.captions_per_video
    query_video = np.repeat(np.arange(truth.num_videos, dtype=np.int64), captions)
    return query_video, truth.query_masks.reshape(-1)


def _score_matrix(
    sims: Any,
    truth: DatasetTruth,
    *,
    dataset: str,
    member: str,
    progress: Callable[[float], None] | None,
    threads: int | None,
    ranks_out: dict[str, Any] | None = None,
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    if truth.relevance is not None:
        return _score_relevance(
            sims,
            truth,
            truth.relevance,
            dataset=dataset,
            member=member,
            progress=progress,
            ranks_out=ranks_out,
            extra=extra,
        )
    query_video, valid = _rows_layout(truth, int(sims.shape[0]))
    ranks = retrieval_ranks(
        sims,
        query_video,
        valid_rows=valid,
        num_videos=truth.num_videos,
        dataset=dataset,
        member=member,
        progress=progress,
        threads=threads,
    )
    out: dict[str, Any] = {direction: metrics_from_ranks(r) for direction, r in ranks.items()}
    if extra:
        # One relevant video per query, with relevance metrics asked for: the rank metrics above are
        # untouched, the others come from the relevance kernel on the valid rows.
        compact = _to_numpy(sims)
        if valid is not None:
            compact = compact[np.flatnonzero(valid)]
        table = Relevance.one_per_query(truth.query_video, truth.num_videos)
        rows = relevance_directions(compact, table, metrics=extra, dataset=dataset, member=member)
        for direction, values in rows.items():
            out[direction].update({key: 100.0 * float(np.mean(v)) for key, v in values.values.items()})
    out["rank_histogram"] = rank_histogram(ranks["t2v"], num_videos=truth.num_videos)
    if ranks_out is not None:
        kept = _kept_ranks(ranks["t2v"], ranks.get("v2t"), truth, topk=None)
        if extra:
            kept.update(t2v_values=rows["t2v"].values, v2t_values=rows["v2t"].values)
        ranks_out[dataset] = kept
    return out


def _to_numpy(sims: Any) -> np.ndarray:
    if type(sims).__module__.startswith("torch"):
        array: np.ndarray = sims.detach().cpu().numpy()
        return array
    return np.asarray(sims)


def _score_relevance(
    sims: Any,
    truth: DatasetTruth,
    table: Relevance,
    *,
    dataset: str,
    member: str,
    progress: Callable[[float], None] | None,
    ranks_out: dict[str, Any] | None,
    extra: tuple[str, ...],
) -> dict[str, Any]:
    """Sets of relevant items (docs/design.md section 4): every metric from the relevance kernel."""
    rows = relevance_directions(
        _to_numpy(sims), table, metrics=extra, dataset=dataset, member=member, progress=progress
    )
    out: dict[str, Any] = {direction: summarise(values) for direction, values in rows.items()}
    out["rank_histogram"] = rank_histogram(rows["t2v"].first_rank, num_videos=truth.num_videos)
    if ranks_out is not None:
        kept = _kept_ranks(rows["t2v"].first_rank, rows["v2t"].first_rank, truth, topk=None)
        kept.update(t2v_values=rows["t2v"].values, v2t_values=rows["v2t"].values)
        ranks_out[dataset] = kept
    return out


def _kept_ranks(
    t2v: np.ndarray, v2t: np.ndarray | None, truth: DatasetTruth, *, topk: int | None
) -> dict[str, Any]:
    """The ranks `ranks_out` receives; float32 holds every half rank below 2**23 (V is at most 5,000,000).

    The callers add the relevance metrics' per-row values ("t2v_values", "v2t_values") where the
    dataset reports some; without them the entry is exactly the rank-only layout of before.
    """
    return {
        "t2v": np.asarray(t2v, dtype=np.float32),
        "v2t": None if v2t is None else np.asarray(v2t, dtype=np.float32),
        "groups": np.asarray(truth.query_video, dtype=np.int32),
        "topk": topk,
    }


def score_dataset(
    arrays: dict[str, np.ndarray],
    kind: str,
    truth: DatasetTruth,
    *,
    member: str,
    device: str = "cpu",
    progress: Callable[[float], None] | None = None,
    threads: int | None = None,
    blind: bool = False,
    ranks_out: dict[str, Any] | None = None,
    metrics: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score one dataset's loaded arrays.

    `metrics`: the relevance metrics to report beside the rank metrics (`relevance_metric_keys`).

    `blind`: the phase publishes its queries blind, so top-k rows must name their query.
    When `ranks_out` is given, ``ranks_out[dataset]`` receives the per-query ranks behind the
    metrics, for `evaluation.uncertainty`: {"t2v": (Q,) float32 0-based ranks in query order ("inf"
    where a top-k list misses the video), "v2t": (V,) float32 or None, "groups": (Q,) int32
    ground-truth video of each query, "topk": list length or None}, and where the dataset reports
    relevance metrics also "t2v_values" ({key: (Q,) float64 per-query value in [0, 1]}) and
    "v2t_values" (the same per v2t row, in the order of the v2t ranks; None for top-k lists): each
    reported relevance metric is exactly ``100 * np.mean`` of its values. The returned metrics are the same.

    Returns {"t2v": metrics, "v2t": metrics or None, "rank_histogram": the t2v ranks'
    `rank_histogram`, with bins up to the number of videos (top-k lists: up to k, then a "beyond
    top-k" bin for the queries whose video is not listed)}.
    """
    dataset = truth.name
    extra = relevance_metric_keys(metrics, truth)
    if kind == KIND_TOPK:
        query_order = "blind" if blind else "as_uploaded"
        shape = shapes_from_truth(GroundTruth("", "", {dataset: truth}, query_order=query_order))[dataset]
        topk = topk_rows_in_query_order(
            arrays["topk"], arrays.get("query_ids"), truth.query_ids, shape, dataset=dataset, member=member
        )
        check_topk(topk, shape, dataset=dataset, member=member)
        if truth.relevance is not None or extra:
            table = truth.relevance or Relevance.one_per_query(truth.query_video, truth.num_videos)
            listed = topk_relevance_metrics(topk, table, extra)
            ranks, t2v, values = listed["first_rank"], listed["metrics"], listed["values"]
            if truth.one_positive:
                t2v.update(topk_metrics(topk, truth.query_video))
        else:
            ranks = topk_ranks(topk, truth.query_video)
            t2v = topk_metrics(topk, truth.query_video)
            values = {}
        if ranks_out is not None:
            ranks_out[dataset] = _kept_ranks(ranks, None, truth, topk=int(topk.shape[1]))
            if values:
                ranks_out[dataset].update(t2v_values=values, v2t_values=None)
        return {
            "t2v": t2v,
            "v2t": None,
            "rank_histogram": rank_histogram(ranks, num_videos=truth.num_videos, topk=int(topk.shape[1])),
        }
    if kind == KIND_EMBEDDINGS:
        _check_finite_embeddings(arrays["text"], dataset=dataset, member=member)
        _check_finite_embeddings(arrays["video"], dataset=dataset, member=member)
        sims = _similarities_from_embeddings(arrays["text"], arrays["video"], device)
    elif kind == KIND_SIMILARITY:
        sims = _on_device(arrays["sims"], device)
    else:
        raise ValueError(f"unknown submission kind {kind!r}")
    return _score_matrix(
        sims,
        truth,
        dataset=dataset,
        member=member,
        progress=progress,
        threads=threads,
        ranks_out=ranks_out,
        extra=extra,
    )


def overall_score(scores: dict[str, float], phase_datasets: list[str], aggregation: str) -> float | None:
    """Mean (or sum) of the per-dataset scores; None when a phase dataset is missing.

    >>> overall_score({"A": 10.0, "B": 20.0}, ["A", "B"], "mean")
    15.0
    >>> overall_score({"A": 10.0}, ["A", "B"], "mean") is None
    True
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {AGGREGATIONS}")
    if any(name not in scores for name in phase_datasets):
        return None
    values = [scores[name] for name in phase_datasets]
    total = float(sum(values))
    return total / len(values) if aggregation == "mean" else total


def challenge_datasets(ground_truth: GroundTruth, datasets: Sequence[str] | None = None) -> tuple[str, ...]:
    """The dataset names a submission may use: the challenge's (`datasets`) when given, else the
    ground truth's, with the rest of the Pentathlon five when the phase is a Pentathlon one (so a
    file naming another of them is told it is not part of this phase).

    >>> challenge_datasets(GroundTruth("c", "val", {"MyClips": None}))
    ('MyClips',)
    """
    names = tuple(ground_truth.datasets)
    if datasets is not None:
        return tuple(dict.fromkeys((*names, *datasets)))
    if all(name in PENTATHLON_DATASETS for name in names):
        return tuple(dict.fromkeys((*names, *PENTATHLON_DATASETS)))
    return names


def prepare_submission(
    *,
    ground_truth: GroundTruth,
    submission_path: str | os.PathLike[str],
    limits: ReadLimits | None = None,
    file_name: str | None = None,
    datasets: Sequence[str] | None = None,
) -> SubmissionManifest:
    """Header-level checks against the phase: everything that can be rejected before reading data.

    `datasets`: the challenge's dataset names (see `challenge_datasets`).
    """
    manifest = inspect_submission(
        submission_path,
        limits=limits,
        file_name=file_name,
        datasets=challenge_datasets(ground_truth, datasets),
    )
    check_manifest(manifest, shapes_from_truth(ground_truth))
    return manifest


def score_submission(
    *,
    ground_truth: GroundTruth,
    submission_path: str | os.PathLike[str],
    aggregation: str = "mean",
    device: str = "cpu",
    limits: ReadLimits | None = None,
    progress: ProgressCallback | None = None,
    threads: int | None = None,
    ranks_out: dict[str, Any] | None = None,
    file_name: str | None = None,
    metrics: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score a submission file against a phase's ground truth.

    Args:
        ground_truth: the phase's hidden ground truth.
        submission_path: a .zip, .npz or .h5 submission holding any subset of the phase's datasets.
        aggregation: "mean" (default) or "sum" of the per-dataset scores.
        device: "cpu", "cuda" or "auto".
        limits: declared-size limits; defaults to ReadLimits().
        progress: called as progress(stage, dataset or None, fraction of that stage).
        threads: CPU threads for the rank kernel (default: the cores, for large matrices).
        ranks_out: when given, receives each scored dataset's per-query ranks (see `score_dataset`),
            to keep privately beside the result (`evaluation.uncertainty.pack_ranks`); the report
            is unchanged.
        file_name: what messages and members call the file (the participant's file name; the server's
            stored name is never shown); default: the path's last part.
        metrics: relevance metrics (registry keys such as "mAP@10", "nDCG") to report beside the rank
            metrics; None: none on one relevant video per query, DEFAULT_RELEVANCE_METRICS on sets.
        datasets: the challenge's dataset names (the phase's may be fewer); see `challenge_datasets`.
    Returns:
        The report: scorer_version, challenge, phase, aggregation, overall_score (None unless every
        phase dataset is present), datasets {name: format, member, num_queries, num_videos, score,
        t2v, v2t (None for top-k lists), rank_histogram (t2v, see `rank_histogram`)}, missing_datasets.
    Raises:
        SubmissionError: the submission cannot be scored; the message names dataset and member.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {AGGREGATIONS}")
    wanted = metrics
    for truth in ground_truth.datasets.values():
        relevance_metric_keys(wanted, truth)  # an unknown key fails before any work
    device = resolve_device(device)
    report_progress: ProgressCallback = progress or (lambda stage, dataset, fraction: None)
    report_progress(STAGE_VALIDATING, None, 0.0)
    manifest = prepare_submission(
        ground_truth=ground_truth,
        submission_path=submission_path,
        limits=limits,
        file_name=file_name,
        datasets=datasets,
    )
    phase_datasets = list(ground_truth.datasets)
    ordered = [name for name in phase_datasets if name in manifest.entries]
    results: dict[str, Any] = {}
    for name in ordered:
        entry = manifest.entries[name]
        truth = ground_truth.datasets[name]
        report_progress(STAGE_READING, name, 0.0)
        bounds = TopkBounds.for_gallery(rows=truth.num_queries, gallery=truth.videos)
        arrays = load_entry(
            submission_path, manifest, name, limits=limits, topk_bounds=bounds, file_name=file_name
        )
        report_progress(STAGE_SCORING, name, 0.0)
        scored = score_dataset(
            arrays,
            entry.kind,
            truth,
            member=entry.members,
            device=device,
            threads=threads,
            blind=ground_truth.blind,
            progress=partial(report_progress, STAGE_SCORING, name),
            ranks_out=ranks_out,
            metrics=wanted,
        )
        del arrays
        results[name] = {
            "format": entry.kind,
            "member": entry.members,
            "num_queries": truth.num_queries,
            "num_videos": truth.num_videos,
            "score": scored["t2v"][GEOMETRIC_MEAN_KEY],
            "t2v": scored["t2v"],
            "v2t": scored.get("v2t"),
            "rank_histogram": scored.get("rank_histogram"),
        }
        report_progress(STAGE_SCORING, name, 1.0)
    scores = {name: r["score"] for name, r in results.items() if r["score"] is not None}
    report = {
        "scorer_version": SCORER_VERSION,
        "challenge": ground_truth.challenge,
        "phase": ground_truth.phase,
        "aggregation": aggregation,
        "device": device,
        "overall_score": overall_score(scores, phase_datasets, aggregation),
        "datasets": results,
        "missing_datasets": [name for name in phase_datasets if name not in results],
    }
    report_progress(STAGE_DONE, None, 1.0)
    return report
