"""Offline commands (no server): validate and pack with the evaluation core; usage errors."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture
def shapes_file(tmp_path, tiny_truth):
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps({"phase": "val", "datasets": tiny_truth.public_shapes()}))
    return path


def test_validate_accepts_every_submission_format(run_cli, shapes_file, make_submission_file):
    for kind in ("npz", "h5", "codalab"):
        result = run_cli("validate", "--shapes", shapes_file, make_submission_file(kind))
        assert result.code == 0, result.err
        assert "headers and values" in result.out


def test_validate_quick_reads_headers_only(run_cli, shapes_file, tiny_truth, tmp_path):
    from evaluation import synthetic

    matrices = synthetic.similarity_matrices(tiny_truth)
    matrices["MSRVTT"][0, 0] = np.inf
    path = tmp_path / "inf.npz"
    synthetic.write_npz_submission(path, matrices)
    assert run_cli("validate", "--shapes", shapes_file, "--quick", path).code == 0
    full = run_cli("validate", "--shapes", shapes_file, path)
    assert full.code == 2
    assert full.err.strip().startswith(
        "rejected: dataset MSRVTT, file MSRVTT.npy: holds NaN or infinite values"
    )


def test_validate_leaves_padded_values_to_the_server(run_cli, shapes_file, tiny_truth, tmp_path):
    from evaluation import synthetic

    truth = tiny_truth.datasets["MSRVTT"]
    padded = np.full(
        (truth.num_videos * truth.captions_per_video, truth.num_videos), np.nan, dtype=np.float32
    )
    path = tmp_path / "padded.npz"
    synthetic.write_npz_submission(path, {"MSRVTT": padded})
    result = run_cli("validate", "--shapes", shapes_file, path, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["datasets"][0]["checked"].startswith("padded layout")
    assert report["missing_datasets"] == ["MSVD", "DiDeMo", "YouCook2", "ActivityNet"]


def test_validate_accepts_fewer_queries_than_items(run_cli, tmp_path):
    """EPIC-KITCHENS-100's shapes (3,842 captions x 9,668 clips): most items have no query of their own."""
    from evaluation.ground_truth import write_ground_truth
    from evaluation.synthetic import preset_ground_truth

    truth = preset_ground_truth("epic-kitchens-mir", phase="val", scale="tiny", seed=0)
    shapes = truth.public_shapes()
    assert all(s["num_queries"] < s["num_videos"] for s in shapes.values())
    shapes_path = tmp_path / "shapes.json"
    shapes_path.write_text(json.dumps({"phase": "val", "datasets": shapes}))
    write_ground_truth(tmp_path / "truth.h5", truth)  # the real file is valid too
    path = tmp_path / "epic.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path, **{name: rng.standard_normal((s["num_queries"], s["num_videos"])) for name, s in shapes.items()}
    )
    result = run_cli("validate", "--shapes", shapes_path, path)
    assert result.code == 0, result.err


def test_validate_needs_a_kit_and_an_existing_file(run_cli, shapes_file, tmp_path):
    usage = run_cli("validate", tmp_path / "x.npz")
    assert usage.code == 1 and len(usage.err.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    missing = run_cli("validate", "--kit", tmp_path / "empty", tmp_path / "x.npz")
    assert missing.code == 1 and "no shapes file" in missing.err
    absent = run_cli("validate", "--shapes", shapes_file, tmp_path / "x.npz")
    assert absent.code == 1 and "does not exist" in absent.err


def test_pack_keeps_dtypes_and_refuses_integers(run_cli, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    np.save(inputs / "MSRVTT.npy", np.ones((3, 2), dtype=np.float16))
    assert run_cli("pack", inputs, "-o", tmp_path / "a.npz").code == 0
    with np.load(tmp_path / "a.npz", allow_pickle=False) as npz:
        assert npz["MSRVTT"].dtype == np.float16
    again = run_cli("pack", inputs, "-o", tmp_path / "a.npz")
    assert again.code == 1 and "--force" in again.err
    np.save(inputs / "MSVD.npy", np.ones((3, 2), dtype=np.int64))
    refused = run_cli("pack", inputs, "-o", tmp_path / "b.npz")
    assert refused.code == 2
    assert refused.err.strip().startswith("rejected: dataset MSVD, file MSVD.npy: has dtype int64")
    assert not (tmp_path / "b.npz").exists()


@pytest.mark.parametrize(
    "files, message",
    [
        ({"YouCook2_text.npy": (4, 8)}, "the video file is missing"),
        ({"Kinetics.npy": (4, 4)}, "unknown dataset name 'Kinetics'"),
        ({"MSVD.npy": (4, 4), "MSVD_text.npy": (4, 2), "MSVD_video.npy": (4, 2)}, "more than one input"),
    ],
)
def test_pack_rejects_incomplete_or_unknown_inputs(run_cli, tmp_path, files, message):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, shape in files.items():
        np.save(inputs / name, np.zeros(shape, dtype=np.float32))
    result = run_cli("pack", inputs, "-o", tmp_path / "out.npz")
    assert result.code == 2 and message in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_pack_topk_needs_the_phase_and_k_of_at_least_10(run_cli, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    np.save(inputs / "DiDeMo.npy", np.random.default_rng(0).standard_normal((12, 12)).astype(np.float32))
    assert "--phase-slug" in run_cli("pack", inputs, "--topk", 10).err
    assert "at least 10" in run_cli("pack", inputs, "--topk", 5, "--phase-slug", "val").err
    ok = run_cli("pack", inputs, "--topk", 10, "--phase-slug", "val", "-o", tmp_path / "t.zip")
    assert ok.code == 0, ok.err


def test_usage_errors_exit_1_in_one_sentence(run_cli):
    result = run_cli("submit", "not-a-number")
    assert result.code == 1
    assert len(result.err.strip().splitlines()) == 1 and result.err.startswith("error: ")
    assert run_cli("--help").code == 0


@pytest.mark.parametrize("read_size", [1, 8192, 10**6, -1])
def test_multipart_body_streams_every_byte_once(tmp_path, read_size):
    import os

    from cli.client import MultipartBody

    path = tmp_path / "payload.npz"
    data = os.urandom(700_001)
    path.write_bytes(data)
    sent = []
    body = MultipartBody({"phase": "7"}, file_field="file", path=path, progress=sent.append)
    chunks = []
    while chunk := body.read(read_size):
        chunks.append(chunk)
        assert read_size < 0 or len(chunk) <= read_size
        if read_size == 1 and len(chunks) > 2_000:  # one byte at a time is slow: take the rest at once
            chunks.append(body.read())
            break
    raw = b"".join(chunks)
    assert len(raw) == len(body)
    assert raw.startswith(f"--{body.boundary}\r\n".encode()) and raw.endswith(
        f"--{body.boundary}--\r\n".encode()
    )
    assert data in raw and sent[-1] == len(data)


def test_validate_takes_the_kits_own_dataset_names(run_cli, tmp_path):
    """A kit of a challenge whose datasets are not the Pentathlon's (an audio challenge's)."""
    shape = {"num_queries": 6, "num_videos": 4, "captions_per_video": 1}
    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps({"phase": "val", "datasets": {"Clotho": shape}}))
    path = tmp_path / "s.npz"
    np.savez(path, Clotho=np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32))
    result = run_cli("validate", "--shapes", shapes, path)
    assert result.code == 0, result.err
    assert "headers and values" in result.out
    np.savez(path, MSRVTT=np.zeros((6, 4), dtype=np.float32))
    refused = run_cli("validate", "--shapes", shapes, path)
    assert refused.code == 2 and "unknown dataset name 'MSRVTT'; expected one of Clotho" in refused.err


def test_validate_reads_gallery_ids_against_the_kits_videos(run_cli, tmp_path, tiny_truth):
    """A JSON top-k and a gallery-id CSV are read against the kit's <Dataset>/videos.txt; an unknown id
    is refused as the server would; without videos.txt the file cannot be read."""
    from evaluation import synthetic

    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "shapes.json").write_text(json.dumps({"phase": "val", "datasets": tiny_truth.public_shapes()}))
    for name, d in tiny_truth.datasets.items():
        (kit / name).mkdir()
        (kit / name / "videos.txt").write_text("".join(f"{v}\n" for v in d.videos))
        (kit / name / "queries.txt").write_text("".join(f"{q}\n" for q in d.query_ids))
    matrices = synthetic.similarity_matrices(tiny_truth)
    for form in ("json", "csv"):
        path = tmp_path / f"{form}.zip"
        synthetic.write_gallery_id_zip(path, tiny_truth, matrices, phase_slug="val", form=form)
        result = run_cli("validate", "--kit", kit, path)
        assert result.code == 0, result.err
        assert "headers and values" in result.out
    d = tiny_truth.datasets["DiDeMo"]
    lists = {q: [f"nope{j}" if i == 1 else d.videos[j] for j in range(10)] for i, q in enumerate(d.query_ids)}
    bad = tmp_path / "bad.zip"
    import zipfile

    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("DiDeMo-val-predictions.json", json.dumps(lists))
    refused = run_cli("validate", "--kit", kit, bad)
    assert refused.code == 2
    assert f"the list of the query '{d.query_ids[1]}' names the gallery item 'nope0'" in refused.err
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "shapes.json").write_text((kit / "shapes.json").read_text())
    no_gallery = run_cli("validate", "--shapes", bare / "shapes.json", tmp_path / "json.zip")
    assert no_gallery.code == 2 and "names gallery ids" in no_gallery.err
