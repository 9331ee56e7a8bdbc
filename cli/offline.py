"""Offline work with the evaluation core: validating a submission against a kit, packing one.

Validation runs the server's own checks (`evaluation.io.inspect_submission`,
`evaluation.validation.check_manifest`, then `evaluation.scoring.score_dataset` on every value)
against the kit's public shapes, so a rejection reads exactly as the server's would. The ground
truth stays on the server: the value checks score against a stand-in mapping and the scores are
thrown away. One case cannot be checked offline: the values of a padded (V*K rows) matrix, since
which of its rows are real captions is not published; the server checks those.
"""

from __future__ import annotations

import functools
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cli.errors import EXIT_ERROR, CliError
from evaluation.datasets import PENTATHLON_DATASETS, canonical_dataset_name
from evaluation.errors import EvaluationError, SubmissionFormatError
from evaluation.io import (
    FLOAT_DTYPES,
    KIND_EMBEDDINGS,
    KIND_SIMILARITY,
    MIN_TOPK,
    inspect_submission,
    load_entry,
)
from evaluation.metrics.retrieval import NON_FINITE_MESSAGE
from evaluation.scoring import score_dataset
from evaluation.synthetic import codalab_csv, topk_lists
from evaluation.validation import DatasetShape, check_manifest, shapes_from_json

SUBMISSION_SUFFIXES = (".zip", ".npz", ".h5", ".hdf5")
PADDED_NOT_CHECKED = (
    "padded layout: values are checked on the server (which rows hold captions is not published)"
)
TOPK_BLOCK_ROWS = 4096

#: progress(description, completed, total)
Progress = Callable[[str, float, float], None]


def _no_progress(description: str, completed: float, total: float) -> None:
    return None


@dataclass(frozen=True)
class Kit:
    """The public description of a phase: shapes and, when known, challenge and phase slugs and the
    published query ids of each dataset (`{Dataset}/queries.txt` of an unpacked kit)."""

    shapes: dict[str, DatasetShape]
    phase_slug: str | None = None
    challenge: str | None = None
    phase_id: int | None = None
    query_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)

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


def check_submission_name(path: Path) -> None:
    if path.suffix.lower() not in SUBMISSION_SUFFIXES:
        raise SubmissionFormatError(
            "the file name does not end in .zip, .npz or .h5; the server accepts those", member=path.name
        )


def validate_submission(
    path: Path, kit: Kit, *, deep: bool = True, progress: Progress = _no_progress
) -> list[dict[str, Any]]:
    """Check a submission as the server does; returns one summary row per dataset found.

    Raises:
        SubmissionError: the server would reject the file; the message is the server's.
    """
    if not path.is_file():
        raise CliError(f"The submission {path} does not exist or is not a file.")
    check_submission_name(path)
    manifest = inspect_submission(path, datasets=_submission_names(kit))
    check_manifest(manifest, kit.shapes)
    rows = []
    names = [name for name in kit.shapes if name in manifest.entries]
    for index, name in enumerate(names):
        entry, shape = manifest.entries[name], kit.shapes[name]
        arrays_text = ", ".join(
            f"{info.member} {_shape_text(info.shape)} {info.dtype}"
            for info in entry.arrays.values()
            if info.shape != (-1, -1)
        )
        row = {
            "dataset": name,
            "format": entry.kind,
            "arrays": arrays_text or entry.members,
            "checked": "headers",
        }
        if deep:
            progress(f"checking {name}", index, len(names))
            arrays = load_entry(path, manifest, name, topk_bounds=shape.topk_bounds())
            padded = entry.kind == KIND_SIMILARITY and arrays["sims"].shape[0] != shape.num_queries
            if padded:
                row["checked"] = PADDED_NOT_CHECKED
            else:
                if entry.kind == "topk":
                    row["arrays"] = f"{entry.members} {_shape_text(arrays['topk'].shape)} (top-k)"
                score_dataset(
                    arrays,
                    entry.kind,
                    _stand_in_truth(name, shape, kit.query_ids.get(name)),
                    member=entry.members,
                    blind=shape.blind,
                    progress=functools.partial(_dataset_progress, progress, name, index, len(names)),
                )
                row["checked"] = "headers and values"
            del arrays
        rows.append(row)
    progress("done", len(names), max(len(names), 1))
    return rows


def _dataset_progress(progress: Progress, name: str, index: int, count: int, fraction: float) -> None:
    """`progress` of the whole check from the fraction of dataset `index` scored so far."""
    progress(f"checking {name}", index + fraction, count)


def _shape_text(shape: tuple[int, ...]) -> str:
    return " x ".join(f"{n:,}" for n in shape)


# ----------------------------------------------------------------------------------------------- pack


@dataclass
class PackInput:
    dataset: str
    kind: str  # similarity or embeddings
    paths: dict[str, Path]  # role -> file: sims, or text and video


def find_inputs(directory: Path, known: tuple[str, ...] | list[str]) -> dict[str, PackInput]:
    """Per-dataset inputs in `directory`: `{Dataset}.npy`, or `{Dataset}_text.npy` + `{Dataset}_video.npy`.

    Dataset names match case-insensitively (`activity-net` accepted). Other files are ignored.
    """
    if not directory.is_dir():
        raise CliError(f"The input directory {directory} does not exist.")
    found: dict[str, PackInput] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() != ".npy" or not path.is_file():
            continue
        stem, role, kind = path.stem, "sims", KIND_SIMILARITY
        for suffix in ("_text", "_video"):
            if stem.lower().endswith(suffix):
                stem, role, kind = stem[: -len(suffix)], suffix[1:], KIND_EMBEDDINGS
        name = canonical_dataset_name(stem, known=tuple(known), member=path.name)
        item = found.setdefault(name, PackInput(dataset=name, kind=kind, paths={}))
        if item.kind != kind or role in item.paths:
            raise SubmissionFormatError(
                "the dataset has more than one input; expected either '<Dataset>.npy' or"
                " '<Dataset>_text.npy' with '<Dataset>_video.npy'",
                dataset=name,
                member=path.name,
            )
        item.paths[role] = path
    for item in found.values():
        if item.kind == KIND_EMBEDDINGS and set(item.paths) != {"text", "video"}:
            missing = ({"text", "video"} - set(item.paths)).pop()
            raise SubmissionFormatError(
                f"embeddings need both '{item.dataset}_text.npy' and"
                f" '{item.dataset}_video.npy'; the {missing} file is missing",
                dataset=item.dataset,
            )
    if not found:
        raise CliError(
            f"No '<Dataset>.npy' or '<Dataset>_text.npy'/'<Dataset>_video.npy' files in {directory};"
            f" dataset names are {', '.join(known)}."
        )
    order = {name: i for i, name in enumerate(known)}
    return dict(sorted(found.items(), key=lambda kv: order.get(kv[0], len(order))))


def _open_array(path: Path, dataset: str) -> np.ndarray:
    try:
        array: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise SubmissionFormatError(
            f"cannot be read as a numeric .npy array ({exc})", dataset=dataset, member=path.name
        ) from exc
    except OSError as exc:
        raise CliError(f"The file {path} cannot be read ({exc.strerror or exc}).") from exc
    if array.dtype.newbyteorder("=").name not in FLOAT_DTYPES:
        raise SubmissionFormatError(
            f"has dtype {array.dtype}; expected float16, float32 or float64 (pack keeps"
            " the dtype, it never converts)",
            dataset=dataset,
            member=path.name,
        )
    if array.ndim != 2:
        raise SubmissionFormatError(
            f"has shape {array.shape}; expected a 2-D array", dataset=dataset, member=path.name
        )
    return array


class _CountingWriter:
    def __init__(self, target: Any, on_bytes: Callable[[int], None]) -> None:
        self.target, self.on_bytes = target, on_bytes

    def write(self, data: Any) -> int:
        written: int = self.target.write(data)
        self.on_bytes(len(memoryview(data).cast("B")))
        return written


def pack_npz(
    inputs: dict[str, PackInput], output: Path, *, progress: Progress = _no_progress
) -> list[dict[str, Any]]:
    """Write an uncompressed .npz keeping every input's dtype; arrays stream from memory-mapped inputs."""
    arrays = {}
    for item in inputs.values():
        for role, path in item.paths.items():
            key = item.dataset if role == "sims" else f"{item.dataset}_{role}"
            arrays[key] = (_open_array(path, item.dataset), item)
    for item in inputs.values():
        if item.kind == KIND_EMBEDDINGS:
            text, video = arrays[f"{item.dataset}_text"][0], arrays[f"{item.dataset}_video"][0]
            if text.shape[1] != video.shape[1]:
                raise SubmissionFormatError(
                    f"text embeddings have dimension {text.shape[1]} but video embeddings {video.shape[1]};"
                    " expected the same dimension",
                    dataset=item.dataset,
                    member=f"{item.paths['text'].name} + {item.paths['video'].name}",
                )
    total = sum(a.nbytes for a, _ in arrays.values())
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        progress(f"writing {output.name}", done, total)

    rows = []
    try:
        with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, (array, item) in arrays.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(_CountingWriter(member, advance), array, allow_pickle=False)
                rows.append(
                    {
                        "dataset": item.dataset,
                        "format": item.kind,
                        "array": key,
                        "shape": _shape_text(array.shape),
                        "dtype": array.dtype.name,
                    }
                )
    except OSError as exc:
        output.unlink(missing_ok=True)
        raise CliError(f"The submission cannot be written to {output} ({exc.strerror or exc}).") from exc
    return rows


def pack_topk(
    inputs: dict[str, PackInput],
    output: Path,
    *,
    k: int,
    phase_slug: str,
    progress: Progress = _no_progress,
    query_ids: dict[str, tuple[str, ...]] | None = None,
) -> list[dict[str, Any]]:
    """Write a zip of `{Dataset}-{phase}-predictions.csv` top-k lists (the 2020 CodaLab format).

    Similarities are ranked in their own precision (float64 stays float64); embeddings are scored
    as text @ video.T in float32, in row blocks. With `query_ids` (a blind phase's kit) every row
    starts with its query's id.
    """
    if k < MIN_TOPK:
        raise CliError(
            f"--topk must be at least {MIN_TOPK}; the server needs {MIN_TOPK} or more videos per row."
        )
    loaded = {item.dataset: _topk_input(item, k, query_ids) for item in inputs.values()}
    total_rows = sum(rows for _, _, rows in loaded.values())
    done = 0

    def advance(name: str, count: int) -> None:
        nonlocal done
        done += count
        progress(f"ranking {name}", done, total_rows)

    result = []
    try:
        with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, (item, arrays, rows) in loaded.items():
                member = f"{name}-{phase_slug}-predictions.csv"
                lists = np.concatenate(list(_topk_blocks(item, arrays, rows, k, advance)))
                archive.writestr(member, codalab_csv(lists, None if query_ids is None else query_ids[name]))
                result.append(
                    {
                        "dataset": name,
                        "format": "topk",
                        "array": member,
                        "shape": f"{rows:,} x {k}",
                        "dtype": "int",
                    }
                )
    except OSError as exc:
        output.unlink(missing_ok=True)
        raise CliError(f"The submission cannot be written to {output} ({exc.strerror or exc}).") from exc
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    return result


def _topk_input(
    item: PackInput, k: int, query_ids: dict[str, tuple[str, ...]] | None
) -> tuple[PackInput, dict[str, Any], int]:
    """The input's arrays (opened, not read) and its row count, checked against --topk and the kit."""
    arrays = {role: _open_array(path, item.dataset) for role, path in item.paths.items()}
    rows = arrays["sims"].shape[0] if item.kind == KIND_SIMILARITY else arrays["text"].shape[0]
    videos = arrays["sims"].shape[1] if item.kind == KIND_SIMILARITY else arrays["video"].shape[0]
    members = " + ".join(p.name for p in item.paths.values())
    if k > videos:
        raise SubmissionFormatError(
            f"has {videos} videos, fewer than --topk {k}", dataset=item.dataset, member=members
        )
    if query_ids is not None and len(query_ids.get(item.dataset, ())) != rows:
        raise SubmissionFormatError(
            f"has {rows:,} rows but the kit lists {len(query_ids.get(item.dataset, ())):,} queries;"
            " expected one row per query, in the order of queries.txt",
            dataset=item.dataset,
            member=members,
        )
    return item, arrays, rows


def _topk_blocks(
    item: PackInput, arrays: dict[str, Any], rows: int, k: int, advance: Callable[[str, int], None]
) -> Iterator[np.ndarray]:
    """The top-k lists of `TOPK_BLOCK_ROWS` rows at a time: a bounded block of scores in memory."""
    for start in range(0, rows, TOPK_BLOCK_ROWS):
        stop = min(start + TOPK_BLOCK_ROWS, rows)
        if item.kind == KIND_SIMILARITY:
            block = np.asarray(arrays["sims"][start:stop])
            block = block.astype(np.float64 if block.dtype == np.float64 else np.float32)
        else:
            video = np.asarray(arrays["video"], dtype=np.float32)
            block = np.asarray(arrays["text"][start:stop], dtype=np.float32) @ video.T
        if not np.isfinite(block).all():
            raise SubmissionFormatError(
                NON_FINITE_MESSAGE.format(rows=f"{start}..{stop - 1}"),
                dataset=item.dataset,
                member=" + ".join(p.name for p in item.paths.values()),
            )
        yield topk_lists(block, k)
        advance(item.dataset, stop - start)


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
