"""Chunked HDF5 arrays: chunk sizes, counts and filters bounded from metadata, and filtered chunks
inflated by the reader itself, never past their size."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Protocol

import h5py
import numpy as np
import numpy.typing as npt

from ..errors import SubmissionFormatError, SubmissionTooLargeError
from .limits import MiB, ReadLimits

H5_CHUNK_TOO_LARGE = (
    "is stored in chunks of {chunks} x {itemsize} bytes = {nbytes:,} bytes, above the limit of {limit:,} bytes;"
    " expected contiguous storage or chunks of at most {limit:,} bytes (h5py's chunks=True is fine)."
)
H5_TOO_MANY_CHUNKS = "is split into {count:,} chunks, above the limit of {limit:,}; expected contiguous storage or larger chunks."
H5_FILTER_REFUSED = (
    "uses the HDF5 filter {name!r} (id {code}); expected no compression, or gzip with optional shuffle"
    " and fletcher32."
)
H5_CHUNK_STORED_TOO_LARGE = (
    "stores {stored:,} bytes for a chunk of {nbytes:,} bytes; expected at most {bound:,} (a compressed chunk"
    " is never much larger than its data)."
)
H5_CHUNK_INFLATES = (
    "has a compressed chunk that inflates beyond its {nbytes:,} bytes; expected each chunk to hold exactly"
    " its chunk shape."
)
H5_CHUNK_DAMAGED = "has a damaged compressed chunk ({reason}); expected an intact .h5 file."


class _StoredChunk(Protocol):
    """What the reader uses of h5py's StoreInfo, one allocated chunk (h5py ships no type stubs)."""

    @property
    def chunk_offset(self) -> tuple[int, ...]: ...

    @property
    def size(self) -> int: ...


@dataclass(frozen=True)
class _ChunkLayout:
    """How a chunked HDF5 array is stored: chunk shape, bytes per chunk, filter ids in pipeline order."""

    chunks: tuple[int, ...]
    nbytes: int
    filters: tuple[int, ...]
    stored: tuple[_StoredChunk, ...]  # every allocated chunk

    @property
    def stored_bound(self) -> int:
        """The most bytes one stored chunk may take: zlib's compressBound, plus fletcher32's checksum."""
        n = self.nbytes
        return n + (n >> 12) + (n >> 14) + (n >> 25) + 13 + 4


_H5_DEFLATE, _H5_SHUFFLE, _H5_FLETCHER32 = 1, 2, 3
# Filters whose output the reader bounds itself: inflate stops at the chunk's size, shuffle and
# fletcher32 keep (or shrink) it. Any other (lzf, szip, plugins...) could inflate without a bound.
_H5_READABLE_FILTERS = (_H5_DEFLATE, _H5_SHUFFLE, _H5_FLETCHER32)


def _h5_chunk_layout(
    node: h5py.Dataset, *, dataset: str, member: str, limits: ReadLimits
) -> _ChunkLayout | None:
    """Check a chunked array's storage against `limits` from metadata alone; None when not chunked.

    Reading a chunk allocates its whole chunk shape and inflates its stored bytes, so each chunk's
    size, the filters that inflate it and each chunk's stored size are bounded before any is read.
    """
    if node.chunks is None:
        return None
    chunks = tuple(int(n) for n in node.chunks)
    itemsize = node.dtype.itemsize
    nbytes = math.prod(chunks) * itemsize
    if nbytes > limits.max_chunk_bytes:
        raise SubmissionTooLargeError(
            H5_CHUNK_TOO_LARGE.format(
                chunks=" x ".join(map(str, chunks)),
                itemsize=itemsize,
                nbytes=nbytes,
                limit=limits.max_chunk_bytes,
            ),
            dataset=dataset,
            member=member,
        )
    count = 1
    for size, chunk in zip(node.shape, chunks, strict=True):
        count *= -(-int(size) // chunk)
    if count > limits.max_chunks:
        raise SubmissionTooLargeError(
            H5_TOO_MANY_CHUNKS.format(count=count, limit=limits.max_chunks), dataset=dataset, member=member
        )
    plist = node.id.get_create_plist()
    filters = []
    for index in range(plist.get_nfilters()):
        code, _, _, name = plist.get_filter(index)
        if code not in _H5_READABLE_FILTERS:
            raise SubmissionFormatError(
                H5_FILTER_REFUSED.format(name=name.decode("ascii", "replace"), code=code),
                dataset=dataset,
                member=member,
            )
        filters.append(code)
    stored: list[_StoredChunk] = []

    def keep(info: _StoredChunk) -> None:
        stored.append(info)
        if len(stored) > count:
            raise SubmissionFormatError(
                f"stores more chunks than its shape holds ({count:,}); expected an intact .h5 file",
                dataset=dataset,
                member=member,
            )

    node.id.chunk_iter(keep)
    layout = _ChunkLayout(chunks=chunks, nbytes=nbytes, filters=tuple(filters), stored=tuple(stored))
    for info in layout.stored:
        if info.size > layout.stored_bound:
            raise SubmissionFormatError(
                H5_CHUNK_STORED_TOO_LARGE.format(stored=info.size, nbytes=nbytes, bound=layout.stored_bound),
                dataset=dataset,
                member=member,
            )
    return layout


_INFLATE_PIECE = 4 * MiB


def _inflate_at_most(stream: bytes | bytearray, nbytes: int) -> bytearray:
    """Inflate a zlib stream into a buffer of `nbytes`, a piece at a time: memory is that buffer.

    Raises:
        OverflowError: the stream holds more than `nbytes`.
        ValueError: the stream is not valid zlib data.
    """
    out = bytearray(nbytes)
    filled = 0
    inflater = zlib.decompressobj()
    pending: bytes | bytearray = stream
    try:
        while not inflater.eof:
            piece = inflater.decompress(pending, _INFLATE_PIECE)
            pending = inflater.unconsumed_tail
            if not piece and not pending:
                break
            if filled + len(piece) > nbytes:
                raise OverflowError("inflates beyond its size")
            out[filled : filled + len(piece)] = piece
            filled += len(piece)
    except zlib.error:
        raise ValueError("a damaged gzip stream") from None
    del out[filled:]
    return out


def _h5_unfilter(raw: bytes, layout: _ChunkLayout, filter_mask: int, itemsize: int) -> bytes | bytearray:
    """Undo a chunk's filters (last applied first), never producing more than the chunk's bytes.

    Raises:
        OverflowError: the chunk inflates beyond its size.
        ValueError: the chunk is damaged (the message says how).
    """
    data: bytes | bytearray = raw
    for index in reversed(range(len(layout.filters))):
        if filter_mask >> index & 1:  # this filter was skipped when the chunk was written
            continue
        code = layout.filters[index]
        if code == _H5_FLETCHER32:
            if len(data) < 4:
                raise ValueError("a fletcher32 chunk shorter than its checksum")
            data = data[:-4]  # the checksum guards against disk errors, not against a hostile writer
        elif code == _H5_DEFLATE:
            data = _inflate_at_most(data, layout.nbytes)
        elif code == _H5_SHUFFLE and itemsize > 1:
            whole = len(data) // itemsize * itemsize
            planes = np.frombuffer(data, dtype=np.uint8, count=whole).reshape(itemsize, -1)
            # HDF5 leaves the bytes past the last whole element unshuffled.
            data = planes.T.tobytes() if whole == len(data) else planes.T.tobytes() + bytes(data[whole:])
    if len(data) != layout.nbytes:
        raise ValueError(f"{len(data):,} bytes for a chunk of {layout.nbytes:,}")
    return data


def _read_h5_chunks(
    node: h5py.Dataset, out: npt.NDArray[np.floating[Any]], layout: _ChunkLayout, *, dataset: str, member: str
) -> None:
    """Read a filtered array chunk by chunk through `_h5_unfilter`: memory is the array plus one chunk.

    HDF5's own gzip filter grows its buffer until a chunk's stream ends, whatever the chunk's size.
    """
    out[...] = node.fillvalue  # chunks never written hold the fill value, as HDF5 would return
    shape = out.shape
    for info in layout.stored:
        offset = tuple(int(o) for o in info.chunk_offset)
        if any(o >= n for o, n in zip(offset, shape, strict=True)):
            continue
        filter_mask, raw = node.id.read_direct_chunk(offset)
        try:
            data = _h5_unfilter(raw, layout, filter_mask, node.dtype.itemsize)
        except OverflowError:
            raise SubmissionTooLargeError(
                H5_CHUNK_INFLATES.format(nbytes=layout.nbytes), dataset=dataset, member=member
            ) from None
        except ValueError as exc:
            raise SubmissionFormatError(
                H5_CHUNK_DAMAGED.format(reason=exc), dataset=dataset, member=member
            ) from None
        block = np.frombuffer(data, dtype=node.dtype).reshape(layout.chunks)
        region = tuple(slice(o, min(o + c, n)) for o, c, n in zip(offset, layout.chunks, shape, strict=True))
        out[region] = block[tuple(slice(0, r.stop - r.start) for r in region)]
