"""HDF5 submissions under the HDF5 rule (`evaluation.h5safe`): groups ``/{Dataset}`` holding ``sims``,
or ``text`` and ``video``, checked from metadata and read again from the file as it is now."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from .. import h5safe
from ..datasets import canonical_dataset_name
from ..errors import EvaluationError, SubmissionFormatError, SubmissionTooLargeError
from .h5_chunks import _h5_chunk_layout, _read_h5_chunks
from .limits import ReadLimits, _check_array_header, _check_compression_ratio
from .manifest import KIND_EMBEDDINGS, KIND_SIMILARITY, ArrayInfo, SubmissionEntry, _entry

H5_CHANGED = (
    "is not the array that was inspected (declared {then}, now {now}); expected the file as it was uploaded"
)
H5_DAMAGED = "is damaged: its HDF5 structure cannot be read; expected an intact .h5 file"


def _h5_entries(
    path: Path, limits: ReadLimits, label: str, known: tuple[str, ...] | None = None
) -> dict[str, SubmissionEntry]:
    with h5safe.SafeFile(path) as safe:
        handle = safe.root
        entries: dict[str, SubmissionEntry] = {}
        total = 0
        for key in h5safe.keys(handle, limit=limits.max_members):
            group = h5safe.child(handle, key, limit=limits.max_members)
            if not isinstance(group, h5py.Group):
                raise SubmissionFormatError(
                    f"top-level entry {key!r} is not a group; expected '/{{Dataset}}/sims' or"
                    " '/{Dataset}/text' + '/{Dataset}/video'",
                    member=label,
                )
            dataset = canonical_dataset_name(key, known=known, member=f"{label}:/{key}")
            if dataset in entries:
                raise SubmissionFormatError("the dataset appears twice", dataset=dataset, member=label)
            names = set(h5safe.keys(group, limit=limits.max_members))
            roles: tuple[str, ...]
            if "sims" in names:
                kind, roles = KIND_SIMILARITY, ("sims",)
            elif {"text", "video"} <= names:
                kind, roles = KIND_EMBEDDINGS, ("text", "video")
            else:
                raise SubmissionFormatError(
                    f"group /{key} holds {sorted(names)}; expected 'sims', or 'text' and 'video'",
                    dataset=dataset,
                    member=label,
                )
            arrays: dict[str, ArrayInfo] = {}
            for role in roles:
                member = f"{label}:/{key}/{role}"
                node = _h5_array(group, role, dataset=dataset, member=member, limits=limits)
                info = _h5_info(node, member)
                _check_array_header(info, dataset=dataset, limits=limits)
                _h5_chunk_layout(node, dataset=dataset, member=member, limits=limits)
                total += info.nbytes
                if total > limits.max_total_bytes:
                    raise SubmissionTooLargeError(
                        f"the file declares more than {limits.max_total_bytes:,} bytes of arrays",
                        member=label,
                    )
                arrays[role] = info
            entries[dataset] = _entry(dataset, kind, arrays)
        # Unallocated or compressed storage: a small file must not declare huge arrays.
        _check_compression_ratio(total, path.stat().st_size, limits=limits, member=label)
        return entries


def _h5_array(group: h5py.Group, role: str, *, dataset: str, member: str, limits: ReadLimits) -> h5py.Dataset:
    """`group[role]` under the HDF5 rule (`evaluation.h5safe`): a hard-linked array stored in the file."""
    node = h5safe.child(group, role, limit=limits.max_members)
    if not isinstance(node, h5py.Dataset):
        raise SubmissionFormatError("is not an array", dataset=dataset, member=member)
    return node


def _h5_info(node: h5py.Dataset, member: str) -> ArrayInfo:
    dtype = node.dtype
    return ArrayInfo(
        member=member,
        shape=tuple(int(n) for n in node.shape),
        dtype=dtype.name if dtype.kind == "f" else str(dtype),
    )


def _names_dataset(key: str, dataset: str) -> bool:
    try:
        return canonical_dataset_name(key, known=(dataset,)) == dataset
    except EvaluationError:
        return False


def _read_h5_array(
    path: Path, role: str, dataset: str, limits: ReadLimits, declared: ArrayInfo, label: str
) -> npt.NDArray[np.floating[Any]]:
    """One array of an .h5 submission, the HDF5 rule and the limits checked again on the file as it is
    now: the worker reads the file it was given, whatever the upload saw."""
    with h5safe.SafeFile(path) as safe:
        handle = safe.root
        group_key = next(
            (k for k in h5safe.keys(handle, limit=limits.max_members) if _names_dataset(k, dataset)),
            None,
        )
        member = f"{label}:/{group_key}/{role}"
        group = None if group_key is None else h5safe.child(handle, group_key, limit=limits.max_members)
        if not isinstance(group, h5py.Group):
            raise SubmissionFormatError(
                H5_CHANGED.format(then=declared.shape, now="no such group"), dataset=dataset, member=member
            )
        node = _h5_array(group, role, dataset=dataset, member=member, limits=limits)
        info = _h5_info(node, member)
        if (info.shape, info.dtype) != (declared.shape, declared.dtype):
            raise SubmissionFormatError(
                H5_CHANGED.format(
                    then=f"{declared.shape} {declared.dtype}", now=f"{info.shape} {info.dtype}"
                ),
                dataset=dataset,
                member=member,
            )
        _check_array_header(info, dataset=dataset, limits=limits)
        layout = _h5_chunk_layout(node, dataset=dataset, member=member, limits=limits)
        out = np.empty(node.shape, dtype=node.dtype.newbyteorder("="))
        if layout is not None:
            _read_h5_chunks(node, out, layout, dataset=dataset, member=member)
        elif node.id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS:
            safe.read_contiguous(node, out)
        else:  # compact: the data sits in the array's own header
            node.read_direct(out)
        return out


@contextmanager
def _h5_damage_is_a_format_error(label: str) -> Iterator[None]:
    """The HDF5 rule's refusals, and damaged metadata (h5py reports it as KeyError, RuntimeError,
    OSError...), as typed rejections that never carry the library's text."""
    try:
        yield
    except EvaluationError:
        raise
    except h5safe.HDF5RuleError as exc:
        error = SubmissionTooLargeError if "at most" in exc.detail else SubmissionFormatError
        raise error(exc.detail, member=label) from None
    except (KeyError, RuntimeError, OSError, ValueError, TypeError, IndexError, AttributeError):
        raise SubmissionFormatError(H5_DAMAGED, member=label) from None
