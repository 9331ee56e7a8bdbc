"""The public description of a phase, read from an unpacked starter kit: shapes, query ids and gallery
ids, and the stand-in ground truth that the offline checks score against."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cli.errors import EXIT_ERROR, CliError
from evaluation.datasets import PENTATHLON_DATASETS
from evaluation.errors import EvaluationError
from evaluation.validation import DatasetShape, shapes_from_json


@dataclass(frozen=True)
class Kit:
    """The public description of a phase: shapes and, when known, challenge and phase slugs, the
    published query ids of each dataset (`{Dataset}/queries.txt` of an unpacked kit) and its gallery ids
    in column order (`{Dataset}/videos.txt`), against which top-k lists of gallery ids are read."""

    shapes: dict[str, DatasetShape]
    phase_slug: str | None = None
    challenge: str | None = None
    phase_id: int | None = None
    query_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)
    gallery_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def blind(self) -> bool:
        return any(shape.blind for shape in self.shapes.values())


def load_kit(*, kit_dir: Path | None = None, shapes_file: Path | None = None) -> Kit:
    """Read `shapes.json` from a starter-kit directory, or a shapes file given directly."""
    path = shapes_file if shapes_file is not None else Path(kit_dir or ".") / "shapes.json"
    if not path.is_file():
        where = f"the directory {kit_dir}" if shapes_file is None else "this path"
        raise CliError(
            f"There is no shapes file at {path}; is {where} an unpacked starter kit"
            " (`pentathlon kit PHASE_ID`)?"
        )
    try:
        shapes = shapes_from_json(path)
    except EvaluationError as exc:
        raise CliError(f"The shapes file {path} is not valid: {exc}.", EXIT_ERROR) from exc
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        raw = {}
    meta = raw if isinstance(raw, dict) else {}
    phase_id = meta.get("phase_id")
    return Kit(
        shapes=shapes,
        phase_slug=meta.get("phase") or None,
        challenge=meta.get("challenge") or None,
        phase_id=phase_id if isinstance(phase_id, int) else None,
        query_ids=_kit_query_ids(path.parent, shapes),
        gallery_ids=_kit_gallery_ids(path.parent, shapes),
    )


def _kit_query_ids(kit_dir: Path, shapes: dict[str, DatasetShape]) -> dict[str, tuple[str, ...]]:
    """Each dataset's `queries.txt` beside the shapes file, where it lists one id per query."""
    found = {}
    for name, shape in shapes.items():
        try:
            ids = tuple((kit_dir / name / "queries.txt").read_text(encoding="utf-8").split())
        except (OSError, UnicodeDecodeError):
            continue
        if len(ids) == shape.num_queries:
            found[name] = ids
    return found


def _kit_gallery_ids(kit_dir: Path, shapes: dict[str, DatasetShape]) -> dict[str, tuple[str, ...]]:
    """Each dataset's `videos.txt` beside the shapes file (one id a line, column order), where it lists
    one id per video."""
    found = {}
    for name, shape in shapes.items():
        try:
            ids = tuple((kit_dir / name / "videos.txt").read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError):
            continue
        if len(ids) == shape.num_videos:
            found[name] = ids
    return found


def _stand_in_truth(name: str, shape: DatasetShape, query_ids: tuple[str, ...] | None = None) -> Any:
    """A valid ground truth with the public shapes (and the kit's query ids, when known) and an arbitrary
    mapping: enough to run every value check."""
    from evaluation.ground_truth import dataset_truth

    queries, videos = shape.num_queries, shape.num_videos
    ids = query_ids or [f"q{i}" for i in range(queries)]
    if queries < videos:
        # Fewer queries than items (EPIC-KITCHENS-100's shapes): one query per video would leave
        # videos without a query, which version 1 refuses; relevance triples allow it.
        diagonal = np.arange(queries, dtype=np.int64)
        return dataset_truth(
            name=name,
            videos=[f"v{i}" for i in range(videos)],
            query_ids=ids,
            rel_query=diagonal,
            rel_item=diagonal,
            rel_grade=np.ones(queries),
        )
    return dataset_truth(
        name=name,
        videos=[f"v{i}" for i in range(videos)],
        query_ids=ids,
        query_video=np.arange(queries, dtype=np.int64) % videos,
    )


def _submission_names(kit: Kit) -> tuple[str, ...]:
    """The names a file may use, as the server's `evaluation.scoring.challenge_datasets` has them: the
    kit's datasets, with the rest of the Pentathlon five for a Pentathlon phase (so that a file naming
    another of them is told it is not part of this phase)."""
    names = tuple(kit.shapes)
    if all(name in PENTATHLON_DATASETS for name in names):
        return tuple(dict.fromkeys((*names, *PENTATHLON_DATASETS)))
    return names


def known_datasets(kit: Kit | None) -> tuple[str, ...]:
    return tuple(kit.shapes) if kit is not None else PENTATHLON_DATASETS
