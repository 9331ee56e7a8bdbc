"""Synthetic ground truth and submissions in the real formats, for the demo, tests and benchmarks.

Real data cannot be downloaded here, so these generators reproduce the 2020 challenge's shapes
(docs/design.md section 7) exactly at `full` scale, and small versions of them at `tiny` scale.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import h5py
import numpy as np

from .datasets import PENTATHLON_DATASETS
from .ground_truth import DatasetTruth, GroundTruth, dataset_truth


@dataclass(frozen=True)
class SplitSize:
    videos: int
    queries: int
    captions_per_video: int


#: The 2020 challenge's numbers (docs/design.md section 7).
PENTATHLON_SIZES: dict[str, dict[str, SplitSize]] = {
    "val": {
        "MSRVTT": SplitSize(497, 9_940, 20),
        "MSVD": SplitSize(100, 4_290, 81),
        "DiDeMo": SplitSize(1_065, 1_065, 1),
        "YouCook2": SplitSize(969, 969, 1),
        "ActivityNet": SplitSize(1_001, 1_001, 1),
    },
    "test": {
        "MSRVTT": SplitSize(2_990, 59_794, 20),
        "MSVD": SplitSize(670, 27_763, 81),
        "DiDeMo": SplitSize(1_004, 1_004, 1),
        "YouCook2": SplitSize(3_310, 3_310, 1),
        "ActivityNet": SplitSize(4_917, 4_917, 1),
    },
}

#: Small shapes with the same structure (several captions, missing ones, one per video).
TINY_SIZES: dict[str, SplitSize] = {
    "MSRVTT": SplitSize(30, 118, 4),
    "MSVD": SplitSize(20, 97, 9),
    "DiDeMo": SplitSize(25, 25, 1),
    "YouCook2": SplitSize(22, 22, 1),
    "ActivityNet": SplitSize(28, 28, 1),
}

SCALES = ("tiny", "full")


def split_sizes(phase: str, scale: str) -> dict[str, SplitSize]:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {SCALES}")
    if scale == "tiny":
        return dict(TINY_SIZES)
    key = "test" if phase.lower().startswith("test") else "val"
    return dict(PENTATHLON_SIZES[key])


def _caption_counts(size: SplitSize, rng: np.random.Generator) -> np.ndarray:
    """Captions per video summing to the query count, each in [1, K], at least one video with K."""
    videos, queries, k = size.videos, size.queries, size.captions_per_video
    if not videos <= queries <= videos * k:
        raise ValueError(f"{queries} queries cannot be spread over {videos} videos of at most {k} captions")
    counts = np.ones(videos, dtype=np.int64)
    counts[0] = k
    remaining = queries - counts.sum()
    while remaining > 0:
        room = np.flatnonzero(counts < k)
        chosen = rng.choice(room, size=min(remaining, room.size), replace=False)
        counts[chosen] += 1
        remaining -= chosen.size
    return counts


_SUBJECTS = ("a man", "a woman", "a child", "two people", "a chef", "a dog", "a band", "a player", "a cat")
_VERBS = (
    "is cooking",
    "is playing",
    "talks about",
    "is dancing with",
    "shows",
    "is cutting",
    "rides",
    "paints",
)
_OBJECTS = ("a guitar", "some vegetables", "a ball", "the camera", "a bicycle", "a cake", "a car", "a puppy")
_PLACES = ("in a kitchen", "on a stage", "outside", "in a park", "at home", "on the street", "in a studio")


def synthetic_query_texts(count: int, rng: np.random.Generator) -> list[str]:
    """Plausible captions, drawn independently of the videos (they reveal nothing of the answers)."""
    parts = [rng.integers(0, len(words), size=count) for words in (_SUBJECTS, _VERBS, _OBJECTS, _PLACES)]
    return [
        f"{_SUBJECTS[a]} {_VERBS[b]} {_OBJECTS[c]} {_PLACES[d]}"
        for a, b, c, d in zip(*(p.tolist() for p in parts), strict=True)
    ]


def synthetic_dataset_truth(
    name: str, size: SplitSize, *, phase: str, seed: int = 0, shuffled: bool = False
) -> DatasetTruth:
    """One dataset's ground truth; grouped by video unless `shuffled` (opaque ids, random order)."""
    rng = np.random.default_rng(
        [seed, PENTATHLON_DATASETS.index(name) if name in PENTATHLON_DATASETS else 99]
    )
    prefix = name.lower()
    videos = [f"{prefix}-video{i:05d}" for i in range(size.videos)]
    counts = _caption_counts(size, rng)
    masks = np.arange(size.captions_per_video)[None, :] < counts[:, None]
    query_video = np.repeat(np.arange(size.videos), counts)
    query_ids = [f"{prefix}-{phase}-{v:05d}-c{c:02d}" for v, n in enumerate(counts) for c in range(n)]
    # A stream of its own, so adding texts changed no id, order or count drawn above.
    texts = synthetic_query_texts(len(query_ids), np.random.default_rng([seed, len(videos), 1]))
    if not shuffled:
        return dataset_truth(
            name=name,
            videos=videos,
            query_ids=query_ids,
            query_video=query_video,
            query_masks=masks,
            query_text=texts,
        )
    order = rng.permutation(len(query_ids))
    opaque = [f"q{token:016x}" for token in rng.integers(0, 2**63, size=len(order), dtype=np.int64)]
    return dataset_truth(
        name=name,
        videos=videos,
        query_ids=opaque,
        query_video=query_video[order],
        query_text=[texts[i] for i in order],
    )


def pentathlon_ground_truth(
    *,
    phase: str,
    scale: str = "tiny",
    seed: int = 0,
    shuffled: bool = False,
    datasets: tuple[str, ...] = PENTATHLON_DATASETS,
    challenge: str = "Video Pentathlon",
) -> GroundTruth:
    """The five datasets of a val or test phase at `tiny` or `full` (the real counts) scale."""
    sizes = split_sizes(phase, scale)
    return GroundTruth(
        challenge=challenge,
        phase=phase,
        datasets={
            name: synthetic_dataset_truth(name, sizes[name], phase=phase, seed=seed, shuffled=shuffled)
            for name in datasets
        },
    )


#: `tiny` scale divides a preset's counts by this (at least a dozen items each).
TINY_DIVISOR = 40


def preset_ground_truth(key: str, *, phase: str = "val", scale: str = "tiny", seed: int = 0) -> GroundTruth:
    """A phase's ground truth in the shapes of the preset `key` (`evaluation.presets`): its real counts
    at `full` scale, the same structure smaller at `tiny`. One relevant item per caption, grouped by
    item, where the preset has one; sets of relevant items (the caption's own item and up to
    `extra_relevant` others) or graded relevance otherwise (version 2 of the ground truth).

    >>> truth = preset_ground_truth("dcase-audio-retrieval", seed=0)
    >>> d = truth.datasets["Clotho"]
    >>> (d.num_queries, d.num_videos, d.relevance is not None, int(d.relevance.per_query().max()) > 1)
    (130, 26, True, True)
    """
    from .presets import preset

    chosen = preset(key)
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {SCALES}")
    if key == "pentathlon-2020":
        return pentathlon_ground_truth(phase=phase, scale=scale, seed=seed, challenge=chosen.title)
    datasets = {}
    for offset, spec in enumerate(chosen.datasets):
        shrink = 1 if scale == "full" else TINY_DIVISOR
        items = max(12, spec.items // shrink)
        rng = np.random.default_rng([seed, offset, 28])
        if spec.num_queries is None and not spec.extra_relevant and not spec.graded:
            size = SplitSize(items, items * spec.captions, spec.captions)
            datasets[spec.name] = synthetic_dataset_truth(spec.name, size, phase=phase, seed=seed + offset)
            continue
        prefix = spec.name.lower()
        videos = [f"{prefix}-clip{i:05d}" for i in range(items)]
        if spec.num_queries is None:
            own = np.repeat(np.arange(items), spec.captions)
        else:
            own = rng.integers(0, items, size=max(12, spec.num_queries // shrink))
        queries = own.size
        if spec.graded:
            # each cell relevant with probability `density`, its own item always, grades in (0, 1]
            cells = rng.random((queries, items)) < spec.density
            cells[np.arange(queries), own] = True
            rel_query, rel_item = np.nonzero(cells)
            grade = rng.choice(np.array([0.25, 0.5, 0.75, 1.0]), size=rel_query.size)
            grade[own[rel_query] == rel_item] = 1.0
        else:
            extra = rng.integers(0, spec.extra_relevant + 1, size=queries)
            pairs = []
            for q, (item, more) in enumerate(zip(own.tolist(), extra.tolist(), strict=True)):
                others = rng.choice(items - 1, size=more, replace=False)
                others = others + (others >= item)  # never the caption's own item again
                pairs += [(q, item), *((q, int(o)) for o in others)]
            rel_query, rel_item = np.array(pairs, dtype=np.int64).T
            grade = None
        texts = synthetic_query_texts(queries, np.random.default_rng([seed, offset, 1]))
        datasets[spec.name] = dataset_truth(
            name=spec.name,
            videos=videos,
            query_ids=[f"{prefix}-{phase}-q{q:05d}" for q in range(queries)],
            rel_query=rel_query,
            rel_item=rel_item,
            rel_grade=grade,
            query_text=texts,
        )
    return GroundTruth(challenge=chosen.title, phase=phase, datasets=datasets)


def similarity_matrices(
    truth: GroundTruth, *, seed: int = 0, noise: float = 1.0, dtype: type = np.float32
) -> dict[str, np.ndarray]:
    """Compact Q x V matrices: Gaussian noise plus 1 on each query's ground-truth video."""
    out: dict[str, np.ndarray] = {}
    for offset, (name, d) in enumerate(truth.datasets.items()):
        rng = np.random.default_rng([seed, offset])
        sims = rng.standard_normal((d.num_queries, d.num_videos), dtype=np.float32)
        sims *= np.float32(noise)
        sims[np.arange(d.num_queries), d.query_video] += 1.0
        out[name] = sims.astype(dtype, copy=False)
    return out


def embedding_pairs(
    truth: GroundTruth, *, dim: int = 64, seed: int = 0, noise: float = 1.0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(text Q x D, video V x D) float32 embeddings whose products favour the ground truth."""
    out = {}
    for offset, (name, d) in enumerate(truth.datasets.items()):
        rng = np.random.default_rng([seed, offset, 7])
        video = rng.standard_normal((d.num_videos, dim), dtype=np.float32)
        text = video[d.query_video] + np.float32(noise) * rng.standard_normal(
            (d.num_queries, dim), dtype=np.float32
        )
        out[name] = (text, video)
    return out


def topk_lists(sims: np.ndarray, k: int = 10) -> np.ndarray:
    """The k best video indices of each row, best first (what the 2020 baseline tools wrote)."""
    part = np.argpartition(-sims, kth=k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def write_npz_submission(path: str | os.PathLike[str], matrices: dict[str, np.ndarray]) -> None:
    """An .npz with one similarity matrix per dataset, named after it."""
    np.savez(path, allow_pickle=False, **matrices)


def write_embeddings_npz(
    path: str | os.PathLike[str], pairs: dict[str, tuple[np.ndarray, np.ndarray]]
) -> None:
    arrays = {}
    for name, (text, video) in pairs.items():
        arrays[f"{name}_text"], arrays[f"{name}_video"] = text, video
    np.savez(path, allow_pickle=False, **arrays)


def write_h5_submission(path: str | os.PathLike[str], matrices: dict[str, np.ndarray]) -> None:
    with h5py.File(path, "w") as handle:
        for name, sims in matrices.items():
            handle.create_group(name).create_dataset("sims", data=sims)


def codalab_csv(topk: np.ndarray, query_ids: Sequence[str] | None = None) -> bytes:
    """Top-k rows as CSV: bare indices (the 2020 format) or, with `query_ids`, each row led by its query's id."""
    buffer = io.StringIO()
    if query_ids is None:
        np.savetxt(buffer, topk, fmt="%d", delimiter=",")
        return buffer.getvalue().encode()
    if len(query_ids) != len(topk):
        raise ValueError(f"{len(query_ids)} query ids for {len(topk)} rows")
    buffer.write("query_id," + ",".join(f"rank_{i + 1}" for i in range(topk.shape[1])) + "\n")
    for query, row in zip(query_ids, topk.tolist(), strict=True):
        buffer.write(f"{query},{','.join(map(str, row))}\n")
    return buffer.getvalue().encode()


def gallery_id_csv(topk: np.ndarray, gallery: Sequence[str], query_ids: Sequence[str] | None = None) -> bytes:
    """Top-k rows as a CSV of gallery ids under a `gallery_ids` header (`query_id,gallery_ids` with ids)."""
    names = np.asarray(gallery, dtype=object)[np.asarray(topk)]
    lines = ["gallery_ids" if query_ids is None else "query_id,gallery_ids"]
    if query_ids is None:
        lines.extend(",".join(row) for row in names.tolist())
    else:
        lines.extend(f"{query},{','.join(row)}" for query, row in zip(query_ids, names.tolist(), strict=True))
    return ("\n".join(lines) + "\n").encode()


def topk_json(topk: np.ndarray, gallery: Sequence[str], query_ids: Sequence[str]) -> bytes:
    """Top-k rows as the JSON top-k: {query id: [gallery ids, best first]}."""
    names = np.asarray(gallery, dtype=object)[np.asarray(topk)].tolist()
    return json.dumps(dict(zip(query_ids, names, strict=True))).encode()


def write_codalab_zip(
    path: str | os.PathLike[str],
    matrices: dict[str, np.ndarray],
    *,
    phase_slug: str,
    k: int = 10,
    query_ids: dict[str, Sequence[str]] | None = None,
) -> None:
    """The 2020 CodaLab format: `{Dataset}-{phase}-predictions.csv` of top-k indices, zipped; with
    `query_ids` ({dataset: ids in row order}) every row names its query, as blind phases require."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, sims in matrices.items():
            ids = None if query_ids is None else query_ids[name]
            archive.writestr(f"{name}-{phase_slug}-predictions.csv", codalab_csv(topk_lists(sims, k), ids))


def write_gallery_id_zip(
    path: str | os.PathLike[str],
    truth: GroundTruth,
    matrices: dict[str, np.ndarray],
    *,
    phase_slug: str,
    k: int = 10,
    form: str = "json",
) -> None:
    """Top-k lists of gallery ids, each row naming its query (`truth`'s ids and gallery): the JSON
    top-k `{Dataset}-{phase}-predictions.json` (form "json") or a CSV under a `query_id,gallery_ids`
    header (form "csv")."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, sims in matrices.items():
            d = truth.datasets[name]
            lists = topk_lists(sims, k)
            if form == "json":
                archive.writestr(
                    f"{name}-{phase_slug}-predictions.json", topk_json(lists, d.videos, d.query_ids)
                )
            else:
                archive.writestr(
                    f"{name}-{phase_slug}-predictions.csv", gallery_id_csv(lists, d.videos, d.query_ids)
                )


def write_npy_zip(path: str | os.PathLike[str], matrices: dict[str, np.ndarray]) -> None:
    """A zip of `{Dataset}.npy` similarity matrices (stored, not deflated: they barely compress)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, sims in matrices.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(sims), allow_pickle=False)
