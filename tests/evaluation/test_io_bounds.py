"""Bounds before work (docs/design.md, section 5): sizes in Python integers, the zip directory bounded
from its end record before `zipfile` lists it, a top-k CSV bounded by the phase's shapes and read a
line at a time, stopping at the first violation."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from evaluation.errors import SubmissionFormatError, SubmissionTooLargeError
from evaluation.io import inspect_submission, load_entry
from evaluation.synthetic import codalab_csv, topk_lists
from evaluation.validation import DatasetShape, check_manifest, check_topk_lists

MiB = 1024**2


def _npy_header(shape: tuple[int, ...]) -> bytes:
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def test_an_npy_shape_whose_size_overflows_is_refused(tmp_path):
    """(64, 2**62) float32 is 2**70 bytes, 0 in int64: it passed every limit and failed in the worker."""
    path = tmp_path / "o.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("DiDeMo.npy", _npy_header((64, 2**62)) + bytes(64))
    with pytest.raises(
        SubmissionTooLargeError, match=r"declares shape \(64, 4611686018427387904\)"
    ) as caught:
        inspect_submission(path)
    assert "dimension above 2,147,483,648" in str(caught.value)


def test_a_dimension_above_two_to_the_31_is_refused_even_when_small(tmp_path):
    path = tmp_path / "o.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("DiDeMo.npy", _npy_header((2**31 + 1, 0)) + bytes(64))
    with pytest.raises(SubmissionTooLargeError, match="dimension above 2,147,483,648"):
        inspect_submission(path)


# ------------------------------------------------------------------------------------------------ zip


def directory_zip(path: Path, entries: int, *, count: int | None = None, zip64: bool = False) -> Path:
    """A zip whose central directory lists `entries` members, all of one local file; the end record
    declares `count` entries (default: the truth), in a zip64 record when `zip64`."""
    data = b"1"
    crc = zlib.crc32(data)
    name = b"x.csv"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, 1, 1, len(name), 0) + name + data
    directory = bytearray()
    for index in range(entries):
        member = f"{index:07d}-val-predictions.csv".encode()
        directory += struct.pack(
            "<4s6H3L5HLL", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, 1, 1, len(member), 0, 0, 0, 0, 0, 0
        )
        directory += member
    declared = entries if count is None else count
    tail = b""
    if zip64:
        record_at = len(local) + len(directory)
        tail = struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, declared, declared, len(directory), len(local)
        )
        tail += struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1)
        end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        end = struct.pack(
            "<4s4H2LH",
            b"PK\x05\x06",
            0,
            0,
            declared & 0xFFFF,
            declared & 0xFFFF,
            len(directory),
            len(local),
            0,
        )
    path.write_bytes(local + bytes(directory) + tail + end)
    return path


def _peak_while(call) -> tuple[int, BaseException | None]:
    tracemalloc.start()
    try:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - returned for the caller to check
            error = exc
        else:
            error = None
        return tracemalloc.get_traced_memory()[1], error
    finally:
        tracemalloc.stop()


def test_a_zip_of_100k_directory_entries_is_refused_before_it_is_listed(tmp_path):
    path = directory_zip(tmp_path / "many.zip", 100_000, zip64=True)
    assert zipfile.ZipFile(path).namelist()[:1] == ["0000000-val-predictions.csv"]  # zipfile reads it
    peak, error = _peak_while(lambda: inspect_submission(path))
    assert isinstance(error, SubmissionTooLargeError), error
    assert "holds 100,000 entries in its directory; at most 1,024" in str(error)
    assert peak < 1 * MiB, f"{peak / MiB:.1f} MiB"  # listing it took ~60 MiB


def test_a_zip64_end_record_declaring_a_million_entries_is_refused(tmp_path):
    path = directory_zip(tmp_path / "z64.zip", 3, count=1_000_000, zip64=True)
    with pytest.raises(SubmissionTooLargeError, match="holds 1,000,000 entries in its directory"):
        inspect_submission(path)


def test_an_end_record_that_understates_its_directory_is_refused(tmp_path):
    """zipfile reads the whole directory the end record sizes, whatever count it declares."""
    path = directory_zip(tmp_path / "liar.zip", 20_000, count=1)
    peak, error = _peak_while(lambda: inspect_submission(path))
    assert isinstance(error, SubmissionTooLargeError), error
    assert "a central directory of 1,460,000 bytes; at most 262,144 bytes" in str(error)
    assert peak < 1 * MiB


def test_honest_zips_with_clutter_still_pass(tmp_path, one_matrix):
    path = tmp_path / "mac.zip"
    buffer = io.BytesIO()
    np.save(buffer, one_matrix)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("submission/", b"")
        archive.writestr("submission/DiDeMo.npy", buffer.getvalue())
        archive.writestr("__MACOSX/submission/._DiDeMo.npy", b"\x00" * 100)
        archive.writestr("submission/.DS_Store", b"\x00" * 100)
    assert inspect_submission(path).kinds == {"DiDeMo": "similarity"}


# ------------------------------------------------------------------------------------------------ csv

SHAPE = DatasetShape(num_queries=50, num_videos=40)


def csv_zip(path: Path, body: bytes, *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("DiDeMo-val-predictions.csv", body)
    return path


def _check(path: Path, shape: DatasetShape = SHAPE) -> None:
    """The upload's checks of a top-k file, as the web process runs them."""
    manifest = inspect_submission(path)
    check_manifest(manifest, {"DiDeMo": shape})
    check_topk_lists(path, manifest, {"DiDeMo": shape})


def _honest_rows(rows: int, k: int = 10, videos: int = 40) -> bytes:
    rng = np.random.default_rng(0)
    return codalab_csv(np.stack([rng.permutation(videos)[:k] for _ in range(rows)]))


def test_an_honest_csv_passes_and_reads_as_before(tmp_path):
    body = _honest_rows(50)
    path = csv_zip(tmp_path / "ok.zip", body)
    _check(path)
    manifest = inspect_submission(path)
    topk = load_entry(path, manifest, "DiDeMo", topk_bounds=SHAPE.topk_bounds())["topk"]
    assert topk.tolist() == [[int(v) for v in line.split(",")] for line in body.decode().split()]


@pytest.mark.slow
def test_a_csv_with_far_more_rows_than_queries_stops_at_the_first_extra_row(tmp_path):
    path = csv_zip(tmp_path / "rows.zip", _honest_rows(200_000))
    peak, error = _peak_while(lambda: _check(path))
    assert isinstance(error, SubmissionFormatError), error
    assert "has more than 50 rows; expected 50, one per query" in str(error)
    assert peak < 4 * MiB, f"{peak / MiB:.1f} MiB"


@pytest.mark.parametrize(
    "body, message",
    [
        (b"1," * 4 * MiB, r"line 1 is longer than [\d,]+ bytes; expected at most 41 values"),
        (b",".join([b"1"] * 45) + b"\n", r"has 45 columns; expected at most 40, the number of videos"),
        (b"0,1,2,3,4,5,6,7,8," + b"9" * 40 + b"\n", r"line 1 holds a value of 40 characters; expected"),
        (b"qa,0,1,2\n" + b"q" * 300 + b",1,2,3\n", r"line 2 does not start with a query id"),
    ],
)
def test_csv_lines_are_bounded_by_the_phase(tmp_path, body, message):
    path = csv_zip(tmp_path / "b.zip", body, compression=zipfile.ZIP_STORED)
    peak, error = _peak_while(lambda: _check(path))
    assert isinstance(error, SubmissionFormatError), error
    assert __import__("re").search(message, str(error)), str(error)
    assert peak < 4 * MiB, f"{peak / MiB:.1f} MiB"


def test_the_worker_reads_the_csv_within_the_truth(tmp_path, tiny_truth, tiny_matrices):
    """score_submission bounds the CSV by the ground truth's shapes, as the upload did."""
    from evaluation.scoring import score_submission

    truth = tiny_truth.datasets["DiDeMo"]
    good = codalab_csv(topk_lists(tiny_matrices["DiDeMo"], 10))
    path = csv_zip(tmp_path / "w.zip", good + good)  # every row twice
    with pytest.raises(SubmissionFormatError, match=f"has more than {truth.num_queries} rows"):
        score_submission(ground_truth=tiny_truth, submission_path=path)
    report = score_submission(ground_truth=tiny_truth, submission_path=csv_zip(tmp_path / "g.zip", good))
    assert report["datasets"]["DiDeMo"]["score"] > 0


def csv_bomb(path: Path, dataset: str = "DiDeMo", *, megabytes: int = 150) -> Path:
    """A ~3.4 MiB zip of a ~150 MiB top-k CSV: rows of ten indices, each 200-row block repeated 30 times
    (about 45:1, under the compression-ratio limit)."""
    rng = np.random.default_rng(0)
    pool = []
    for _ in range(64):
        rows = rng.integers(0, 1000, size=(200, 10))
        pool.append(("\n".join(",".join(map(str, row)) for row in rows) + "\n").encode() * 30)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open(f"{dataset}-val-predictions.csv", "w", force_zip64=True) as member:
            written = 0
            while written < megabytes * MiB:
                block = pool[(written // len(pool[0])) % len(pool)]
                member.write(block)
                written += len(block)
    return path


_MEASURE = """
import sys
from evaluation.errors import SubmissionError
from evaluation.io import inspect_submission
from evaluation.validation import DatasetShape, check_manifest, check_topk_lists

def hwm():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) * 1024

shapes = {"DiDeMo": DatasetShape(num_queries=1000, num_videos=1000)}
before = hwm()
try:
    manifest = inspect_submission(sys.argv[1])
    check_manifest(manifest, shapes)
    check_topk_lists(sys.argv[1], manifest, shapes)
    print("accepted")
except SubmissionError as exc:
    print(exc)
print(hwm() - before)
"""


@pytest.mark.slow
def test_the_150_mib_csv_zip_grows_the_process_by_less_than_64_mib(tmp_path):
    """Measured as the upload's checks run (`check_topk_lists`, as the web process calls it): the
    process's peak resident memory, before and after, in a fresh interpreter."""
    path = csv_bomb(tmp_path / "bomb.zip")
    assert path.stat().st_size < 4 * MiB and zipfile.ZipFile(path).infolist()[0].file_size > 150 * 10**6
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=True,
    )
    message, grown = done.stdout.strip().splitlines()
    assert "has more than 1,000 rows; expected 1,000, one per query" in message
    assert int(grown) < 64 * MiB, f"grew by {int(grown) / MiB:.0f} MiB"
