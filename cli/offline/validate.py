"""Validating a submission offline against a kit, with the server's own checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.errors import CliError
from evaluation.errors import SubmissionFormatError
from evaluation.io import KIND_SIMILARITY, inspect_submission, load_entry
from evaluation.scoring import score_dataset
from evaluation.validation import check_manifest

from .kit import Kit, _stand_in_truth, _submission_names

SUBMISSION_SUFFIXES = (".zip", ".npz", ".h5", ".hdf5")
PADDED_NOT_CHECKED = (
    "padded layout: values are checked on the server (which rows hold captions is not published)"
)

#: progress(description, completed, total)
Progress = Callable[[str, float, float], None]


def _no_progress(description: str, completed: float, total: float) -> None:
    return None


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
            bounds = shape.topk_bounds(kit.gallery_ids.get(name))
            arrays = load_entry(path, manifest, name, topk_bounds=bounds)
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
