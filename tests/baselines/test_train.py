"""Training on tiny stores: learning, determinism, checkpoint selection, checkpoints and their reuse, TeachText."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from baselines import pipeline, train
from baselines.config import load_config
from baselines.data import expert_specs, load_split
from baselines.losses import distillation_loss, max_margin_ranking_loss
from baselines.models import TextEmbedding, VideoEmbedding, build_model, sharded_similarity
from baselines.predict import evaluate_loaded, evaluate_split
from baselines.store import ExpertStore, store_path
from baselines.train import load_checkpoint, save_checkpoint, teacher_targets, train_model

from .conftest import TINY_OVERRIDES, tiny_config


@pytest.fixture(scope="module")
def trained_ce(tiny_store_dir):
    return train_model(
        store_path=store_path(tiny_store_dir, "MSRVTT"), config=tiny_config("MSRVTT", "ce"), seed=0
    )


@pytest.mark.slow
def test_tiny_ce_learns_well_above_chance(tiny_store_dir, trained_ce):
    with ExpertStore(store_path(tiny_store_dir, "MSRVTT")) as store:
        metrics = evaluate_split(trained_ce.model, store, trained_ce.config, "test")
        counts = store.caption_count[store.split_videos("test")]
    videos, queries = len(counts), counts.sum()
    # Random scores: a query's video is on average in the middle; a video's best caption beats, on
    # average, (Q - K) / (K + 1) of the other videos' captions. With 20 videos and 79 queries a random
    # model's t2v mean rank has std ~0.65, so 0.8 x chance is more than 3 std below it.
    chance_t2v = (videos + 1) / 2
    chance_v2t = float(np.mean((queries - counts) / (counts + 1))) + 1
    assert metrics["t2v"]["R5"] > 1.6 * 100 * 5 / videos
    assert metrics["t2v"]["MeanR"] < 0.8 * chance_t2v
    assert metrics["v2t"]["MeanR"] < 0.8 * chance_v2t


def test_checkpoint_selection_keeps_the_best_validation_epoch_later_wins_ties(tiny_store_dir, trained_ce):
    scores = [h["val_geometric_mean_R1-R5-R10"] for h in trained_ce.history]
    assert len(scores) == trained_ce.config["train"]["epochs"]
    best = max(scores)
    assert trained_ce.best_score == best
    assert trained_ce.best_epoch == max(i for i, s in enumerate(scores) if s == best)
    with ExpertStore(store_path(tiny_store_dir, "MSRVTT")) as store:
        selection = load_split(store, "dev", trained_ce.experts, encoder="openai", max_captions=1)
    again = evaluate_loaded(trained_ce.model, selection, trained_ce.config, torch.device("cpu"))
    assert again["t2v"]["geometric_mean_R1-R5-R10"] == pytest.approx(best), "the selected weights are loaded"


@pytest.mark.slow
def test_training_is_deterministic_per_seed(tiny_store_dir):
    path = store_path(tiny_store_dir, "DiDeMo")
    config = tiny_config("DiDeMo", "ce", train={"epochs": 2})
    first, second = (train_model(store_path=path, config=config, seed=3) for _ in range(2))
    other = train_model(store_path=path, config=config, seed=4)
    a, b, c = (r.model.state_dict() for r in (first, second, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_checkpoints_round_trip_with_weights_only_loading(tiny_store_dir, trained_ce, tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ce.pt", trained_ce)
    calls = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    model, config = load_checkpoint(path)
    assert calls == [True]
    with ExpertStore(store_path(tiny_store_dir, "MSRVTT")) as store:
        before = evaluate_split(trained_ce.model, store, trained_ce.config, "val")
        after = evaluate_split(model, store, config, "val")
    assert before == after


@pytest.mark.parametrize("dataset", ["MSVD", "YouCook2", "ActivityNet"])
@pytest.mark.parametrize("model", ["ce", "moee"])
def test_every_dataset_and_model_trains_and_scores(tiny_store_dir, dataset, model):
    config = tiny_config(dataset, model, train={"epochs": 1})
    result = train_model(store_path=store_path(tiny_store_dir, dataset), config=config, seed=0)
    with ExpertStore(store_path(tiny_store_dir, dataset)) as store:
        metrics = evaluate_split(result.model, store, config, "val")
    assert np.isfinite(result.history[0]["loss"]) and 0 <= metrics["t2v"]["R1"] <= 100


def test_teacher_targets_reproduce_the_teachers_own_similarities(tiny_store_dir, trained_ce):
    path = store_path(tiny_store_dir, "MSRVTT")
    with ExpertStore(path) as store:
        targets = teacher_targets(trained_ce, store)
        train = load_split(store, "train", expert_specs(store, trained_ce.config), encoder="openai")
    videos, captions = np.array([3, 0, 7, 5]), train.caption_start[[3, 0, 7, 5]] + 1
    with torch.no_grad():
        expected = trained_ce.model(
            train.text.batch(captions, 37, torch.device("cpu")),
            *train.features.batch(videos, torch.device("cpu")),
        )
    rows = torch.from_numpy(captions), torch.from_numpy(videos), torch.device("cpu")
    got = targets.similarity(*rows, target="weighted")
    assert torch.allclose(got, expected, atol=5e-3), "full forward pass, stored in float16"


def test_the_expert_sum_target_sums_per_expert_dot_products_without_weights(tiny_store_dir, trained_ce):
    path = store_path(tiny_store_dir, "MSRVTT")
    with ExpertStore(path) as store:
        targets = teacher_targets(trained_ce, store)
        train = load_split(store, "train", expert_specs(store, trained_ce.config), encoder="openai")
    videos, captions = np.array([3, 0, 7, 5]), train.caption_start[[3, 0, 7, 5]] + 1
    with torch.no_grad():
        text = trained_ce.model.encode_text(train.text.batch(captions, 37, torch.device("cpu")))
        video = trained_ce.model.encode_video(*train.features.batch(videos, torch.device("cpu")))
    expected = sum(u @ v.T for u, v in zip(text.experts, video.experts, strict=True))
    rows = torch.from_numpy(captions), torch.from_numpy(videos), torch.device("cpu")
    got = targets.similarity(*rows, target="expert_sum")
    assert torch.allclose(got, expected, atol=2e-2), "a sum of M dot products, stored in float16"
    mixture = sum(
        w[:, None] * (u @ v.T) for w, u, v in zip(text.weights.T, text.experts, video.experts, strict=True)
    )
    assert torch.allclose(targets.similarity(*rows), mixture, atol=5e-3), "the default weighs every expert"
    assert not torch.allclose(got, targets.similarity(*rows, target="weighted"), atol=1e-2)
    with pytest.raises(ValueError, match="distil.target"):
        targets.similarity(*rows, target="softmax")


@pytest.mark.slow
def test_teachtext_student_moves_towards_its_teachers(tiny_store_dir, trained_ce):
    path = store_path(tiny_store_dir, "MSRVTT")
    with ExpertStore(path) as store:
        teachers = [teacher_targets(trained_ce, store)]
        train = load_split(store, "train", trained_ce.experts, encoder="openai")
    student = train_model(
        store_path=path,
        config=tiny_config("MSRVTT", "teachtext", train={"epochs": 3}),
        seed=1,
        teachers=teachers,
    )
    plain = train_model(store_path=path, config=tiny_config("MSRVTT", "ce", train={"epochs": 3}), seed=1)
    videos = np.arange(len(train.videos))
    captions = train.caption_start
    cpu = torch.device("cpu")
    target = teachers[0].similarity(torch.from_numpy(captions), torch.from_numpy(videos), cpu)
    gaps = []
    for result in (student, plain):
        with torch.no_grad():
            sims = result.model(train.text.batch(captions, 37, cpu), *train.features.batch(videos, cpu))
        gaps.append(distillation_loss(sims, target).item())
    assert gaps[0] < gaps[1], "distillation pulls the student's similarities towards the teacher's"
    with pytest.raises(ValueError, match="another training split"):
        train_model(
            store_path=store_path(tiny_store_dir, "DiDeMo"),
            config=tiny_config("DiDeMo", "teachtext"),
            teachers=teachers,
        )


@pytest.mark.slow
def test_teachtext_reuses_the_ce_baseline_as_its_openai_teacher(
    tiny_store_dir, tmp_path, monkeypatch, caplog
):
    store_dir = tmp_path / "stores"
    store_dir.mkdir()
    shutil.copy(store_path(tiny_store_dir, "MSVD"), store_dir)
    trained = []
    real_train_model = train.train_model

    def counting_train_model(**kwargs):
        trained.append((kwargs["config"]["model"], kwargs["config"]["data"]["text_encoder"]))
        return real_train_model(**kwargs)

    monkeypatch.setattr(train, "train_model", counting_train_model)
    run = dict(
        store_dir=store_dir,
        dataset="MSVD",
        config_overrides={**TINY_OVERRIDES, "train": {"epochs": 1}},
        checkpoint_dir=tmp_path / "ckpt",
    )
    ce = pipeline.train_baseline(model="ce", **run)
    assert trained == [("ce", "openai")]
    student = pipeline.train_baseline(model="teachtext", **run)
    assert trained[1:] == [("ce", "w2v"), ("teachtext", "openai")], (
        "the openai teacher is the CE baseline, loaded"
    )
    kept = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert len(kept) == 4 and [n.split("-")[1] for n in kept] == ["ce", "ce", "teachtext", "teachtext"], (
        "only the submitted models and their cards: the w2v teacher trained on the way is not kept"
    )
    assert sum(n.endswith(".card.json") for n in kept) == 2
    pipeline.train_baseline(model="teachtext", **run)
    assert len(trained) == 3, "a kept student needs no teacher"
    again = pipeline.train_baseline(model="ce", **run)
    assert len(trained) == 3
    assert all(
        torch.equal(a, b)
        for a, b in zip(ce.model.state_dict().values(), again.model.state_dict().values(), strict=True)
    )
    assert (again.best_epoch, again.best_score) == (ce.best_epoch, ce.best_score)
    assert student.config["model"] == "teachtext" and len(list((tmp_path / "ckpt").glob("*.pt"))) == 2

    pipeline.train_baseline(model="ce", seed=1, **run)
    assert trained[-1] == ("ce", "openai"), "another seed is another run"
    pipeline.train_baseline(model="ce", reuse=False, **run)
    assert len(trained) == 5, "reuse=False retrains"
    config = load_config("MSVD", "ce", overrides=run["config_overrides"])
    cached = train.checkpoint_path(tmp_path / "ckpt", config=config, seed=0, store_path=store_dir / "MSVD.h5")
    cached.write_bytes(b"damaged")
    with caplog.at_level("WARNING", logger="baselines"):
        pipeline.train_baseline(model="ce", **run)
    assert len(trained) == 6 and "ignoring checkpoint" in caplog.text
    assert torch.load(cached, weights_only=True)["best_epoch"] == 0, "the damaged entry was replaced"
    os.utime(store_dir / "MSVD.h5", ns=(1, 1))
    pipeline.train_baseline(model="ce", **run)
    assert len(trained) == 7, "a regenerated store invalidates its checkpoints"


def _hand_teacher(text: list[list[list[float]]], weights, video, available) -> train.TeacherTargets:
    return train.TeacherTargets(
        "hand",
        TextEmbedding([torch.tensor(u) for u in text], torch.tensor(weights)),
        VideoEmbedding([torch.tensor(v) for v in video], torch.tensor(available)),
    )


def test_the_teachtext_target_by_hand_on_two_teachers_and_two_experts():
    # Two captions, two videos, two experts of dimension 2; video 1 lacks expert 2 (ignored by the
    # reference's target, which sums every per-expert dot product without weights or availability).
    first = _hand_teacher(
        text=[[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [1.0, 0.0]]],
        weights=[[0.25, 0.75], [0.5, 0.5]],
        video=[[[1.0, 0.0], [0.6, 0.8]], [[0.0, 1.0], [1.0, 0.0]]],
        available=[[1.0, 1.0], [1.0, 0.0]],
    )
    # expert 1: [[1, .6], [0, .8]]; expert 2: [[.8, .6], [0, 1]]
    first_sum = torch.tensor([[1.8, 1.2], [0.0, 1.8]])
    # weighted: row 0 (w .25/.75) against video 0: .25 * 1 + .75 * .8; against video 1 (expert 1 only): .6
    first_weighted = torch.tensor([[0.85, 0.6], [0.0, 0.8]])
    second = _hand_teacher(
        text=[[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, -1.0]]],
        weights=[[0.5, 0.5], [0.5, 0.5]],
        video=[[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]],
        available=[[1.0, 1.0], [1.0, 1.0]],
    )
    second_sum = torch.tensor([[2.0, 0.0], [0.0, 0.0]])  # expert 1: [[1, 0], [0, 1]]; 2: [[1, 0], [0, -1]]
    rows, cpu = (torch.tensor([0, 1]), torch.tensor([0, 1])), torch.device("cpu")
    total = "expert_sum"
    assert torch.allclose(first.similarity(*rows, cpu, target=total), first_sum, atol=1e-6)
    assert torch.allclose(first.similarity(*rows, cpu, target="weighted"), first_weighted, atol=1e-6)
    assert torch.allclose(first.similarity(*rows, cpu, target="expert_mean"), first_sum / 2, atol=1e-6)
    assert torch.allclose(second.similarity(*rows, cpu, target=total), second_sum, atol=1e-6)
    # the teachers are averaged, not summed (`trainer/trainer.py` divides by the number of teachers)
    got = train.teachtext_target([first, second], *rows, cpu, target=total)
    assert torch.allclose(got, (first_sum + second_sum) / 2, atol=1e-6)
    # the rows pick captions and videos of the precomputed split
    swapped = train.teachtext_target([first], torch.tensor([1, 0]), torch.tensor([1, 1]), cpu, target=total)
    assert torch.allclose(swapped, torch.tensor([[1.8, 1.8], [1.2, 1.2]]), atol=1e-6)


def test_the_default_target_by_hand_on_two_teachers_three_experts_and_a_missing_expert():
    """sum_m w_m <u_m, v_m> over all three experts, averaged over the teachers; video 1 lacks expert 3,
    which keeps the caption's weight and the teacher's embedding of its zero-filled input."""
    first = _hand_teacher(
        text=[[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [1.0, 0.0]], [[0.0, 1.0], [0.8, 0.6]]],
        weights=[[0.2, 0.3, 0.5], [0.5, 0.25, 0.25]],
        video=[[[1.0, 0.0], [0.6, 0.8]], [[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [-1.0, 0.0]]],
        available=[[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]],
    )
    second = _hand_teacher(
        text=[[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, -1.0]], [[0.6, 0.8], [0.0, 1.0]]],
        weights=[[0.1, 0.1, 0.8], [0.4, 0.4, 0.2]],
        video=[[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], [[0.8, 0.6], [0.6, -0.8]]],
        available=[[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]],
    )
    # first, <u_m, v_m> as (caption, video): expert 1 [[1, .6], [0, .8]], expert 2 [[.8, .6], [0, 1]],
    # expert 3 [[1, 0], [.6, -.8]]; caption 0 weighs .2 / .3 / .5, caption 1 .5 / .25 / .25:
    #   (0, 0) = .2 + .24 + .5 = .94    (0, 1) = .12 + .18 + 0 = .30
    #   (1, 0) = 0 + 0 + .15 = .15      (1, 1) = .4 + .25 - .2 = .45
    first_mixture = [[0.94, 0.30], [0.15, 0.45]]
    # second: expert 1 [[1, 0], [0, 1]], expert 2 [[1, 0], [0, -1]], expert 3 [[.96, -.28], [.6, -.8]];
    # caption 0 weighs .1 / .1 / .8, caption 1 .4 / .4 / .2:
    #   (0, 0) = .1 + .1 + .768 = .968  (0, 1) = 0 + 0 - .224 = -.224
    #   (1, 0) = 0 + 0 + .12 = .12      (1, 1) = .4 - .4 - .16 = -.16
    second_mixture = [[0.968, -0.224], [0.12, -0.16]]
    rows, cpu = (torch.tensor([0, 1]), torch.tensor([0, 1])), torch.device("cpu")
    assert torch.allclose(first.similarity(*rows, cpu), torch.tensor(first_mixture), atol=1e-6)
    assert torch.allclose(second.similarity(*rows, cpu), torch.tensor(second_mixture), atol=1e-6)
    expected = (torch.tensor(first_mixture) + torch.tensor(second_mixture)) / 2
    assert torch.allclose(train.teachtext_target([first, second], *rows, cpu), expected, atol=1e-6)
    assert load_config("MSRVTT", "teachtext")["distil"]["target"] == train.DEFAULT_DISTIL_TARGET == "mixture"
    # "weighted" renormalises over video 1's two available experts and drops expert 3 there:
    # first (0, 1) = (.12 + .18) / .5 = .6, not .30
    weighted = first.similarity(*rows, cpu, target="weighted")
    assert weighted[0, 1].item() == pytest.approx(0.6, abs=1e-6)
    assert weighted[0, 0].item() == pytest.approx(0.94, abs=1e-6), "equal where every expert is there"


def test_the_default_target_lies_in_minus_one_to_one():
    """Unit vectors and weights summing to 1 bound it; stored in float16 it is clamped there, and the
    extremes are reached by identical and opposite vectors."""
    generator = torch.Generator().manual_seed(0)
    n, experts, dim = 40, 5, 8

    def unit(shape):
        x = torch.randn(*shape, generator=generator)
        return (x / x.norm(dim=-1, keepdim=True)).half()

    text = [unit((n, dim)) for _ in range(experts)]
    video = [unit((n, dim)) for _ in range(experts)]
    video[0][:4] = text[0][:4]  # same direction in every expert for captions 0-3 and videos 0-3
    video[1][:4] = text[1][:4]
    video[2][:4] = -text[2][:4]
    weights = torch.softmax(torch.randn(n, experts, generator=generator) * 3, dim=1)
    weights[:2] = torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0])  # all weight on the identical experts: 1
    weights[2:4] = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])  # all weight on the opposite expert: -1
    available = (torch.rand(n, experts, generator=generator) > 0.3).float()
    teachers = [
        train.TeacherTargets("a", TextEmbedding(text, weights), VideoEmbedding(video, available)),
        train.TeacherTargets("b", TextEmbedding(text[::-1], weights), VideoEmbedding(video[::-1], available)),
    ]
    rows = torch.arange(n)
    cpu = torch.device("cpu")
    for teacher in teachers:
        sims = teacher.similarity(rows, rows, cpu)
        assert sims.min().item() >= -1.0 and sims.max().item() <= 1.0
    sims = teachers[0].similarity(rows, rows, cpu)
    assert sims[0, 0].item() == pytest.approx(1.0, abs=2e-3) and sims[2, 2].item() == pytest.approx(
        -1.0, abs=2e-3
    )
    target = train.teachtext_target(teachers, rows, rows, cpu)
    assert target.min().item() >= -1.0 and target.max().item() <= 1.0
    assert (target.abs() < 1.0).float().mean() > 0.9, "not squashed onto the bounds"
    expert_sum = train.teachtext_target(teachers, rows, rows, cpu, target="expert_sum")
    assert expert_sum.abs().max().item() > 1.0, "unlike the unweighted sum"


def test_the_available_expert_sum_drops_each_videos_unavailable_experts_by_hand():
    # Video 1 lacks expert 2, whose embedding there is the teacher's output for a zero-filled input.
    teacher = _hand_teacher(
        text=[[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [1.0, 0.0]]],
        weights=[[0.25, 0.75], [0.5, 0.5]],
        video=[[[1.0, 0.0], [0.6, 0.8]], [[0.0, 1.0], [1.0, 0.0]]],
        available=[[1.0, 1.0], [1.0, 0.0]],
    )
    cpu = torch.device("cpu")
    # expert 1: [[1, .6], [0, .8]]; expert 2: [[.8, .6], [0, 1]] with video 1's column dropped
    got = teacher.similarity(torch.tensor([0, 1]), torch.tensor([0, 1]), cpu, target="expert_sum_available")
    assert torch.allclose(got, torch.tensor([[1.8, 0.6], [0.0, 0.8]]), atol=1e-6)
    # availability follows the video rows drawn, not the batch position
    got = teacher.similarity(torch.tensor([0, 1]), torch.tensor([1, 0]), cpu, target="expert_sum_available")
    assert torch.allclose(got, torch.tensor([[0.6, 1.8], [0.8, 0.0]]), atol=1e-6)
    with pytest.raises(ValueError, match="distil.target"):
        teacher.similarity(torch.tensor([0]), torch.tensor([0]), cpu, target="available")


@pytest.mark.slow
@pytest.mark.parametrize("target", train.DISTIL_TARGETS)
def test_the_student_side_of_distillation_is_its_own_weighted_similarity(tiny_store_dir, trained_ce, target):
    """The reference adds SmoothL1(cross_view_conf_matrix, teacher mean) with weight 1 to the ranking
    loss: the student's mixture-weighted similarity, not its unweighted per-expert sum."""
    path = store_path(tiny_store_dir, "MSRVTT")
    with ExpertStore(path) as store:
        teachers = [teacher_targets(trained_ce, store)] * 2
        data = load_split(store, "train", trained_ce.experts, encoder="openai")
    config = tiny_config("MSRVTT", "teachtext")
    torch.manual_seed(5)
    student = build_model(config["arch"], trained_ce.experts, trained_ce.text_dim)
    twin = build_model(config["arch"], trained_ce.experts, trained_ce.text_dim)
    twin.load_state_dict(student.state_dict())
    student.train(), twin.train()
    batch = np.array([4, 1, 9, 2, 7, 0])
    captions = data.caption_start[batch]
    cpu = torch.device("cpu")
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    loss = train.training_step(
        student,
        optimizer,
        data,
        batch,
        captions,
        margin=0.1,
        max_tokens=37,
        device=cpu,
        teachers=teachers,
        distil_weight=1.0,
        distil_target=target,
    )
    tokens = data.text.batch(captions, 37, cpu)
    experts, available = data.features.batch(batch, cpu)
    with torch.no_grad():
        text, video = twin.encode_text(tokens), twin.encode_video(experts, available)
    weighted = sharded_similarity(text, video)
    unweighted = sum(u @ v.T for u, v in zip(text.experts, video.experts, strict=True))
    goal = train.teachtext_target(
        teachers, torch.from_numpy(captions), torch.from_numpy(batch), cpu, target=target
    )
    ranking = max_margin_ranking_loss(weighted, 0.1).item()
    expected = ranking + torch.nn.functional.smooth_l1_loss(weighted, goal).item()
    assert loss == pytest.approx(expected, abs=1e-6)
    other = ranking + torch.nn.functional.smooth_l1_loss(unweighted, goal).item()
    assert abs(loss - other) > 1e-3, "the unweighted per-expert sum would give another loss"
    assert abs(loss - ranking) > 1e-3, "the distillation term is there"
