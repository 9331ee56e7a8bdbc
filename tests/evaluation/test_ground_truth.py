import h5py
import numpy as np
import pytest

from evaluation.datasets import PENTATHLON_DATASETS
from evaluation.errors import GroundTruthError
from evaluation.ground_truth import read_ground_truth, write_ground_truth
from evaluation.synthetic import PENTATHLON_SIZES, pentathlon_ground_truth


def test_round_trip(tmp_path):
    truth = pentathlon_ground_truth(phase="test", scale="tiny", shuffled=True)
    write_ground_truth(tmp_path / "gt.h5", truth)
    back = read_ground_truth(tmp_path / "gt.h5")
    assert back.phase == "test" and back.challenge == "Video Pentathlon"
    for name, d in truth.datasets.items():
        assert back.datasets[name].query_ids == d.query_ids
        np.testing.assert_array_equal(back.datasets[name].query_video, d.query_video)


def test_full_scale_has_the_2020_counts():
    truth = pentathlon_ground_truth(phase="test", scale="full")
    for name, size in PENTATHLON_SIZES["test"].items():
        d = truth.datasets[name]
        assert (d.num_videos, d.num_queries) == (size.videos, size.queries)
    assert truth.datasets["MSRVTT"].padded_rows() == 59_800


def write_group(path, **arrays):
    strings = h5py.string_dtype()
    with h5py.File(path, "w") as handle:
        group = handle.create_group("DiDeMo")
        for key, value in arrays.items():
            group.create_dataset(key, data=value, dtype=strings if key in ("videos", "query_ids") else None)


@pytest.mark.parametrize(
    "arrays, message",
    [
        (dict(videos=["a", "b"], query_ids=["q1", "q2"], query_video=np.array([0, 2])), "indices outside"),
        (dict(videos=["a", "b"], query_ids=["q1", "q2"], query_video=np.array([0, 0])), "video has none"),
        (dict(videos=["a", "a"], query_ids=["q1", "q2"], query_video=np.array([0, 1])), "duplicate ids"),
        (
            dict(videos=["a", "b"], query_ids=["q1"], query_video=np.array([0, 1])),
            "has 2 entries; expected 1",
        ),
        (dict(videos=["a", "b"], query_ids=["q1", "q2"]), "missing or malformed 'query_video'"),
        (
            dict(
                videos=["a", "b"],
                query_ids=["q1", "q2"],
                query_video=np.array([0, 1]),
                query_masks=np.array([[1, 1], [0, 0]], np.uint8),
            ),
            "disagrees with 'query_video'",
        ),
    ],
)
def test_invalid_ground_truth(tmp_path, arrays, message):
    write_group(tmp_path / "gt.h5", **arrays)
    with pytest.raises(GroundTruthError, match=rf"dataset DiDeMo, file gt\.h5: .*{message}"):
        read_ground_truth(tmp_path / "gt.h5")


def test_unknown_dataset_group(tmp_path):
    with h5py.File(tmp_path / "gt.h5", "w") as handle:
        handle.create_group("Kinetics")
    with pytest.raises(GroundTruthError, match="unknown dataset name 'Kinetics'"):
        read_ground_truth(tmp_path / "gt.h5", datasets=PENTATHLON_DATASETS)
    # Without the challenge's names, the file's own name is taken and the group is read as that dataset.
    with pytest.raises(GroundTruthError, match="dataset Kinetics, file gt.h5: missing 'videos'"):
        read_ground_truth(tmp_path / "gt.h5")


def test_not_hdf5(tmp_path):
    (tmp_path / "gt.h5").write_bytes(b"PK\x03\x04")
    with pytest.raises(GroundTruthError, match="not a readable HDF5 file"):
        read_ground_truth(tmp_path / "gt.h5")
