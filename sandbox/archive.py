"""Unpacking the zips of code phases with bounds: a participant's program, the organisers' gallery inputs.

Only regular files and folders are unpacked; a member with an absolute path, a `..`, a link, a
device or an encrypted body is refused with its name; the count of members and the bytes written
are bounded while they are written (a zip's declared sizes are not trusted).
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

ENTRY = "main.py"

NOT_A_ZIP = "The program must be a .zip archive holding main.py; this file is not a zip archive."
NO_ENTRY = (
    "The archive holds no main.py: put main.py at its top level (or in its only folder); found {found}."
)
TOO_MANY_MEMBERS = "The archive holds {count:,} entries; at most {limit:,} are accepted."
TOO_LARGE = "The archive unpacks to more than {limit:,} bytes, the most accepted."
BAD_MEMBER = "The archive entry {name!r} is refused: {why}."
ENCRYPTED = "is encrypted"
UNSAFE_PATH = "its path is absolute or leaves the archive's folder"
NOT_A_FILE = "it is a link or a special file; only files and folders are accepted"


class ArchiveError(ValueError):
    """An archive refused, with a sentence saying why."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_bytes: int = 8 * 1024**3


def _members(zf: zipfile.ZipFile, limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise ArchiveError(TOO_MANY_MEMBERS.format(count=len(infos), limit=limits.max_members))
    declared = 0
    for info in infos:
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if (
            info.filename.startswith(("/", "\\"))
            or ".." in path.parts
            or (path.parts and ":" in path.parts[0])
        ):
            raise ArchiveError(BAD_MEMBER.format(name=info.filename, why=UNSAFE_PATH))
        if info.flag_bits & 0x1:
            raise ArchiveError(BAD_MEMBER.format(name=info.filename, why=ENCRYPTED))
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 where the archiver wrote no type
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError(BAD_MEMBER.format(name=info.filename, why=NOT_A_FILE))
        declared += info.file_size
        if declared > limits.max_bytes:
            raise ArchiveError(TOO_LARGE.format(limit=limits.max_bytes))
    return infos


def bundle_check(path: str | Path, *, limits: ArchiveLimits = ArchiveLimits()) -> int:
    """Check any archive's members (count, declared bytes, paths, kinds); returns the declared bytes."""
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(info.file_size for info in _members(zf, limits))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveError(
            NOT_A_ZIP.replace("The program", "The archive").replace(" holding main.py", "")
        ) from exc


def program_root(names: list[str]) -> str:
    """The folder inside the archive that holds main.py: '' (the top) or its only top-level folder.

    >>> program_root(["main.py", "w.pt"]), program_root(["team/main.py", "team/w.pt"])
    ('', 'team/')
    """
    files = [n for n in names if not n.endswith("/")]
    if ENTRY in files:
        return ""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1:
        top = next(iter(tops)) + "/"
        if top + ENTRY in files:
            return top
    shown = ", ".join(sorted(files)[:5]) + (" ..." if len(files) > 5 else "") if files else "no files"
    raise ArchiveError(NO_ENTRY.format(found=shown))


def program_check(path: str | Path, *, limits: ArchiveLimits = ArchiveLimits()) -> dict[str, Any]:
    """Check a program archive without unpacking it: {"files": n, "bytes": declared, "root": folder}."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = _members(zf, limits)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveError(NOT_A_ZIP) from exc
    names = [i.filename for i in infos]
    root = program_root(names)
    return {
        "files": sum(not n.endswith("/") for n in names),
        "bytes": sum(i.file_size for i in infos),
        "root": root,
    }


def extract(path: str | Path, dest: Path, *, limits: ArchiveLimits = ArchiveLimits(), strip: str = "") -> int:
    """Unpack the archive's files under `strip` into `dest` (files 0644, folders 0755); returns bytes written.

    Raises:
        ArchiveError: the archive is refused (nothing useful is left in `dest`).
    """
    written = 0
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o755)
    try:
        with zipfile.ZipFile(path) as zf:
            for info in _members(zf, limits):
                name = info.filename.replace("\\", "/")
                if not name.startswith(strip):
                    continue
                relative = name[len(strip) :]
                if not relative:
                    continue
                target = dest.joinpath(*PurePosixPath(relative).parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    target.chmod(0o755)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > limits.max_bytes:
                            raise ArchiveError(TOO_LARGE.format(limit=limits.max_bytes))
                        out.write(chunk)
                target.chmod(0o644)
        for folder in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
    except (zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
        raise ArchiveError(NOT_A_ZIP) from exc
    return written


def program_extract(path: str | Path, dest: Path, *, limits: ArchiveLimits = ArchiveLimits()) -> int:
    """Unpack a program archive so that `dest/main.py` is its entry point."""
    return extract(path, dest, limits=limits, strip=program_check(path, limits=limits)["root"])
