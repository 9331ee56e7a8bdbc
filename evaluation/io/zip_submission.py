"""Zip submissions: which member holds which dataset's arrays, from the directory and .npy headers,
and a top-k member (CSV or JSON) read within its bounds."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..datasets import canonical_dataset_name
from ..errors import EvaluationError, SubmissionFormatError, SubmissionTooLargeError
from .archive import _IGNORED_MEMBER, _find_member, _open_zip, _safe_member_name
from .limits import ReadLimits, _check_array_header, _check_compression_ratio
from .manifest import KIND_EMBEDDINGS, KIND_SIMILARITY, KIND_TOPK, ArrayInfo, SubmissionEntry, _entry
from .npy import _npy_header
from .topk import _parse_topk_stream
from .topk_bounds import TopkBounds
from .topk_ids import gallery_id_header
from .topk_json import JSON_SUFFIX, MAX_JSON_TOPK_BYTES, parse_topk_json

_CSV_SUFFIX = "-predictions.csv"
#: Enough of a CSV's first line to recognise a `query_id,gallery_ids` header (spaces, quotes, a BOM).
_HEADER_PEEK_BYTES = 256


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
                    " embeddings or one predictions CSV (or JSON) per dataset",
                    dataset=dataset,
                    member=member,
                )
            if kind == KIND_TOPK:
                array = _topk_info(archive, info, member)
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


def _topk_info(archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: str) -> ArrayInfo:
    """A top-k member's entry: a JSON one within its cap; whether a CSV names gallery ids, from its header."""
    if member.lower().endswith(JSON_SUFFIX):
        if info.file_size > MAX_JSON_TOPK_BYTES:
            raise SubmissionTooLargeError(
                f"declares {info.file_size:,} bytes uncompressed; expected a JSON top-k of at most"
                f" {MAX_JSON_TOPK_BYTES:,} bytes",
                member=member,
            )
        return ArrayInfo(member=member, shape=(-1, -1), dtype="int64", gallery_ids=True)
    try:
        with archive.open(info) as stream:
            head = stream.read(_HEADER_PEEK_BYTES)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error):
        raise SubmissionFormatError(
            "cannot be read from the archive; expected an intact, unencrypted member stored or deflated",
            member=member,
        ) from None
    # A hint for the upload (fetch the gallery or not); the reader decides again from the whole line.
    line = next(iter(head.removeprefix(b"\xef\xbb\xbf").splitlines()), b"")
    names_ids = gallery_id_header(line.decode("utf-8", errors="replace")) is not None
    return ArrayInfo(member=member, shape=(-1, -1), dtype="int64", gallery_ids=names_ids)


def _zip_member_role(member: str, archive: str, known: tuple[str, ...] | None = None) -> tuple[str, str, str]:
    lower = member.lower()
    for suffix in (_CSV_SUFFIX, JSON_SUFFIX):
        if lower.endswith(suffix):
            return _topk_role(member, suffix, known)
    if lower.endswith(".npy"):
        stem = member[:-4]
        for suffix, role in (("_text", "text"), ("_video", "video")):
            if stem.lower().endswith(suffix):
                name = canonical_dataset_name(stem[: -len(suffix)], known=known, member=member)
                return name, role, KIND_EMBEDDINGS
        return canonical_dataset_name(stem, known=known, member=member), "sims", KIND_SIMILARITY
    raise SubmissionFormatError(
        "is not a recognised member; expected '{Dataset}-{phase}-predictions.csv' (or .json),"
        " '{Dataset}.npy', or '{Dataset}_text.npy' with '{Dataset}_video.npy'",
        member=member,
    )


def _topk_role(member: str, suffix: str, known: tuple[str, ...] | None) -> tuple[str, str, str]:
    """`{Dataset}-{phase}-predictions.csv` (or .json): the dataset, with or without the phase part."""
    stem = member[: -len(suffix)]
    dataset_part = stem.rsplit("-", 1)[0] if "-" in stem else stem
    try:
        dataset = canonical_dataset_name(dataset_part, known=known, member=member)
    except EvaluationError:
        dataset = canonical_dataset_name(stem, known=known, member=member)
    return dataset, "topk", KIND_TOPK


def _read_topk_member(
    archive: zipfile.ZipFile, member_name: str, dataset: str, limits: ReadLimits, bounds: TopkBounds | None
) -> tuple[npt.NDArray[np.str_] | None, npt.NDArray[np.int64]]:
    info = _find_member(archive, member_name)
    with archive.open(info) as stream:
        if member_name.lower().endswith(JSON_SUFFIX):
            return parse_topk_json(
                stream, bounds, max_bytes=limits.max_array_bytes, dataset=dataset, member=member_name
            )
        return _parse_topk_stream(
            stream, bounds, max_bytes=limits.max_array_bytes, dataset=dataset, member=member_name
        )
