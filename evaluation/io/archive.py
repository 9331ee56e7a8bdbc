"""Safe zip handling: the end record checked before `zipfile` lists the directory, member names
without absolute or parent paths, and members found again by name in the archive as it is now."""

from __future__ import annotations

import os
import re
import struct
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from ..errors import SubmissionFormatError, SubmissionTooLargeError
from .limits import ReadLimits

# Archive clutter that desktop zip tools add; skipped rather than rejected.
_IGNORED_MEMBER = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|\._)")
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


def _safe_member_name(name: str, archive: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise SubmissionFormatError(
            f"archive member {name!r} has an absolute or parent ('..') path; expected plain file names",
            member=archive,
        )
    return path


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


def _member_data_offset(raw: IO[bytes], info: zipfile.ZipInfo) -> int:
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
