"""Bounds on what a submission may declare, checked from headers before any array data is read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import h5safe
from ..errors import SubmissionFormatError, SubmissionTooLargeError
from .manifest import ArrayInfo

MiB = 1024**2
GiB = 1024**3
FLOAT_DTYPES = ("float16", "float32", "float64")

# Rejection of storage that would inflate beyond the limits.
COMPRESSION_RATIO_TOO_HIGH = (
    "declares {declared:,} bytes uncompressed for {stored:,} stored bytes ({ratio:,.0f}:1), above the"
    " limit of {limit:,.0f}:1; expected real data (a float matrix or a top-k CSV compresses far less)."
)
DIMENSION_TOO_LARGE = (
    "declares shape {shape}, a dimension above {limit:,}; expected an array of real size (queries x videos,"
    " or rows x embedding dimension)"
)


@dataclass(frozen=True)
class ReadLimits:
    """Upper bounds checked against declared sizes before any array data is read.

    Attributes:
        max_array_bytes: largest single array (declared shape x itemsize, or a CSV member).
        max_total_bytes: largest sum over all arrays of the submission.
        max_members: most archive members or HDF5 groups.
        max_chunk_bytes: largest HDF5 chunk (chunk shape x itemsize): reading a chunk allocates all
            of it, however few of its elements the array holds.
        max_chunks: most chunks of one HDF5 array (each is checked, and read, on its own).
        max_compression_ratio: most declared (uncompressed) bytes per stored byte, for each
            compressed zip member and for the whole file; sizes up to `ratio_floor_bytes` always pass.
        ratio_floor_bytes: declared sizes this small are never refused for their compression ratio.
        max_archive_entries: most entries a zip's end record may declare, folders and desktop clutter
            included (checked before the directory is listed).
        max_directory_bytes: largest zip central directory (`zipfile` reads and parses all of it).
    """

    max_array_bytes: int = 4 * GiB
    max_total_bytes: int = 8 * GiB
    max_members: int = 64
    max_chunk_bytes: int = 64 * MiB
    max_chunks: int = 262_144
    # Float matrices deflate to ~90% of their size and top-k CSVs to ~25%: 50:1 is far beyond either.
    max_compression_ratio: float = 50.0
    ratio_floor_bytes: int = 1 * MiB
    max_archive_entries: int = 1024
    max_directory_bytes: int = 256 * 1024


def _check_array_header(info: ArrayInfo, *, dataset: str, limits: ReadLimits, integer: bool = False) -> None:
    if integer:
        if np.dtype(info.dtype).kind not in "iu":
            raise SubmissionFormatError(
                f"has dtype {info.dtype}; expected integers", dataset=dataset, member=info.member
            )
    elif info.dtype not in FLOAT_DTYPES:
        raise SubmissionFormatError(
            f"has dtype {info.dtype}; expected float16, float32 or float64",
            dataset=dataset,
            member=info.member,
        )
    if len(info.shape) != 2:
        raise SubmissionFormatError(
            f"has shape {info.shape}; expected a 2-D array", dataset=dataset, member=info.member
        )
    if any(n > h5safe.MAX_DIMENSION for n in info.shape):
        raise SubmissionTooLargeError(
            DIMENSION_TOO_LARGE.format(shape=info.shape, limit=h5safe.MAX_DIMENSION),
            dataset=dataset,
            member=info.member,
        )
    if info.nbytes > limits.max_array_bytes:
        raise SubmissionTooLargeError(
            f"declares shape {info.shape} of {info.dtype} = {info.nbytes:,} bytes, above the limit of"
            f" {limits.max_array_bytes:,} bytes",
            dataset=dataset,
            member=info.member,
        )


def _check_compression_ratio(
    declared: int, stored: int, *, limits: ReadLimits, dataset: str | None = None, member: str
) -> None:
    """Refuse `declared` bytes that would come out of only `stored` bytes at more than the ratio limit."""
    if declared <= limits.ratio_floor_bytes or declared <= limits.max_compression_ratio * stored:
        return
    raise SubmissionTooLargeError(
        COMPRESSION_RATIO_TOO_HIGH.format(
            declared=declared,
            stored=stored,
            ratio=declared / max(stored, 1),
            limit=limits.max_compression_ratio,
        ),
        dataset=dataset,
        member=member,
    )
