"""Container detection: a submission is a zip (``.zip``, ``.npz``) or an HDF5 file by its magic bytes,
never by its extension."""

from __future__ import annotations

from pathlib import Path

from ..errors import SubmissionFormatError

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


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
