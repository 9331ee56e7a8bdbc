"""One HDF5 rule for every file the server opens (docs/design.md, section 5): hard links only, data
inside the file, bounded groups, checked by the reader that reads, not only at inspection."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from evaluation.errors import GroundTruthError, SubmissionFormatError, SubmissionTooLargeError
from evaluation.ground_truth import GroundTruth, dataset_truth, read_ground_truth, write_ground_truth
from evaluation.io import inspect_submission, load_entry

PASSWD = Path("/etc/passwd")
SECRET = PASSWD.read_bytes()[:16]


def _honest(path: Path, matrix: np.ndarray) -> Path:
    with h5py.File(path, "w") as handle:
        handle.create_group("DiDeMo").create_dataset("sims", data=matrix)
    return path


def _secret_h5(path: Path, matrix: np.ndarray) -> Path:
    """Another HDF5 file on the server (another team's entry, a ground truth) holding data."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset("secret", data=np.full_like(matrix, 7.0))
    return path


def _hostile(kind: str, path: Path, matrix: np.ndarray, tmp_path: Path) -> Path:
    """A file of the same name and declared shape whose /DiDeMo/sims points outside it."""
    shape, dtype = matrix.shape, matrix.dtype
    nbytes = matrix.nbytes
    with h5py.File(path, "w") as handle:
        group = handle.create_group("DiDeMo")
        if kind == "external-storage":
            group.create_dataset("sims", shape=shape, dtype=dtype, external=[(str(PASSWD), 0, nbytes)])
        elif kind == "virtual":
            source = _secret_h5(tmp_path / "secret.h5", matrix)
            layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
            layout[:] = h5py.VirtualSource(str(source), "secret", shape=shape)
            group.create_virtual_dataset("sims", layout, fillvalue=0)
        elif kind == "virtual-passwd":
            layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
            layout[:] = h5py.VirtualSource(str(PASSWD), "x", shape=shape)
            group.create_virtual_dataset("sims", layout, fillvalue=0)
        elif kind == "soft-link":
            handle.create_dataset("elsewhere", data=matrix)
            group["sims"] = h5py.SoftLink("/elsewhere")
        elif kind == "external-link":
            source = _secret_h5(tmp_path / "secret.h5", matrix)
            group["sims"] = h5py.ExternalLink(str(source), "/secret")
    return path


HOSTILE = ["external-storage", "virtual", "virtual-passwd", "soft-link", "external-link"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_the_worker_reader_refuses_a_file_swapped_after_inspection(tmp_path, one_matrix, kind):
    path = _honest(tmp_path / "entry.h5", one_matrix)
    manifest = inspect_submission(path)
    assert np.array_equal(load_entry(path, manifest, "DiDeMo")["sims"], one_matrix)
    swapped = _hostile(kind, tmp_path / "swap.h5", one_matrix, tmp_path)
    shutil.move(swapped, path)  # replaced on disk after the upload's inspection
    with pytest.raises(SubmissionFormatError) as caught:
        load_entry(path, manifest, "DiDeMo")
    message = str(caught.value)
    assert "expected" in message and str(tmp_path) not in message
    assert SECRET.decode("latin1") not in message


@pytest.mark.parametrize("kind", HOSTILE)
def test_inspection_refuses_data_outside_the_file(tmp_path, one_matrix, kind):
    path = _hostile(kind, tmp_path / "entry.h5", one_matrix, tmp_path)
    with pytest.raises(SubmissionFormatError, match="expected") as caught:
        inspect_submission(path)
    assert str(tmp_path) not in str(caught.value)


def test_a_dataset_group_of_many_links_is_refused_before_it_is_listed(tmp_path, one_matrix):
    path = _honest(tmp_path / "entry.h5", one_matrix)
    with h5py.File(path, "a") as handle:
        group = handle["DiDeMo"]
        for index in range(300):
            group[f"copy{index}"] = group["sims"]  # hard links: each alone is fine
    with pytest.raises(SubmissionTooLargeError, match=r"group '/DiDeMo' holds 301 entries; at most 64"):
        inspect_submission(path)


def test_a_missing_external_target_says_nothing_about_the_server(tmp_path, one_matrix):
    missing = tmp_path / "generated-name-abc123.h5"
    with h5py.File(tmp_path / "entry.h5", "w") as handle:
        handle.create_group("DiDeMo")["sims"] = h5py.ExternalLink(str(missing), "/sims")
    with pytest.raises(SubmissionFormatError) as caught:
        inspect_submission(tmp_path / "entry.h5")
    assert "generated-name-abc123" not in str(caught.value) and str(tmp_path) not in str(caught.value)


def test_damaged_files_do_not_echo_library_text(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(SubmissionFormatError) as caught:
        inspect_submission(tmp_path / "x.h5")
    assert "not a readable HDF5 file" in str(caught.value)
    assert "signature" not in str(caught.value) and "synchronously" not in str(caught.value)


# ---------------------------------------------------------------------------------------- ground truth


def _truth_with(tmp_path: Path, tiny_truth, edit) -> Path:
    path = tmp_path / "gt.h5"
    write_ground_truth(path, tiny_truth)
    with h5py.File(path, "r+") as handle:
        edit(handle["DiDeMo"], tiny_truth.datasets["DiDeMo"])
    return path


def _passwd_query_text_strings(group, truth) -> None:
    if "query_text" in group:
        del group["query_text"]
    width = max(1, os.path.getsize(PASSWD) // truth.num_queries)
    group.create_dataset(
        "query_text",
        shape=(truth.num_queries,),
        dtype=f"S{width}",
        external=[(str(PASSWD), 0, width * truth.num_queries)],
    )


def _virtual_query_ids(group, truth) -> None:
    del group["query_ids"]
    layout = h5py.VirtualLayout(shape=(truth.num_queries,), dtype="S8")
    layout[:] = h5py.VirtualSource(str(PASSWD), "x", shape=(truth.num_queries,))
    group.create_virtual_dataset("query_ids", layout)


def _soft_videos(group, truth) -> None:
    group.file.move(group["videos"].name, "/videos_elsewhere")
    group["videos"] = h5py.SoftLink("/videos_elsewhere")


def _external_masks(group, truth) -> None:
    if "query_masks" in group:
        del group["query_masks"]
    group["query_masks"] = h5py.ExternalLink(str(PASSWD), "/x")


@pytest.mark.parametrize(
    "edit, message",
    [
        (_passwd_query_text_strings, "query_text' stores its data outside the file"),
        (_virtual_query_ids, "query_ids' is a virtual dataset"),
        (_soft_videos, "videos' is a soft or external link"),
        (_external_masks, "query_masks' is a soft or external link"),
    ],
)
def test_ground_truth_refuses_data_outside_the_file(tmp_path, tiny_truth, edit, message):
    path = _truth_with(tmp_path, tiny_truth, edit)
    with pytest.raises(GroundTruthError, match=message) as caught:
        read_ground_truth(path)
    text = str(caught.value)
    assert "root:" not in text and str(tmp_path) not in text and "expected" in text


def test_ground_truth_with_too_many_groups_is_refused(tmp_path, tiny_truth):
    path = tmp_path / "gt.h5"
    write_ground_truth(path, tiny_truth)
    with h5py.File(path, "r+") as handle:
        for index in range(100):
            handle[f"MSVD{index}"] = handle["MSVD"]
    with pytest.raises(GroundTruthError, match=r"holds 105 entries; at most 64"):
        read_ground_truth(path)


def test_honest_ground_truth_reads_as_before(tmp_path, tiny_truth):
    path = tmp_path / "gt.h5"
    write_ground_truth(path, tiny_truth)
    back = read_ground_truth(path)
    for name, d in tiny_truth.datasets.items():
        assert back.datasets[name].query_ids == d.query_ids
        assert back.datasets[name].query_text == d.query_text


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"dtype": ">f4"},
        {"chunks": True},
        {"chunks": (7, 5), "compression": "gzip", "shuffle": True, "fletcher32": True},
        {"dtype": "<f2"},
    ],
    ids=["contiguous", "big-endian", "chunked", "gzip-shuffle-fletcher32", "float16"],
)
def test_honest_h5_layouts_read_exactly_as_hdf5_reads_them(tmp_path, one_matrix, options):
    dtype = options.pop("dtype", "<f4")
    path = tmp_path / "entry.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("DiDeMo").create_dataset("sims", data=one_matrix.astype(dtype), **options)
    with h5py.File(path, "r") as handle:
        expected = handle["DiDeMo/sims"][()]
    got = load_entry(path, inspect_submission(path), "DiDeMo")["sims"]
    assert got.dtype == expected.dtype.newbyteorder("=") and np.array_equal(got, expected)


def test_compact_and_never_written_arrays_read_as_hdf5_reads_them(tmp_path):
    path = tmp_path / "entry.h5"
    with h5py.File(path, "w") as handle:
        space = h5py.h5s.create_simple((4, 3))
        plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        plist.set_layout(h5py.h5d.COMPACT)
        group = handle.create_group("DiDeMo")
        h5py.h5d.create(group.id, b"text", h5py.h5t.IEEE_F32LE, space, dcpl=plist).write(
            h5py.h5s.ALL, h5py.h5s.ALL, np.arange(12, dtype=np.float32).reshape(4, 3)
        )
        group.create_dataset("video", shape=(5, 3), dtype="f4", fillvalue=0.5)  # never written
    arrays = load_entry(path, inspect_submission(path), "DiDeMo")
    assert arrays["text"].tolist() == np.arange(12, dtype=np.float32).reshape(4, 3).tolist()
    assert (arrays["video"] == 0.5).all()


# ------------------------------------------------------------------------- ground truth, version 2


def _sets_truth_file(tmp_path: Path, edit=None) -> Path:
    """A version-2 ground truth (graded sets, a distractor clip), then `edit(group)` on its dataset."""
    truth = dataset_truth(
        name="MyClips",
        videos=["a", "b", "c", "d"],
        query_ids=["q0", "q1", "q2"],
        rel_query=[0, 0, 1, 2],
        rel_item=[0, 1, 1, 2],
        rel_grade=[1.0, 0.5, 1.0, 0.25],
    )
    path = tmp_path / "gt-v2.h5"
    write_ground_truth(path, GroundTruth("c", "val", {"MyClips": truth}))
    if edit is not None:
        with h5py.File(path, "r+") as handle:
            edit(handle["MyClips"])
    return path


def _soft_rel_item(group) -> None:
    group.file.move(group["rel_item"].name, "/rel_item_elsewhere")
    group["rel_item"] = h5py.SoftLink("/rel_item_elsewhere")


def _external_rel_query(group) -> None:
    del group["rel_query"]
    group["rel_query"] = h5py.ExternalLink(str(PASSWD), "/x")


def _passwd_rel_grade(group) -> None:
    del group["rel_grade"]
    group.create_dataset("rel_grade", shape=(4,), dtype="<f4", external=[(str(PASSWD), 0, 16)])


def _virtual_rel_query(group) -> None:
    del group["rel_query"]
    layout = h5py.VirtualLayout(shape=(4,), dtype="<i4")
    layout[:] = h5py.VirtualSource(str(PASSWD), "x", shape=(4,))
    group.create_virtual_dataset("rel_query", layout)


def _huge_rel_item(group) -> None:
    # declared far above the 3 x 4 cells a dataset can hold, and never written: refused unread
    del group["rel_item"]
    group.create_dataset("rel_item", shape=(2**31,), dtype="<i4", chunks=(1024,))


def _short_rel_grade(group) -> None:
    del group["rel_grade"]
    group.create_dataset("rel_grade", data=np.ones(3, dtype=np.float32))


@pytest.mark.parametrize(
    "edit, message",
    [
        (_soft_rel_item, "rel_item' is a soft or external link"),
        (_external_rel_query, "rel_query' is a soft or external link"),
        (_passwd_rel_grade, "rel_grade' stores its data outside the file"),
        (_virtual_rel_query, "rel_query' is a virtual dataset"),
        (_huge_rel_item, r"'rel_item' declares 2,147,483,648 pairs; at most 12 are allowed"),
        (_short_rel_grade, r"have \(4,\) and \(4,\) and \(3,\) entries"),
    ],
)
def test_relevance_arrays_follow_the_rule_and_their_bounds_before_they_are_read(tmp_path, edit, message):
    path = _sets_truth_file(tmp_path, edit)
    with pytest.raises(GroundTruthError, match=message) as caught:
        read_ground_truth(path)
    text = str(caught.value)
    assert "root:" not in text and str(tmp_path) not in text and "expected" in text


def test_honest_relevance_ground_truth_reads_as_written(tmp_path):
    back = read_ground_truth(_sets_truth_file(tmp_path)).datasets["MyClips"]
    query, item, grade = back.relevance.triples()
    assert (query.tolist(), item.tolist(), grade.tolist()) == (
        [0, 0, 1, 2],
        [0, 1, 1, 2],
        [1.0, 0.5, 1.0, 0.25],
    )
