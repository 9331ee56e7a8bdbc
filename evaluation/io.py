"""Readers for every submission format of docs/design.md section 5, safe against hostile files.

Containers are recognised by their magic bytes, not their extension:

* zip (``.zip`` or ``.npz``): members ``{Dataset}-{phase}-predictions.csv`` (top-k rank lists),
  ``{Dataset}.npy`` (a similarity matrix) or ``{Dataset}_text.npy`` + ``{Dataset}_video.npy``
  (embeddings);
* HDF5 (``.h5``): groups ``/{Dataset}`` holding ``sims``, or ``text`` and ``video``.

`inspect_submission` reads headers only (zip directory, .npy headers, HDF5 metadata) and checks
the declared sizes against `ReadLimits` before a byte of array data is read. `load_entry` then
reads one dataset's arrays into memory, streaming into preallocated arrays. Nothing is unpickled:
object dtypes are refused from the header, and HDF5 links or storage that point outside the file
are refused.
"""

from __future__ import annotations

import array
import ast
import io
import math
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import h5py
import numpy as np

from . import h5safe
from .datasets import canonical_dataset_name
from .errors import EvaluationError, SubmissionFormatError, SubmissionTooLargeError

MiB = 1024**2
GiB = 1024**3
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
FLOAT_DTYPES = ("float16", "float32", "float64")
MIN_TOPK = 10
# Archive clutter that desktop zip tools add; skipped rather than rejected.
_IGNORED_MEMBER = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|\._)")
_CSV_SUFFIX = "-predictions.csv"
_MAX_NPY_HEADER = 65_536
_READ_CHUNK = 64 * 1024 * 1024

# Rejections of storage that would inflate beyond the limits (SECURITY.md, finding 8).
COMPRESSION_RATIO_TOO_HIGH = (
    "declares {declared:,} bytes uncompressed for {stored:,} stored bytes ({ratio:,.0f}:1), above the"
    " limit of {limit:,.0f}:1; expected real data (a float matrix or a top-k CSV compresses far less)."
)
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
ZIP_TOO_MANY_ENTRIES = (
    "holds {count:,} entries in its directory; at most {limit:,} are allowed (expected one member per"
    " dataset)"
)
ZIP_DIRECTORY_TOO_LARGE = (
    "has a central directory of {size:,} bytes; at most {limit:,} bytes are allowed (expected one member"
    " per dataset)"
)
ZIP_UNREADABLE = (
    "is not a readable zip archive; expected an intact .zip or .npz (its end record or directory is"
    " damaged, or it uses an unsupported compression)"
)
NPY_CHANGED = (
    "is not the array that was inspected (declared {then}, now {now}); expected the file as it was uploaded"
)
CSV_TOO_MANY_ROWS = "has more than {rows:,} rows; expected {rows:,}, one per query"
CSV_TOO_MANY_COLUMNS = "has {width:,} columns; expected at most {videos:,}, the number of videos"
CSV_LINE_TOO_LONG = (
    "line {line:,} is longer than {limit:,} bytes; expected at most {fields:,} values of at most {chars}"
    " characters each"
)
CSV_FIELD_TOO_LONG = (
    "line {line:,} holds a value of {chars:,} characters; expected video indices below {videos:,} (at most"
    " {limit} characters)"
)
DIMENSION_TOO_LARGE = (
    "declares shape {shape}, a dimension above {limit:,}; expected an array of real size (queries x videos,"
    " or rows x embedding dimension)"
)
H5_CHANGED = (
    "is not the array that was inspected (declared {then}, now {now}); expected the file as it was uploaded"
)
H5_DAMAGED = "is damaged: its HDF5 structure cannot be read; expected an intact .h5 file"

KIND_SIMILARITY = "similarity"
KIND_EMBEDDINGS = "embeddings"
KIND_TOPK = "topk"


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


@dataclass(frozen=True)
class ArrayInfo:
    """What a header declares about one array."""

    member: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize  # Python ints: never overflows


@dataclass(frozen=True)
class SubmissionEntry:
    """One dataset's part of a submission, as declared by headers.

    Attributes:
        dataset: canonical dataset name.
        kind: "similarity", "embeddings" or "topk".
        arrays: role -> ArrayInfo; roles are "sims", "text" + "video", or "topk".
    """

    dataset: str
    kind: str
    arrays: dict[str, ArrayInfo]

    @property
    def members(self) -> str:
        return " + ".join(info.member for info in self.arrays.values())


@dataclass(frozen=True)
class SubmissionManifest:
    """Header-level description of a submission file."""

    container: str
    entries: dict[str, SubmissionEntry] = field(default_factory=dict)

    @property
    def kinds(self) -> dict[str, str]:
        return {name: entry.kind for name, entry in self.entries.items()}


def _container_of(path: Path, label: str) -> str:
    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except OSError as exc:
        raise SubmissionFormatError(f"cannot open the file ({exc.strerror})", member=label) from exc
    if magic.startswith(ZIP_MAGIC):
        return "zip"
    if magic == HDF5_MAGIC:
        return "h5"
    if not magic:
        raise SubmissionFormatError(
            "the file is empty; expected a .zip, .npz or .h5 submission", member=label
        )
    raise SubmissionFormatError(
        "not a zip, npz or HDF5 file (unrecognised leading bytes); expected a .zip of"
        " '{Dataset}-{phase}-predictions.csv' or '{Dataset}.npy' members, an .npz or an .h5",
        member=label,
    )


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


# ---------------------------------------------------------------------------------------------- zip


def _safe_member_name(name: str, archive: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise SubmissionFormatError(
            f"archive member {name!r} has an absolute or parent ('..') path; expected plain file names",
            member=archive,
        )
    return path


def _npy_header(stream: Any, member: str) -> tuple[tuple[int, ...], np.dtype, bool]:
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


_END = struct.Struct("<4s4H2LH")  # end of central directory record
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")


def _zip_directory_declared(path: Path) -> tuple[int, int] | None:
    """(entries, directory bytes) as the end record declares them, found as `zipfile` finds it (the
    last 22 bytes, else the last signature in the final 64 KiB, then a zip64 record just before);
    None when there is no end record (zipfile then refuses the file itself)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        start = max(size - _END.size - 65_536, 0)
        handle.seek(start)
        tail = handle.read()
        at = len(tail) - _END.size
        if not (at >= 0 and tail[at : at + 4] == b"PK\x05\x06" and tail[-2:] == b"\x00\x00"):
            at = tail.rfind(b"PK\x05\x06")
            if at < 0 or at + _END.size > len(tail):
                return None
        _, _, _, _, entries, directory, _, _ = _END.unpack_from(tail, at)
        end_at = start + at
        if end_at >= _END64_LOCATOR.size + _END64.size:
            handle.seek(end_at - _END64_LOCATOR.size - _END64.size)
            block = handle.read(_END64.size + _END64_LOCATOR.size)
            if block[_END64.size : _END64.size + 4] == b"PK\x06\x07" and block[:4] == b"PK\x06\x06":
                fields = _END64.unpack_from(block)
                entries, directory = fields[7], fields[8]
    return entries, directory


def _check_zip_directory(path: Path, limits: ReadLimits, label: str) -> None:
    """Refuse a zip whose end record declares more entries or a larger directory than the limits,
    before `zipfile` reads and lists the directory (each entry costs it a ZipInfo object)."""
    try:
        declared = _zip_directory_declared(path)
    except OSError:
        raise SubmissionFormatError(ZIP_UNREADABLE, member=label) from None
    if declared is None:
        return
    entries, directory = declared
    if entries > limits.max_archive_entries:
        raise SubmissionTooLargeError(
            ZIP_TOO_MANY_ENTRIES.format(count=entries, limit=limits.max_archive_entries), member=label
        )
    if directory > limits.max_directory_bytes:
        raise SubmissionTooLargeError(
            ZIP_DIRECTORY_TOO_LARGE.format(size=directory, limit=limits.max_directory_bytes), member=label
        )


def _open_zip(path: Path, limits: ReadLimits, label: str) -> zipfile.ZipFile:
    _check_zip_directory(path, limits, label)
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        # NotImplementedError: a member needing an unsupported zip version or compression method.
        raise SubmissionFormatError(ZIP_UNREADABLE, member=label) from None


def _zip_entries(
    path: Path, limits: ReadLimits, label: str, known: tuple[str, ...] | None = None
) -> dict[str, SubmissionEntry]:
    archive = _open_zip(path, limits, label)
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and not _IGNORED_MEMBER.search(i.filename)]
        if len(infos) > limits.max_members:
            raise SubmissionTooLargeError(
                f"holds {len(infos)} files; at most {limits.max_members} are allowed", member=label
            )
        parts: dict[str, dict[str, ArrayInfo]] = {}
        kinds: dict[str, str] = {}
        total = 0
        for info in infos:
            member = _safe_member_name(info.filename, label).name
            if info.flag_bits & 0x1:
                raise SubmissionFormatError("is encrypted; expected an unencrypted archive", member=member)
            if info.file_size > limits.max_array_bytes:
                raise SubmissionTooLargeError(
                    f"declares {info.file_size:,} bytes uncompressed, above the limit of"
                    f" {limits.max_array_bytes:,} bytes",
                    member=member,
                )
            if info.compress_type != zipfile.ZIP_STORED:
                _check_compression_ratio(info.file_size, info.compress_size, limits=limits, member=member)
            total += info.file_size
            if total > limits.max_total_bytes:
                raise SubmissionTooLargeError(
                    f"the archive declares more than {limits.max_total_bytes:,} bytes uncompressed",
                    member=label,
                )
            dataset, role, kind = _zip_member_role(member, label, known)
            if kinds.setdefault(dataset, kind) != kind or role in parts.get(dataset, {}):
                raise SubmissionFormatError(
                    "the dataset appears more than once; expected one similarity matrix, one pair of"
                    " embeddings or one predictions CSV per dataset",
                    dataset=dataset,
                    member=member,
                )
            if kind == KIND_TOPK:
                array = ArrayInfo(member=member, shape=(-1, -1), dtype="int64")
            else:
                try:
                    with archive.open(info) as stream:
                        shape, dtype, _ = _npy_header(stream, member)
                except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
                    raise SubmissionFormatError(
                        "cannot be read from the archive; expected an intact, unencrypted member stored or"
                        " deflated",
                        member=member,
                    ) from None
                array = ArrayInfo(member=member, shape=shape, dtype=dtype.newbyteorder("=").name)
                _check_array_header(array, dataset=dataset, limits=limits)
                expected = array.nbytes + 10
                if info.file_size < expected:
                    raise SubmissionFormatError(
                        f"is truncated: {info.file_size:,} bytes for a declared {array.shape} {array.dtype}"
                        f" array of {array.nbytes:,} bytes",
                        dataset=dataset,
                        member=member,
                    )
            parts.setdefault(dataset, {})[role] = array
        _check_compression_ratio(total, path.stat().st_size, limits=limits, member=label)
        entries = {}
        for dataset, arrays in parts.items():
            entries[dataset] = _entry(dataset, kinds[dataset], arrays)
        return entries


def _zip_member_role(member: str, archive: str, known: tuple[str, ...] | None = None) -> tuple[str, str, str]:
    lower = member.lower()
    if lower.endswith(_CSV_SUFFIX):
        stem = member[: -len(_CSV_SUFFIX)]
        dataset_part = stem.rsplit("-", 1)[0] if "-" in stem else stem
        try:
            dataset = canonical_dataset_name(dataset_part, known=known, member=member)
        except EvaluationError:
            dataset = canonical_dataset_name(stem, known=known, member=member)
        return dataset, "topk", KIND_TOPK
    if lower.endswith(".npy"):
        stem = member[:-4]
        for suffix, role in (("_text", "text"), ("_video", "video")):
            if stem.lower().endswith(suffix):
                name = canonical_dataset_name(stem[: -len(suffix)], known=known, member=member)
                return name, role, KIND_EMBEDDINGS
        return canonical_dataset_name(stem, known=known, member=member), "sims", KIND_SIMILARITY
    raise SubmissionFormatError(
        "is not a recognised member; expected '{Dataset}-{phase}-predictions.csv', '{Dataset}.npy', or"
        " '{Dataset}_text.npy' with '{Dataset}_video.npy'",
        member=member,
    )


def _entry(dataset: str, kind: str, arrays: dict[str, ArrayInfo]) -> SubmissionEntry:
    if kind == KIND_EMBEDDINGS:
        missing = {"text", "video"} - arrays.keys()
        if missing:
            raise SubmissionFormatError(
                f"embeddings need both '{dataset}_text' and '{dataset}_video'; '{dataset}_{missing.pop()}'"
                " is missing",
                dataset=dataset,
            )
        text, video = arrays["text"], arrays["video"]
        if text.shape[1] != video.shape[1]:
            raise SubmissionFormatError(
                f"text embeddings have dimension {text.shape[1]} but video embeddings {video.shape[1]};"
                " expected the same dimension",
                dataset=dataset,
                member=f"{text.member} + {video.member}",
            )
    return SubmissionEntry(dataset=dataset, kind=kind, arrays=arrays)


def _read_npy_member(
    archive: zipfile.ZipFile, member_name: str, dataset: str, declared: ArrayInfo
) -> np.ndarray:
    """A .npy member as an array: peak memory is at most the array itself.

    A stored (uncompressed) member, the usual case for float matrices, is mapped read-only from the
    file at its data offset: no copy and no allocation (a full-scale MSRVTT test matrix is 715 MB),
    and the scorer reads it from the page cache. A deflated member is streamed into a preallocated
    array through the decompressing reader.
    """
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
        header_bytes = stream.tell() if info.compress_type == zipfile.ZIP_STORED else None
        layout = shape[::-1] if fortran else shape
        if header_bytes is None:
            out = np.empty(layout, dtype=dtype)
            view = memoryview(out.reshape(-1).view(np.uint8))
            filled, wanted = _fill(stream.readinto, view), len(view)
    if header_bytes is not None:
        with open(archive.filename, "rb") as raw:
            start = _member_data_offset(raw, info) + header_bytes
            wanted = math.prod(layout) * dtype.itemsize
            # bounded by the member's own size and by the file's: a short member is truncated
            available = min(info.file_size - header_bytes, os.fstat(raw.fileno()).st_size - start)
            filled = max(0, min(wanted, available))
        if filled == wanted:  # never map past the end of the file: a read there is a SIGBUS
            out = (
                np.memmap(archive.filename, dtype=dtype, mode="r", offset=start, shape=layout)
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


def _fill(readinto: Any, view: memoryview) -> int:
    filled = 0
    while filled < len(view):
        got = readinto(view[filled : filled + _READ_CHUNK])
        if not got:
            break
        filled += got
    return filled


def _member_data_offset(raw: Any, info: zipfile.ZipInfo) -> int:
    """Where a member's data starts: after its local header, whose name and extra lengths may differ
    from the central directory's."""
    raw.seek(info.header_offset)
    local = raw.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise SubmissionFormatError("has a damaged local zip header", member=info.filename)
    name_len = int.from_bytes(local[26:28], "little")
    extra_len = int.from_bytes(local[28:30], "little")
    return info.header_offset + 30 + name_len + extra_len


def _find_member(archive: zipfile.ZipFile, member_name: str) -> zipfile.ZipInfo:
    for info in archive.infolist():
        if (
            not info.is_dir()
            and not _IGNORED_MEMBER.search(info.filename)
            and PurePosixPath(info.filename.replace("\\", "/")).name == member_name
        ):
            return info
    raise SubmissionFormatError("disappeared from the archive", member=member_name)


@dataclass(frozen=True)
class TopkBounds:
    """What one dataset's top-k CSV may hold, from the phase's shapes: the reader reads no further.

    Attributes:
        rows: Q, the most data rows (a header line may come on top).
        videos: V, the most indices per row; each index has at most as many digits as V.
    """

    rows: int
    videos: int

    @property
    def field_chars(self) -> int:
        """Longest value: V's digits, plus room for a sign, leading zeros and spaces."""
        return len(str(self.videos)) + 8

    @property
    def line_bytes(self) -> int:
        """Longest line: a query id, then V values and their commas (a header line has the same bound)."""
        return MAX_CSV_QUERY_ID_LENGTH + 2 + (self.videos + 1) * (self.field_chars + 1)


#: Longest line of a CSV read without the phase's shapes (the participant's own `validate` without a kit).
_UNBOUNDED_LINE_BYTES = 4 * MiB


def _read_csv_member(
    archive: zipfile.ZipFile, member_name: str, dataset: str, limits: ReadLimits, bounds: TopkBounds | None
) -> tuple[np.ndarray | None, np.ndarray]:
    info = _find_member(archive, member_name)
    with archive.open(info) as stream:
        return _parse_topk_stream(
            stream, bounds, max_bytes=limits.max_array_bytes, dataset=dataset, member=member_name
        )


_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
#: A row's first field names its query when it holds a letter (kit ids always do; indices never).
_LETTER = re.compile(r"[A-Za-z]")
MAX_CSV_QUERY_ID_LENGTH = 256


def parse_topk_csv(raw: bytes, *, dataset: str | None = None, member: str | None = None) -> np.ndarray:
    """The video indices of a top-k CSV (see `parse_topk_table`), whether or not its rows name their query.

    >>> parse_topk_csv(b"3,1,2\\n0,2,1\\n").tolist()
    [[3, 1, 2], [0, 2, 1]]
    """
    return parse_topk_table(raw, dataset=dataset, member=member)[1]


def parse_topk_table(
    raw: bytes, *, dataset: str | None = None, member: str | None = None, bounds: TopkBounds | None = None
) -> tuple[np.ndarray | None, np.ndarray]:
    """Parse a top-k CSV: one row per query, comma-separated 0-based video indices, best first.

    A row may start with its query's id from the starter kit (``q1a2b...,17,3,...``; ids hold a
    letter, indices never do): then rows may come in any order, and blind phases require it. A first line whose last field is not an integer
    is a header and skipped. With `bounds` (the phase's shapes) parsing stops at the first row, column,
    value or line beyond them.

    Returns:
        (query ids as a (Q,) str array, or None when the rows carry none; the (Q, k) int64 indices).

    >>> ids, top = parse_topk_table(b"query_id,r1,r2\\nqb,3,1\\nqa,0,2\\n")
    >>> ids.tolist(), top.tolist()
    (['qb', 'qa'], [[3, 1], [0, 2]])
    """
    return _parse_topk_stream(io.BytesIO(raw), bounds, max_bytes=len(raw), dataset=dataset, member=member)


def _csv_lines(
    stream: Any, *, line_bytes: int, max_bytes: int, dataset: str | None, member: str | None
) -> Iterator[str]:
    """The member's lines, read one at a time and never longer than `line_bytes` (split as
    `str.splitlines` splits them)."""
    total = 0
    first = True
    number = 0
    while True:
        raw = stream.readline(line_bytes + 1)
        if not raw:
            return
        number += 1
        total += len(raw)
        if total > max_bytes:
            raise SubmissionTooLargeError(
                f"is larger than {max_bytes:,} bytes", dataset=dataset, member=member
            )
        if len(raw) > line_bytes and not raw.endswith(b"\n"):
            raise _LineTooLong(number)
        if first:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
            first = False
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SubmissionFormatError(
                "is not UTF-8 text; expected comma-separated integers", dataset=dataset, member=member
            ) from None
        yield from text.splitlines()


class _LineTooLong(Exception):
    def __init__(self, number: int) -> None:
        self.number = number


def _parse_topk_stream(
    stream: Any, bounds: TopkBounds | None, *, max_bytes: int, dataset: str | None, member: str | None
) -> tuple[np.ndarray | None, np.ndarray]:
    """`parse_topk_table` on a binary stream, a line at a time: memory is one line plus the indices."""
    line_bytes = bounds.line_bytes if bounds is not None else _UNBOUNDED_LINE_BYTES
    ids: list[str] | None = None
    values = array.array("q")
    width = 0
    rows = 0
    lines = _csv_lines(stream, line_bytes=line_bytes, max_bytes=max_bytes, dataset=dataset, member=member)
    try:
        for index, line in enumerate(lines):
            if index == 0 and not _INTEGER.fullmatch(line.rsplit(",", 1)[-1]):
                continue  # a header
            if not line.strip():
                continue
            rows += 1
            if bounds is not None and rows > bounds.rows:
                raise SubmissionFormatError(
                    CSV_TOO_MANY_ROWS.format(rows=bounds.rows), dataset=dataset, member=member
                )
            if rows == 1 and _LETTER.search(line.split(",", 1)[0]):
                ids = []
            if ids is not None:
                query, sep, line = line.partition(",")
                query = query.strip()
                if not sep or len(query) > MAX_CSV_QUERY_ID_LENGTH or not _LETTER.search(query):
                    raise SubmissionFormatError(
                        f"line {rows} does not start with a query id: {(query + sep + line)[:80]!r}; expected"
                        " every row to be 'query_id,index,index,...' like the first one",
                        dataset=dataset,
                        member=member,
                    )
                ids.append(query)
            fields = line.split(",")
            if rows == 1:
                width = len(fields)
                if bounds is not None and width > bounds.videos:
                    raise SubmissionFormatError(
                        CSV_TOO_MANY_COLUMNS.format(width=width, videos=bounds.videos),
                        dataset=dataset,
                        member=member,
                    )
            if bounds is not None:
                longest = max(len(field) for field in fields)
                if longest > bounds.field_chars:
                    raise SubmissionFormatError(
                        CSV_FIELD_TOO_LONG.format(
                            line=rows, chars=longest, videos=bounds.videos, limit=bounds.field_chars
                        ),
                        dataset=dataset,
                        member=member,
                    )
            try:
                parsed = [int(v) for v in fields]
            except ValueError:
                raise SubmissionFormatError(
                    f"line {rows} is not comma-separated integers: {line[:80]!r}",
                    dataset=dataset,
                    member=member,
                ) from None
            if len(parsed) != width:
                raise SubmissionFormatError(
                    f"line {rows} has {len(parsed)} values; expected {width} like the first line",
                    dataset=dataset,
                    member=member,
                )
            try:
                values.extend(parsed)
            except OverflowError:  # an integer beyond int64: no video has such an index
                raise SubmissionFormatError(
                    f"holds an index beyond {np.iinfo(np.int64).max:,}; expected 0-based video indices",
                    dataset=dataset,
                    member=member,
                ) from None
    except _LineTooLong as long:
        fields = bounds.videos + 1 if bounds is not None else None
        raise SubmissionFormatError(
            CSV_LINE_TOO_LONG.format(
                line=long.number,
                limit=line_bytes,
                fields=fields or line_bytes // 2,
                chars=bounds.field_chars if bounds is not None else "a few",
            ),
            dataset=dataset,
            member=member,
        ) from None
    if not rows:
        raise SubmissionFormatError(
            "holds no rows; expected one row of video indices per query", dataset=dataset, member=member
        )
    topk = np.frombuffer(values, dtype=np.int64).reshape(rows, width).copy()
    return (None if ids is None else np.array(ids)), topk


# --------------------------------------------------------------------------------------------- hdf5


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
            arrays = {}
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


@dataclass(frozen=True)
class _ChunkLayout:
    """How a chunked HDF5 array is stored: chunk shape, bytes per chunk, filter ids in pipeline order."""

    chunks: tuple[int, ...]
    nbytes: int
    filters: tuple[int, ...]
    stored: tuple[Any, ...]  # h5py StoreInfo of every allocated chunk

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
    stored: list[Any] = []

    def keep(info: Any) -> None:
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


def _inflate_at_most(stream: bytes, nbytes: int) -> bytearray:
    """Inflate a zlib stream into a buffer of `nbytes`, a piece at a time: memory is that buffer.

    Raises:
        OverflowError: the stream holds more than `nbytes`.
        ValueError: the stream is not valid zlib data.
    """
    out = bytearray(nbytes)
    filled = 0
    inflater = zlib.decompressobj()
    pending = stream
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
    data = raw
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
    node: h5py.Dataset, out: np.ndarray, layout: _ChunkLayout, *, dataset: str, member: str
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


def _names_dataset(key: str, dataset: str) -> bool:
    try:
        return canonical_dataset_name(key, known=(dataset,)) == dataset
    except EvaluationError:
        return False


def _read_h5_array(
    path: Path, role: str, dataset: str, limits: ReadLimits, declared: ArrayInfo, label: str
) -> np.ndarray:
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


# ------------------------------------------------------------------------------------------- public


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
) -> dict[str, np.ndarray]:
    """Read one dataset's arrays: {"sims": (R, V)} or {"text": (Q, D), "video": (V, D)} or {"topk": (Q, k)}
    (plus "query_ids", (Q,) strings, when the CSV's rows name their queries).

    The file is read as it is now, with every check of `inspect_submission` again: arrays must be those
    the manifest declares, and a top-k CSV stops at the first row, column or value beyond `topk_bounds`
    (the phase's shapes; the server always gives them). `file_name`: as for `inspect_submission`."""
    path = Path(path)
    label = file_name or path.name
    limits = limits or ReadLimits()
    entry = manifest.entries[dataset]
    arrays: dict[str, np.ndarray] = {}
    if manifest.container == "zip":
        try:
            with _open_zip(path, limits, label) as archive:
                for role, info in entry.arrays.items():
                    if entry.kind == KIND_TOPK:
                        query_ids, arrays[role] = _read_csv_member(
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
