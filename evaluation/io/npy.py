""".npy members: the header parsed without numpy's loader (which could be asked to unpickle), and the
array mapped from a stored member or streamed from a deflated one."""

from __future__ import annotations

import ast
import math
import os
import zipfile
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt

from ..errors import SubmissionFormatError
from .archive import _find_member, _member_data_offset
from .manifest import ArrayInfo

_MAX_NPY_HEADER = 65_536
_READ_CHUNK = 64 * 1024 * 1024
NPY_CHANGED = (
    "is not the array that was inspected (declared {then}, now {now}); expected the file as it was uploaded"
)


def _npy_header(stream: IO[bytes], member: str) -> tuple[tuple[int, ...], np.dtype[Any], bool]:
    """Parse a .npy header without numpy's loader (which could be asked to unpickle)."""
    magic = stream.read(8)
    if len(magic) < 8 or magic[:6] != b"\x93NUMPY":
        raise SubmissionFormatError("is not a .npy array (bad magic bytes)", member=member)
    major = magic[6]
    size_bytes = {1: 2, 2: 4, 3: 4}.get(major)
    if size_bytes is None:
        raise SubmissionFormatError(f"uses unknown .npy format version {major}", member=member)
    header_len = int.from_bytes(stream.read(size_bytes), "little")
    if header_len > _MAX_NPY_HEADER:
        raise SubmissionFormatError("has an oversized .npy header", member=member)
    raw = stream.read(header_len)
    if len(raw) < header_len:
        raise SubmissionFormatError("is truncated inside its .npy header", member=member)
    try:
        header = ast.literal_eval(raw.decode("latin1" if major < 3 else "utf8"))
        descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise ValueError("bad shape")
        dtype = np.dtype(descr)
    except (ValueError, SyntaxError, KeyError, TypeError, UnicodeDecodeError):
        raise SubmissionFormatError(
            "has a malformed .npy header; expected numpy's header ('descr', 'fortran_order', 'shape' of"
            " non-negative integers)",
            member=member,
        ) from None
    if dtype.hasobject:
        raise SubmissionFormatError(
            "holds Python objects (a pickled .npy); expected a numeric float array saved without pickling",
            member=member,
        )
    return tuple(shape), dtype, bool(fortran)


def _read_npy_member(
    archive: zipfile.ZipFile, member_name: str, dataset: str, declared: ArrayInfo
) -> npt.NDArray[np.floating[Any]]:
    """A .npy member as an array: peak memory is at most the array itself.

    A stored (uncompressed) member, the usual case for float matrices, is mapped read-only from the
    file at its data offset: no copy and no allocation (a full-scale MSRVTT test matrix is 715 MB),
    and the scorer reads it from the page cache. A deflated member is streamed into a preallocated
    array through the decompressing reader (so is a stored one of an archive opened from a stream: it
    has no file to map).
    """
    source = archive.filename
    info = _find_member(archive, member_name)
    with archive.open(info) as stream:
        shape, dtype, fortran = _npy_header(stream, member_name)
        now = (shape, dtype.newbyteorder("=").name)
        if now != (declared.shape, declared.dtype):  # the file changed since it was inspected
            raise SubmissionFormatError(
                NPY_CHANGED.format(then=f"{declared.shape} {declared.dtype}", now=f"{now[0]} {now[1]}"),
                dataset=dataset,
                member=member_name,
            )
        stored = info.compress_type == zipfile.ZIP_STORED and source is not None
        header_bytes = stream.tell() if stored else None
        layout = shape[::-1] if fortran else shape
        if header_bytes is None:
            out = np.empty(layout, dtype=dtype)
            view = out.reshape(-1).view(np.uint8).data
            # typeshed types ZipFile.open as IO[bytes]; in read mode it is a ZipExtFile, which has readinto
            filled, wanted = _fill(cast(zipfile.ZipExtFile, stream), view), len(view)
    if header_bytes is not None and source is not None:
        with open(source, "rb") as raw:
            start = _member_data_offset(raw, info) + header_bytes
            wanted = math.prod(layout) * dtype.itemsize
            # bounded by the member's own size and by the file's: a short member is truncated
            available = min(info.file_size - header_bytes, os.fstat(raw.fileno()).st_size - start)
            filled = max(0, min(wanted, available))
        if filled == wanted:  # never map past the end of the file: a read there is a SIGBUS
            out = (
                np.memmap(source, dtype=dtype, mode="r", offset=start, shape=layout)
                if wanted
                else np.empty(layout, dtype=dtype)
            )
    if filled < wanted:
        raise SubmissionFormatError(
            f"is truncated: {filled:,} of {wanted:,} bytes of array data",
            dataset=dataset,
            member=member_name,
        )
    if not dtype.isnative:
        out = out.astype(dtype.newbyteorder("="))
    return out.T if fortran else out


def _fill(stream: zipfile.ZipExtFile, view: memoryview) -> int:
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled : filled + _READ_CHUNK])
        if not got:
            break
        filled += got
    return filled
