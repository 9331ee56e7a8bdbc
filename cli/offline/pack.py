"""Packing a directory of matrices or embeddings into a submission: an .npz, or a zip of top-k CSVs."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cli.errors import CliError
from evaluation.datasets import canonical_dataset_name
from evaluation.errors import SubmissionFormatError
from evaluation.io import FLOAT_DTYPES, KIND_EMBEDDINGS, KIND_SIMILARITY, MIN_TOPK
from evaluation.metrics.retrieval import NON_FINITE_MESSAGE
from evaluation.synthetic import codalab_csv, topk_lists

from .validate import Progress, _no_progress, _shape_text

TOPK_BLOCK_ROWS = 4096


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
