"""Memory amplification (SECURITY.md, finding 8): storage that inflates far beyond the file is refused
from its metadata, and what passes is read without inflating beyond each chunk's size."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from evaluation.errors import SubmissionFormatError, SubmissionTooLargeError
from evaluation.io import ReadLimits, inspect_submission, load_entry
from tests.evaluation.test_io import make_zip, npy_bytes
from tests.security.corpus import deflated_zeros

REPO = Path(__file__).resolve().parents[2]
MiB = 1024**2
# Far below the 1,069 MiB the chunk bomb cost before; far above the interpreter with numpy and h5py.
PEAK_RSS_LIMIT_MIB = 300


def write_chunk_bomb(path: Path, shape: tuple[int, int], chunks: tuple[int, int], inflated: int) -> Path:
    """A float32 array in one gzip chunk at (0, 0) whose stream inflates to `inflated` bytes."""
    with h5py.File(path, "w") as handle:
        node = handle.create_group("MSVD").create_dataset(
            "sims", shape=shape, maxshape=(None, None), dtype="f4", chunks=chunks, compression="gzip"
        )
        node.id.write_direct_chunk((0, 0), deflated_zeros(inflated))
    return path


def peak_rss_of(argv: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run argv in a fresh child of a fresh interpreter; its peak resident set size in MiB."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *argv], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    return done, int(done.stderr.strip().splitlines()[-1]) / 1024


@pytest.mark.slow
def test_a_one_gib_gzip_chunk_is_refused_before_it_is_inflated(tmp_path, tiny_truth_path):
    # The finding: 1 MB on disk, 97 x 20 float32 declared, one 16384 x 16384 chunk = 1 GiB inflated.
    bomb = write_chunk_bomb(tmp_path / "bomb.h5", (97, 20), (16384, 16384), 1024 * MiB)
    assert bomb.stat().st_size < 2 * MiB
    done, peak_mib = peak_rss_of(
        [
            sys.executable,
            "-m",
            "evaluation",
            "score",
            "--submission",
            str(bomb),
            "--ground-truth",
            str(tiny_truth_path),
        ]
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "chunks of 16384 x 16384 x 4 bytes = 1,073,741,824 bytes, above the limit" in done.stderr
    assert peak_mib < PEAK_RSS_LIMIT_MIB


def test_a_chunk_larger_than_the_limit_is_refused_from_its_metadata(tmp_path):
    path = tmp_path / "big-chunk.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("MSVD").create_dataset(
            "sims", shape=(97, 20), maxshape=(None, None), dtype="f4", chunks=(512, 512)
        )
    with pytest.raises(SubmissionTooLargeError, match=r"chunks of 512 x 512 x 4 bytes = 1,048,576 bytes"):
        inspect_submission(path, limits=ReadLimits(max_chunk_bytes=512 * 1024))
    assert inspect_submission(path).entries["MSVD"].arrays["sims"].shape == (97, 20)


@pytest.mark.slow
def test_a_chunk_stored_larger_than_its_data_is_refused_at_inspection(tmp_path):
    # 7,760 bytes of chunk, 0.5 MB of gzip stream: HDF5's filter would inflate it to 512 MiB.
    path = write_chunk_bomb(tmp_path / "over.h5", (97, 20), (97, 20), 512 * MiB)
    with pytest.raises(SubmissionFormatError, match=r"stores [\d,]+ bytes for a chunk of 7,760 bytes"):
        inspect_submission(path)


def test_a_chunk_that_inflates_beyond_its_size_is_refused_while_reading(tmp_path):
    # Within every metadata bound (256 KiB chunk, 64 KB stored), but the stream inflates to 64 MiB.
    path = write_chunk_bomb(tmp_path / "inflates.h5", (97, 20), (256, 256), 64 * MiB)
    manifest = inspect_submission(path)
    with pytest.raises(SubmissionTooLargeError, match="inflates beyond its 262,144 bytes"):
        load_entry(path, manifest, "MSVD")


def test_filters_the_reader_cannot_bound_are_refused(tmp_path):
    path = tmp_path / "lzf.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("MSVD").create_dataset("sims", data=np.ones((97, 20), "f4"), compression="lzf")
    with pytest.raises(SubmissionFormatError, match=r"uses the HDF5 filter 'lzf' \(id 32000\); expected"):
        inspect_submission(path)


def test_an_array_split_into_too_many_chunks_is_refused(tmp_path):
    path = tmp_path / "rows.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("MSVD").create_dataset("sims", data=np.ones((97, 20), "f4"), chunks=(1, 20))
    with pytest.raises(SubmissionTooLargeError, match="split into 97 chunks, above the limit of 50"):
        inspect_submission(path, limits=ReadLimits(max_chunks=50))


def test_a_small_file_declaring_large_arrays_is_refused(tmp_path):
    # Never-written (unallocated) storage reads as the fill value: 16 MiB declared in a 2 KiB file.
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("MSVD").create_dataset("sims", shape=(2048, 2048), dtype="f4")
    with pytest.raises(
        SubmissionTooLargeError, match=r"16,777,216 bytes uncompressed for [\d,]+ stored bytes"
    ):
        inspect_submission(path)


def test_gzip_shuffle_and_fletcher32_chunks_read_like_hdf5_itself(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.standard_normal((97, 20)).astype(">f4")
    path = tmp_path / "filters.h5"
    with h5py.File(path, "w") as handle:
        node = handle.create_group("MSVD").create_dataset(
            "sims",
            shape=data.shape,
            dtype=">f4",
            chunks=(13, 7),  # edge chunks cut by the array's border on both axes
            compression="gzip",
            shuffle=True,
            fletcher32=True,
            fillvalue=-2.5,
        )
        node[:90] = data[:90]  # the last row of chunks is never written: the fill value
    with h5py.File(path, "r") as handle:
        expected = handle["MSVD/sims"][...]
    assert (expected[91:] == -2.5).all()
    loaded = load_entry(path, inspect_submission(path), "MSVD")["sims"]
    assert loaded.dtype == np.float32 and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, expected)


def test_a_highly_compressed_zip_member_is_refused(tmp_path):
    # 4 MiB of zero similarities deflate to a few KiB: declared size within the limits, ratio not.
    path = make_zip(
        tmp_path / "zeros.zip",
        {"MSVD.npy": npy_bytes(np.zeros((1024, 1024), np.float32))},
        compression=zipfile.ZIP_DEFLATED,
    )
    with pytest.raises(
        SubmissionTooLargeError, match=r"file MSVD\.npy: declares 4,194,432 bytes uncompressed"
    ):
        inspect_submission(path)


def test_a_member_inflating_beyond_its_declared_size_is_not_read_past_it(tmp_path, tiny_truth):
    # The archive's directory says 16 bytes; the stream holds a whole CSV. The reader stops at the
    # declared size (and the CRC then refuses the member): the declared size bounds what is inflated.
    csv = b"\n".join(b",".join(str(i).encode() for i in range(20)) for _ in range(97)) + b"\n"
    path = make_zip(
        tmp_path / "lying.zip", {"MSVD-val-predictions.csv": csv}, compression=zipfile.ZIP_DEFLATED
    )
    raw = bytearray(path.read_bytes())
    size = len(csv).to_bytes(4, "little")
    for start in [i for i in range(len(raw) - 4) if raw[i : i + 4] == size]:
        raw[start : start + 4] = (16).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    # inspection peeks at the CSV's header (does it name gallery ids?) and may meet the lie first
    with pytest.raises(SubmissionFormatError, match="cannot be decompressed|cannot be read from the archive"):
        manifest = inspect_submission(path)
        load_entry(path, manifest, "MSVD")
