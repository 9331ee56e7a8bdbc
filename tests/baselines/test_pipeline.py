"""The site's entry points: train_and_write_submission, predict_queries, split_truth and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.__main__ import main as cli_main
from baselines.config import load_config
from baselines.pipeline import baseline_label, predict_queries, train_and_write_submission
from baselines.predict import evaluate_split
from baselines.store import ExpertStore, StoreFormatError, split_truth, store_path
from baselines.train import checkpoint_path, load_checkpoint, train_model
from evaluation.ground_truth import GroundTruth, read_ground_truth
from evaluation.metrics import compact_metrics
from evaluation.scoring import score_submission

from .conftest import TINY_OVERRIDES, tiny_config


@pytest.mark.slow
def test_submission_file_is_scored_by_the_server_exactly_as_offline(tiny_store_dir, tmp_path):
    datasets = ["MSRVTT", "DiDeMo"]
    out = train_and_write_submission(
        store_dir=tiny_store_dir,
        model="ce",
        datasets=datasets,
        split="test",
        out_path=tmp_path / "sub" / "ce.npz",
        config_overrides={**TINY_OVERRIDES, "train": {"epochs": 2, "batch_size": 16}},
        checkpoint_dir=tmp_path / "ckpt",
    )
    assert out == tmp_path / "sub" / "ce.npz"
    truths = {d: split_truth(store_path(tiny_store_dir, d), "test") for d in datasets}
    with np.load(out, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(datasets)
        for name, truth in truths.items():
            assert npz[name].dtype == np.float32 and npz[name].shape == (truth.num_queries, truth.num_videos)
    report = score_submission(
        ground_truth=GroundTruth(challenge="c", phase="test", datasets=truths), submission_path=out
    )
    assert report["overall_score"] is not None
    assert len(list((tmp_path / "ckpt").glob("*.pt"))) == len(datasets)
    for name in datasets:
        config = load_config(
            name, "ce", overrides={**TINY_OVERRIDES, "train": {"epochs": 2, "batch_size": 16}}
        )
        model, config = load_checkpoint(
            checkpoint_path(
                tmp_path / "ckpt", config=config, seed=0, store_path=store_path(tiny_store_dir, name)
            )
        )
        with ExpertStore(store_path(tiny_store_dir, name)) as store:
            offline = evaluate_split(model, store, config, "test")
        assert report["datasets"][name]["t2v"] == pytest.approx(offline["t2v"], abs=1e-9)
        assert report["datasets"][name]["v2t"] == pytest.approx(offline["v2t"], abs=1e-9)


def test_rows_follow_the_phase_query_order(tiny_store_dir):
    path = store_path(tiny_store_dir, "MSVD")
    result = train_model(store_path=path, config=tiny_config("MSVD", "ce", train={"epochs": 1}), seed=0)
    truth = split_truth(path, "val")
    canonical = predict_queries(result, store_file=path, split="val")
    shuffled_ids = [truth.query_ids[i] for i in np.random.default_rng(0).permutation(truth.num_queries)]
    shuffled = predict_queries(result, store_file=path, split="val", query_ids=shuffled_ids)
    position = {q: i for i, q in enumerate(truth.query_ids)}
    assert np.allclose(shuffled, canonical[[position[q] for q in shuffled_ids]], atol=1e-6)
    owners = np.array([truth.query_video[position[q]] for q in shuffled_ids])
    assert compact_metrics(shuffled, owners) == compact_metrics(canonical, truth.query_video)
    with pytest.raises(StoreFormatError, match="not captions"):
        predict_queries(result, store_file=path, split="val", query_ids=["no-such-caption"])
    train_caption = split_truth(path, "train").query_ids[0]
    with pytest.raises(StoreFormatError, match="not a caption of split"):
        predict_queries(result, store_file=path, split="val", query_ids=[train_caption])


@pytest.mark.slow
def test_teachtext_pipeline_trains_teachers_then_the_student(tiny_store_dir, tmp_path, caplog):
    caplog.set_level("INFO", logger="baselines")
    out = train_and_write_submission(
        store_dir=tiny_store_dir,
        model="teachtext",
        datasets=["youcook2"],
        split="val",
        out_path=tmp_path / "tt.npz",
        config_overrides={**TINY_OVERRIDES, "train": {"epochs": 1, "batch_size": 16}},
    )
    with np.load(out) as npz:
        assert npz.files == ["YouCook2"] and npz["YouCook2"].shape == (16, 16)
    trained = [r.getMessage() for r in caplog.records if "seed 0 epoch 0:" in r.getMessage()]
    assert len(trained) == 3, "two teachers (w2v, openai) and the student"


def test_submission_needs_an_npz_path(tiny_store_dir, tmp_path):
    with pytest.raises(ValueError, match="npz"):
        train_and_write_submission(
            store_dir=tiny_store_dir,
            model="ce",
            datasets=["MSRVTT"],
            split="val",
            out_path=tmp_path / "x.zip",
        )


def test_cli_synth_truth_and_submit(tmp_path, capsys):
    assert (
        cli_main(["synth", "--out", str(tmp_path / "s"), "--scale", "tiny", "--datasets", "activity-net"])
        == 0
    )
    assert (tmp_path / "s" / "ActivityNet.h5").exists()
    assert (
        cli_main(
            [
                "truth",
                "--store-dir",
                str(tmp_path / "s"),
                "--split",
                "test",
                "--datasets",
                "ActivityNet",
                "--out",
                str(tmp_path / "gt.h5"),
            ]
        )
        == 0
    )
    gt = read_ground_truth(tmp_path / "gt.h5")
    assert gt.phase == "test" and gt.datasets["ActivityNet"].num_queries == 20
    assert (
        cli_main(
            [
                "submit",
                "--store-dir",
                str(tmp_path / "s"),
                "--model",
                "moee",
                "--datasets",
                "ActivityNet",
                "--split",
                "test",
                "--out",
                str(tmp_path / "sub.npz"),
                "--set",
                "train.epochs=1",
                "--set",
                "train.batch_size=16",
                "--set",
                "arch.text_clusters=2",
                "--set",
                'data.vlad_clusters={"ocr": 2, "audio": 2, "speech": 2}',
                "--set",
                "arch.moee_dim_scale=0.05",
            ]
        )
        == 0
    )
    report = score_submission(ground_truth=gt, submission_path=tmp_path / "sub.npz")
    assert set(report["datasets"]) == {"ActivityNet"}
    capsys.readouterr()


def test_the_challenge_profile_is_the_reference_challenge_baseline():
    """configs/cvpr2020-challenge/<dataset>/baseline-public-trainval.json: i3d + SENet-154, full size."""
    for dataset, epochs in (
        ("MSRVTT", 100),
        ("MSVD", 300),
        ("DiDeMo", 30),
        ("ActivityNet", 150),
        ("YouCook2", 20),
    ):
        config = load_config(dataset, "ce", profile="challenge")
        assert config["data"]["experts"] == ["i3d.i3d.0", "imagenet.senet154.0"]
        assert config["train"]["epochs"] == epochs
        assert config["arch"]["ce_shared_dim"] == (512 if dataset == "YouCook2" else 768)
        assert config["arch"]["cg_order"] == "reference"


def test_baseline_label_names_profile_experts_epochs_and_seed():
    label = baseline_label(model="ce", datasets=["MSRVTT"], profile="challenge", seed=0)
    assert (
        label.method_name
        == "Collaborative Experts (baseline: challenge profile, i3d + SENet-154, 100 epochs, seed 0)"
    )
    assert "MSRVTT: i3d.i3d.0, imagenet.senet154.0, 100 epochs" in label.description
    demo = baseline_label(model="teachtext", datasets=["MSRVTT", "YouCook2"], profile="demo", seed=1)
    assert demo.method_name == "TeachText (baseline: demo profile, 6-9 experts, 6 epochs, seed 1)"
    assert "a fast demo, not the reference model" in demo.description
    assert "(MSRVTT: w2v, openai; YouCook2: w2v, openai), target mixture." in demo.description
    assert "target" not in label.description
    kd = baseline_label(model="crosskd", datasets=["MSRVTT", "DiDeMo"], profile="demo", seed=0)
    assert kd.method_name.startswith("CE+ with caption distillation (baseline: demo profile")
    assert "Caption distillation (cross-modal KD), temperature 5, 7." in kd.description
