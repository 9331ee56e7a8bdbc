"""Bad inputs: each ends with a typed error whose message names the dataset, the member and what was expected."""

import io
import zipfile

import h5py
import numpy as np
import pytest

from evaluation.errors import SubmissionFormatError, SubmissionTooLargeError
from evaluation.io import ReadLimits, inspect_submission, load_entry, parse_topk_csv
from evaluation.scoring import score_submission
from evaluation.synthetic import codalab_csv, topk_lists


def npy_bytes(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def make_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def score(truth, path, **kwargs):
    return score_submission(ground_truth=truth, submission_path=path, **kwargs)


def test_valid_npz_h5_and_zip_are_read_alike(tmp_path, tiny_truth, one_matrix):
    np.savez(tmp_path / "a.npz", DiDeMo=one_matrix)
    with h5py.File(tmp_path / "a.h5", "w") as handle:
        handle.create_group("didemo").create_dataset("sims", data=one_matrix)
    make_zip(tmp_path / "a.zip", {"DIDEMO.npy": npy_bytes(one_matrix)}, compression=zipfile.ZIP_DEFLATED)
    reports = [score(tiny_truth, tmp_path / name) for name in ("a.npz", "a.h5", "a.zip")]
    members = [r["datasets"]["DiDeMo"].pop("member") for r in reports]
    assert members == ["DiDeMo.npy", "a.h5:/didemo/sims", "DIDEMO.npy"]
    assert reports[0]["datasets"] == reports[1]["datasets"] == reports[2]["datasets"]


@pytest.mark.slow
def test_fortran_order_and_big_endian_arrays_are_read_correctly(tmp_path, tiny_truth, one_matrix):
    np.savez(tmp_path / "c.npz", DiDeMo=one_matrix)
    np.savez(tmp_path / "f.npz", DiDeMo=np.asfortranarray(one_matrix).astype(">f4"))
    assert (
        score(tiny_truth, tmp_path / "c.npz")["datasets"]["DiDeMo"]["t2v"]
        == score(tiny_truth, tmp_path / "f.npz")["datasets"]["DiDeMo"]["t2v"]
    )


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_similarity(tmp_path, tiny_truth, one_matrix, value):
    one_matrix[3, 4] = value
    np.savez(tmp_path / "s.npz", DiDeMo=one_matrix)
    with pytest.raises(SubmissionFormatError, match=r"dataset DiDeMo, file DiDeMo\.npy: .*NaN or infinite"):
        score(tiny_truth, tmp_path / "s.npz")


def test_non_finite_embeddings(tmp_path, tiny_truth):
    truth = tiny_truth.datasets["DiDeMo"]
    text = np.ones((truth.num_queries, 8), np.float32)
    text[0, 0] = np.nan
    np.savez(tmp_path / "e.npz", DiDeMo_text=text, DiDeMo_video=np.ones((truth.num_videos, 8), np.float32))
    with pytest.raises(SubmissionFormatError, match="NaN or infinite values; expected finite embeddings"):
        score(tiny_truth, tmp_path / "e.npz")


def test_wrong_shape(tmp_path, tiny_truth, one_matrix):
    np.savez(tmp_path / "s.npz", DiDeMo=one_matrix[:, :-1])
    with pytest.raises(
        SubmissionFormatError, match=r"DiDeMo\.npy: similarity matrix has shape \(25, 24\); expected 25 rows"
    ):
        score(tiny_truth, tmp_path / "s.npz")


def test_three_dimensional_array(tmp_path, tiny_truth, one_matrix):
    np.savez(tmp_path / "s.npz", DiDeMo=one_matrix[None])
    with pytest.raises(SubmissionFormatError, match="expected a 2-D array"):
        score(tiny_truth, tmp_path / "s.npz")


def test_integer_dtype(tmp_path, tiny_truth, one_matrix):
    np.savez(tmp_path / "s.npz", DiDeMo=one_matrix.astype(np.int32))
    with pytest.raises(SubmissionFormatError, match="dtype int32; expected float16, float32 or float64"):
        score(tiny_truth, tmp_path / "s.npz")


def test_pickled_object_npy_is_refused_without_unpickling(tmp_path, tiny_truth):
    payload = np.empty((25, 25), dtype=object)
    make_zip(tmp_path / "p.zip", {"DiDeMo.npy": npy_bytes(payload, allow_pickle=True)})
    with pytest.raises(SubmissionFormatError, match="pickled .npy"):
        score(tiny_truth, tmp_path / "p.zip")


def test_truncated_npz(tmp_path, tiny_truth, one_matrix):
    np.savez(tmp_path / "s.npz", DiDeMo=one_matrix)
    data = (tmp_path / "s.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(SubmissionFormatError, match="zip"):
        score(tiny_truth, tmp_path / "t.npz")


def test_truncated_member_data(tmp_path, tiny_truth, one_matrix):
    make_zip(tmp_path / "t.zip", {"DiDeMo.npy": npy_bytes(one_matrix)[:-100]})
    with pytest.raises(SubmissionFormatError, match="truncated"):
        score(tiny_truth, tmp_path / "t.zip")


def test_truncated_h5(tmp_path, tiny_truth, one_matrix):
    with h5py.File(tmp_path / "s.h5", "w") as handle:
        handle.create_group("DiDeMo").create_dataset("sims", data=one_matrix)
    data = (tmp_path / "s.h5").read_bytes()
    (tmp_path / "t.h5").write_bytes(data[: len(data) - 1200])
    with pytest.raises(SubmissionFormatError):
        score(tiny_truth, tmp_path / "t.h5")


@pytest.mark.parametrize("name", ["../DiDeMo.npy", "/etc/DiDeMo.npy", "a/../../DiDeMo.npy"])
def test_zip_member_paths_that_escape(tmp_path, tiny_truth, one_matrix, name):
    make_zip(tmp_path / "z.zip", {name: npy_bytes(one_matrix)})
    with pytest.raises(SubmissionFormatError, match=r"absolute or parent \('\.\.'\) path"):
        score(tiny_truth, tmp_path / "z.zip")


def test_zip_bomb_is_refused_from_its_declared_size(tmp_path, tiny_truth):
    # 64 MiB of zeros deflate to ~64 KiB; the declared size is checked before anything is inflated.
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("DiDeMo.npy", "w") as member:
            for _ in range(64):
                member.write(bytes(1024 * 1024))
    assert (tmp_path / "bomb.zip").stat().st_size < 1024 * 1024
    with pytest.raises(
        SubmissionTooLargeError, match="declares 67,108,864 bytes uncompressed, above the limit"
    ):
        score(tiny_truth, tmp_path / "bomb.zip", limits=ReadLimits(max_array_bytes=8 * 1024 * 1024))


def test_npy_header_declaring_a_huge_shape(tmp_path, tiny_truth):
    big = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), np.float32))
    big["shape"] = (10**6, 10**6)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, big)
    make_zip(tmp_path / "h.zip", {"DiDeMo.npy": buffer.getvalue() + bytes(64)})
    with pytest.raises(SubmissionTooLargeError, match=r"declares shape \(1000000, 1000000\)"):
        score(tiny_truth, tmp_path / "h.zip")


def test_h5_dataset_declaring_a_huge_shape(tmp_path, tiny_truth):
    with h5py.File(tmp_path / "h.h5", "w") as handle:
        handle.create_group("DiDeMo").create_dataset(
            "sims", shape=(10**7, 10**6), dtype="f4", chunks=(64, 64)
        )
    assert (tmp_path / "h.h5").stat().st_size < 1024 * 1024
    with pytest.raises(SubmissionTooLargeError, match=r"DiDeMo.*declares shape \(10000000, 1000000\)"):
        score(tiny_truth, tmp_path / "h.h5")


def test_h5_external_link_is_refused(tmp_path, tiny_truth, one_matrix):
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle.create_dataset("sims", data=one_matrix)
    with h5py.File(tmp_path / "l.h5", "w") as handle:
        handle.create_group("DiDeMo")["sims"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/sims")
    with pytest.raises(SubmissionFormatError, match="soft or external link"):
        score(tiny_truth, tmp_path / "l.h5")


def test_h5_external_storage_is_refused(tmp_path, tiny_truth):
    (tmp_path / "raw.bin").write_bytes(bytes(25 * 25 * 4))
    with h5py.File(tmp_path / "x.h5", "w") as handle:
        handle.create_group("DiDeMo").create_dataset(
            "sims", shape=(25, 25), dtype="f4", external=[(str(tmp_path / "raw.bin"), 0, 25 * 25 * 4)]
        )
    with pytest.raises(SubmissionFormatError, match="outside the file"):
        score(tiny_truth, tmp_path / "x.h5")


def csv_zip(tmp_path, topk, name="DiDeMo-val-predictions.csv"):
    return make_zip(tmp_path / "c.zip", {name: codalab_csv(topk)})


def test_topk_duplicate_index(tmp_path, tiny_truth, one_matrix):
    topk = topk_lists(one_matrix, 10)
    topk[4, 3] = topk[4, 0]
    with pytest.raises(SubmissionFormatError, match="row 5 lists a video more than once"):
        score(tiny_truth, csv_zip(tmp_path, topk))


@pytest.mark.parametrize("value", [-1, 25])
def test_topk_out_of_range_index(tmp_path, tiny_truth, one_matrix, value):
    topk = topk_lists(one_matrix, 10)
    topk[2, 9] = value
    with pytest.raises(
        SubmissionFormatError,
        match=rf"row 3 holds video index {value}; expected 0-based indices in \[0, 24\]",
    ):
        score(tiny_truth, csv_zip(tmp_path, topk))


def test_topk_fewer_than_ten_columns(tmp_path, tiny_truth, one_matrix):
    with pytest.raises(SubmissionFormatError, match="has 9 columns; expected at least 10"):
        score(tiny_truth, csv_zip(tmp_path, topk_lists(one_matrix, 9)))


def test_topk_wrong_row_count(tmp_path, tiny_truth, one_matrix):
    with pytest.raises(SubmissionFormatError, match="has 24 rows; expected 25, one per query"):
        score(tiny_truth, csv_zip(tmp_path, topk_lists(one_matrix, 10)[1:]))


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"1,2,3\n4,5\n", "line 2 has 2 values; expected 3"),
        (b"1,2,3\n4,x,6\n", "line 2 is not comma-separated integers"),
        (b"1.5,2,3\n", "line 1 is not comma-separated integers"),
        (b"", "holds no rows"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_malformed_csv(raw, message):
    with pytest.raises(SubmissionFormatError, match=message):
        parse_topk_csv(raw, dataset="DiDeMo", member="DiDeMo-val-predictions.csv")


def test_csv_header_line_is_skipped():
    assert parse_topk_csv(b"r1,r2\n1,2\n").tolist() == [[1, 2]]


@pytest.mark.parametrize("member", ["LSMDC.npy", "Kinetics-val-predictions.csv"])
def test_unknown_dataset_name(tmp_path, tiny_truth, one_matrix, member):
    make_zip(tmp_path / "u.zip", {member: npy_bytes(one_matrix)})
    with pytest.raises(SubmissionFormatError, match="unknown dataset name .*expected one of MSRVTT"):
        score(tiny_truth, tmp_path / "u.zip")


def test_dataset_known_but_not_in_phase(tmp_path, tiny_truth, one_matrix):
    from evaluation.ground_truth import GroundTruth

    only_msvd = GroundTruth("c", "val", {"MSVD": tiny_truth.datasets["MSVD"]})
    np.savez(tmp_path / "s.npz", DiDeMo=one_matrix)
    with pytest.raises(SubmissionFormatError, match="dataset DiDeMo is not part of this phase"):
        score(only_msvd, tmp_path / "s.npz")


def test_activity_net_alias_and_case(tmp_path, tiny_truth):
    truth = tiny_truth.datasets["ActivityNet"]
    sims = np.eye(truth.num_videos, dtype=np.float32)
    make_zip(tmp_path / "a.zip", {"activity-net-val-predictions.csv": codalab_csv(topk_lists(sims, 10))})
    report = score(tiny_truth, tmp_path / "a.zip")
    assert report["datasets"]["ActivityNet"]["t2v"]["R1"] == 100.0


def test_embeddings_with_mismatched_dimensions(tmp_path, tiny_truth):
    truth = tiny_truth.datasets["DiDeMo"]
    np.savez(
        tmp_path / "e.npz",
        DiDeMo_text=np.ones((truth.num_queries, 8), np.float32),
        DiDeMo_video=np.ones((truth.num_videos, 9), np.float32),
    )
    with pytest.raises(
        SubmissionFormatError, match="text embeddings have dimension 8 but video embeddings 9"
    ):
        score(tiny_truth, tmp_path / "e.npz")


def test_embeddings_missing_half(tmp_path, tiny_truth):
    np.savez(tmp_path / "e.npz", DiDeMo_text=np.ones((25, 8), np.float32))
    with pytest.raises(SubmissionFormatError, match="'DiDeMo_video' is missing"):
        score(tiny_truth, tmp_path / "e.npz")


def test_dataset_twice(tmp_path, tiny_truth, one_matrix):
    make_zip(
        tmp_path / "d.zip",
        {
            "DiDeMo.npy": npy_bytes(one_matrix),
            "DiDeMo-val-predictions.csv": codalab_csv(topk_lists(one_matrix)),
        },
    )
    with pytest.raises(SubmissionFormatError, match="appears more than once"):
        score(tiny_truth, tmp_path / "d.zip")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"hello,world\n", "not a zip, npz or HDF5 file"),
        (b"PK\x03\x04garbage", "not a readable zip archive"),
    ],
)
def test_not_a_submission(tmp_path, tiny_truth, content, message):
    (tmp_path / "x.zip").write_bytes(content)
    with pytest.raises(SubmissionFormatError, match=message):
        score(tiny_truth, tmp_path / "x.zip")


def test_unrecognised_member(tmp_path, tiny_truth):
    make_zip(tmp_path / "r.zip", {"readme.txt": b"hi"})
    with pytest.raises(SubmissionFormatError, match="is not a recognised member"):
        score(tiny_truth, tmp_path / "r.zip")


def test_too_many_members(tmp_path, tiny_truth):
    make_zip(tmp_path / "m.zip", {f"x{i}.txt": b"" for i in range(10)})
    with pytest.raises(SubmissionTooLargeError, match="holds 10 files; at most 4"):
        score(tiny_truth, tmp_path / "m.zip", limits=ReadLimits(max_members=4))


def test_desktop_zip_clutter_is_ignored(tmp_path, tiny_truth, one_matrix):
    make_zip(
        tmp_path / "mac.zip",
        {"sub/DiDeMo.npy": npy_bytes(one_matrix), "__MACOSX/sub/._DiDeMo.npy": b"x", ".DS_Store": b"x"},
    )
    assert inspect_submission(tmp_path / "mac.zip").kinds == {"DiDeMo": "similarity"}


def test_load_entry_streams_exact_values(tmp_path, one_matrix):
    make_zip(tmp_path / "v.zip", {"DiDeMo.npy": npy_bytes(one_matrix)}, compression=zipfile.ZIP_DEFLATED)
    manifest = inspect_submission(tmp_path / "v.zip")
    np.testing.assert_array_equal(load_entry(tmp_path / "v.zip", manifest, "DiDeMo")["sims"], one_matrix)


def test_zip_needing_an_unsupported_version_is_a_clear_rejection(tmp_path, tiny_truth, one_matrix):
    make_zip(tmp_path / "v.zip", {"DiDeMo-val-predictions.csv": codalab_csv(topk_lists(one_matrix))})
    data = bytearray((tmp_path / "v.zip").read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 6] = 255  # "version needed to extract" = 25.5 in the central directory
    (tmp_path / "v.zip").write_bytes(bytes(data))
    with pytest.raises(SubmissionFormatError, match="not a readable zip archive"):
        score(tiny_truth, tmp_path / "v.zip")


def test_a_stored_member_is_mapped_read_only_not_copied(tmp_path, tiny_truth, one_matrix):
    np.savez(tmp_path / "s.npz", DiDeMo=one_matrix)
    manifest = inspect_submission(tmp_path / "s.npz")
    sims = load_entry(tmp_path / "s.npz", manifest, "DiDeMo")["sims"]
    assert isinstance(sims, np.memmap) and not sims.flags.writeable
    np.testing.assert_array_equal(sims, one_matrix)


def test_a_deflated_member_is_read_into_memory(tmp_path, tiny_truth, one_matrix):
    np.savez_compressed(tmp_path / "d.npz", DiDeMo=one_matrix)
    manifest = inspect_submission(tmp_path / "d.npz")
    sims = load_entry(tmp_path / "d.npz", manifest, "DiDeMo")["sims"]
    assert not isinstance(sims, np.memmap)
    np.testing.assert_array_equal(sims, one_matrix)


def test_a_stored_member_cut_short_inside_a_complete_archive_is_truncated(tmp_path, tiny_truth, one_matrix):
    # The central directory follows the short member: mapping the declared size would read it as data.
    make_zip(tmp_path / "t.zip", {"DiDeMo.npy": npy_bytes(one_matrix)[:-100]})
    manifest = inspect_submission(tmp_path / "t.zip")
    with pytest.raises(SubmissionFormatError, match="truncated"):
        load_entry(tmp_path / "t.zip", manifest, "DiDeMo")
