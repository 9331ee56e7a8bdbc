"""The two entry points: `inspect_submission` (headers only) and `load_entry` (one dataset's arrays)."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy.typing as npt

from ..errors import SubmissionFormatError
from .archive import _open_zip
from .formats import _container_of
from .hdf5 import _h5_damage_is_a_format_error, _h5_entries, _read_h5_array
from .limits import ReadLimits
from .manifest import KIND_TOPK, SubmissionManifest
from .npy import _read_npy_member
from .topk_bounds import TopkBounds
from .zip_submission import _read_topk_member, _zip_entries


def inspect_submission(
    path: str | os.PathLike[str],
    *,
    limits: ReadLimits | None = None,
    file_name: str | None = None,
    datasets: tuple[str, ...] | list[str] | None = None,
) -> SubmissionManifest:
    """Describe a submission from its headers, checking declared sizes against `limits`.

    `file_name` is what messages and members call the file (the participant's own file name; the server
    stores files under generated names that are never shown); default: the path's last part.
    `datasets`: the challenge's dataset names, matched case-insensitively; None means the
    Pentathlon five (the 2020 tools' files).

    Raises:
        SubmissionError: unknown container, unsafe archive, unknown dataset names, duplicate or
            incomplete entries, wrong dtypes or dimensions, declared sizes above the limits.
    """
    path = Path(path)
    label = file_name or path.name
    limits = limits or ReadLimits()
    container = _container_of(path, label)
    known = None if datasets is None else tuple(datasets)
    if container == "zip":
        entries = _zip_entries(path, limits, label, known)
    else:
        with _h5_damage_is_a_format_error(label):
            entries = _h5_entries(path, limits, label, known)
    if not entries:
        raise SubmissionFormatError(
            "holds no dataset; expected at least one of the phase's datasets", member=label
        )
    return SubmissionManifest(container=container, entries=entries)


def load_entry(
    path: str | os.PathLike[str],
    manifest: SubmissionManifest,
    dataset: str,
    *,
    limits: ReadLimits | None = None,
    topk_bounds: TopkBounds | None = None,
    file_name: str | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """Read one dataset's arrays: {"sims": (R, V)} or {"text": (Q, D), "video": (V, D)} or {"topk": (Q, k)}
    (plus "query_ids", (Q,) strings, when the CSV's rows name their queries).

    The file is read as it is now, with every check of `inspect_submission` again: arrays must be those
    the manifest declares, and a top-k member stops at the first row, column or value beyond `topk_bounds`
    (the phase's shapes and gallery, `TopkBounds.for_gallery`; the server always gives them; lists of
    gallery ids cannot be read without the gallery). `file_name`: as for `inspect_submission`."""
    path = Path(path)
    label = file_name or path.name
    limits = limits or ReadLimits()
    entry = manifest.entries[dataset]
    arrays: dict[str, npt.NDArray[Any]] = {}
    if manifest.container == "zip":
        try:
            with _open_zip(path, limits, label) as archive:
                for role, info in entry.arrays.items():
                    if entry.kind == KIND_TOPK:
                        query_ids, arrays[role] = _read_topk_member(
                            archive, info.member, dataset, limits, topk_bounds
                        )
                        if query_ids is not None:
                            arrays["query_ids"] = query_ids
                    else:
                        arrays[role] = _read_npy_member(archive, info.member, dataset, info)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError):
            raise SubmissionFormatError(
                "cannot be decompressed: the archive is damaged or truncated; expected an intact zip archive",
                dataset=dataset,
                member=entry.members,
            ) from None
    else:
        with _h5_damage_is_a_format_error(label):
            for role, info in entry.arrays.items():
                arrays[role] = _read_h5_array(path, role, dataset, limits, info, label)
    return arrays
