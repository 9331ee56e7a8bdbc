"""Losses, the Ranger optimiser's Lookahead and config resolution."""

from __future__ import annotations

import pytest
import torch

from baselines.config import load_config, merge, teacher_config, training_optim
from baselines.losses import distillation_loss, max_margin_ranking_loss
from baselines.optim import Lookahead, build_optimizer


def _brute_force_ranking(sims: torch.Tensor, margin: float) -> float:
    s, b = sims.tolist(), sims.shape[0]
    total = 0.0
    for i in range(b):
        for j in range(b):
            if i != j:
                total += max(0.0, margin + s[i][j] - s[i][i]) + max(0.0, margin + s[j][i] - s[i][i])
    return total / (2 * b * (b - 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranking_loss_matches_the_formula(seed):
    sims = torch.rand(6, 6, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    assert max_margin_ranking_loss(sims, 0.2).item() == pytest.approx(
        _brute_force_ranking(sims, 0.2), rel=1e-5
    )


def test_ranking_loss_is_zero_when_positives_win_by_the_margin_and_rejects_bad_shapes():
    assert max_margin_ranking_loss(torch.eye(4) * 0.5, 0.5).item() == 0.0
    assert max_margin_ranking_loss(torch.eye(4) * 0.5, 0.6).item() == pytest.approx(0.1)
    with pytest.raises(ValueError):
        max_margin_ranking_loss(torch.zeros(3, 4), 0.1)
    with pytest.raises(ValueError):
        max_margin_ranking_loss(torch.zeros(1, 1), 0.1)


def test_distillation_is_huber_averaged_over_every_entry():
    student = torch.tensor([[0.0, 2.0], [0.5, 0.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    expected = (0.0 + (2.0 - 0.5) + 0.5 * 0.25 + 0.0) / 4
    loss = distillation_loss(student, teacher)
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    assert student.grad is not None


def test_lookahead_pulls_fast_weights_back_every_k_steps():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = Lookahead(torch.optim.SGD([p], lr=1.0), k=2, alpha=0.5)
    for _ in range(2):
        p.grad = torch.tensor([-1.0])  # each inner step adds 1
        opt.step()
    assert p.item() == pytest.approx(1.0)  # fast reached 2, slow moves halfway from 0
    p.grad = torch.tensor([-1.0])
    opt.step()
    assert p.item() == pytest.approx(2.0)


def test_ranger_and_radam_use_decoupled_weight_decay_and_step_decay():
    p = torch.nn.Parameter(torch.ones(3))
    opt, sched = build_optimizer({"type": "ranger", "lr": 0.1, "weight_decay": 0.5, "lr_gamma": 0.9}, [p])
    assert isinstance(opt, Lookahead) and opt.inner.defaults["decoupled_weight_decay"]
    p.grad = torch.zeros(3)
    opt.step()
    assert torch.allclose(p.detach(), torch.full((3,), 1 - 0.1 * 0.5)), "decay is p <- p - lr * wd * p"
    assert opt.inner.defaults["betas"] == (0.95, 0.999) and opt.inner.defaults["eps"] == 1e-5
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.09)
    radam, _ = build_optimizer({"type": "radam", "lr": 1e-3, "weight_decay": 1e-5}, [p])
    assert radam.defaults["decoupled_weight_decay"]
    with pytest.raises(ValueError):
        build_optimizer({"type": "sgd!", "lr": 1, "weight_decay": 0}, [p])


def test_dataset_configs_inherit_the_base_and_apply_model_variants():
    ce = load_config("msrvtt", "ce")
    assert ce["dataset"] == "MSRVTT" and ce["arch"]["num_g_layers"] == 3 and ce["optim"]["type"] == "ranger"
    assert (
        ce["train"]["margin"] == pytest.approx(0.09381161988446174)
        and ce["data"]["selection_max_captions"] == 1
    )
    assert len(ce["data"]["experts"]) == 9 and "variants" not in ce
    moee = load_config("MSRVTT", "moee")
    assert moee["arch"]["type"] == "moee" and moee["arch"]["text_clusters"] == 50
    assert moee["data"]["vlad_clusters"] == {"ocr": 20, "audio": 27, "speech": 45}
    assert moee["data"]["max_tokens"]["text"] == 19 and moee["data"]["max_tokens"]["speech"] == 32
    youcook = load_config("YouCook2", "ce")
    assert youcook["arch"]["ce_shared_dim"] == 512 and youcook["train"]["batch_size"] == 128
    assert load_config("activity-net")["train"]["margin"] == pytest.approx(0.060496613740311816)
    tt = load_config("MSVD", "teachtext")
    assert tt["distil"]["teachers"] == ["w2v", "openai"] and tt["arch"]["type"] == "ce"


def test_profiles_and_overrides_merge_last_and_lists_are_replaced():
    cfg = load_config("MSRVTT", "moee", profile="cpu", overrides={"data": {"experts": ["i3d.i3d.0"]}})
    assert cfg["arch"]["text_clusters"] == 8 and cfg["data"]["experts"] == ["i3d.i3d.0"]
    assert merge({"a": [1, 2], "b": {"c": 1}}, {"a": [3], "b": {"d": 2}}) == {"a": [3], "b": {"c": 1, "d": 2}}
    with pytest.raises(ValueError, match="profile"):
        load_config("MSRVTT", "ce", profile="nope")
    with pytest.raises(ValueError, match="model"):
        load_config("MSRVTT", "clip")


def test_teacher_config_is_plain_ce_on_another_text_encoder():
    student = load_config("DiDeMo", "teachtext")
    teacher = teacher_config(student, "w2v")
    assert teacher["data"]["text_encoder"] == "w2v" and teacher["distil"] is None and teacher["model"] == "ce"
    assert student["data"]["text_encoder"] == "openai", "the student's config is not modified"


@pytest.mark.parametrize("dataset", ["MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet"])
def test_the_teachtext_student_trains_with_radam_and_its_teachers_with_the_datasets_ce_optimiser(dataset):
    # configs/<dataset>/train-gpt2-xl-finetuned-mte-adam.json: RAdam lr 0.001, weight decay 1e-5, for
    # every dataset; the teachers are the dataset's CE configs (MSVD and YouCook2 have their own lr).
    student = load_config(dataset, "teachtext", profile="challenge")
    ce = load_config(dataset, "ce", profile="challenge")
    assert training_optim(student) == {**ce["optim"], "type": "radam", "lr": 0.001, "weight_decay": 1e-5}
    assert training_optim(teacher_config(student, "w2v")) == training_optim(ce) == ce["optim"]
    assert training_optim(merge(student, {"distil": {"optim": None}})) == ce["optim"], "the named option"
