"""The reference CENet's algorithm and state-dict names, against this project's CE and checkpoint loader.

`ReferenceCENet` below re-implements, in the reference's module layout and names, the forward pass of
github albanie/collaborative-experts (`model/model.py`: `CENet.forward`, `CEModule.forward` with
`use_ce="pairwise"`, `include_self=1`, `use_bn_reason=1`; `ContextGating`, `ContextGatingReasoning`,
`GatedEmbeddingUnit(Reasoning)`, `ReduceDim`, `model/net_vlad.py`; `sharded_cross_view_inner_product`
with one caption per video). Its gating loop is the reference's: for each modality in turn, g is called
once per (modality, other) pair on the *current* `experts` dict, and the gated output replaces the
modality's entry at once.
"""

from __future__ import annotations

import argparse
import itertools
import math
import pathlib
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from baselines.config import load_config
from baselines.losses import max_margin_ranking_loss
from baselines.models import ExpertSpec, build_model
from baselines.released import (
    load_reference_state_dict,
    overrides_from_reference_config,
    read_released_checkpoint,
    reference_state_dict,
)

EXPERTS = [ExpertSpec("audio", 6, 3, 4), ExpertSpec("i3d.i3d.0", 12), ExpertSpec("imagenet.senet154.0", 10)]
TEXT_DIM, TEXT_TOKENS, SHARED = 8, 5, 16


# ----- the reference, in its own layout --------------------------------------------------------------


class Mish(nn.Module):
    def forward(self, x):
        return x * torch.tanh(F.softplus(x))


class RefNetVLAD(nn.Module):
    def __init__(self, cluster_size, feature_size, ghost_clusters=0):
        super().__init__()
        self.feature_size, self.cluster_size = feature_size, cluster_size
        scale = 1 / math.sqrt(feature_size)
        self.clusters = nn.Parameter(scale * torch.randn(feature_size, cluster_size + ghost_clusters))
        self.batch_norm = nn.BatchNorm1d(cluster_size + ghost_clusters)
        self.clusters2 = nn.Parameter(scale * torch.randn(1, feature_size, cluster_size))

    def forward(self, x):
        max_sample = x.size(1)
        x = x.view(-1, self.feature_size)
        assignment = F.softmax(self.batch_norm(x @ self.clusters), dim=1)[:, : self.cluster_size]
        assignment = assignment.view(-1, max_sample, self.cluster_size)
        a = assignment.sum(dim=1, keepdim=True) * self.clusters2
        vlad = torch.matmul(assignment.transpose(1, 2), x.view(-1, max_sample, self.feature_size))
        vlad = F.normalize(vlad.transpose(1, 2) - a)
        return F.normalize(vlad.reshape(-1, self.cluster_size * self.feature_size))


class RefContextGating(nn.Module):
    def __init__(self, dimension):
        super().__init__()
        self.fc = nn.Linear(dimension, dimension)
        self.batch_norm = nn.BatchNorm1d(dimension)

    def forward(self, x):
        return F.glu(torch.cat((x, self.batch_norm(self.fc(x))), 1), 1)


class RefGatedEmbeddingUnit(nn.Module):
    def __init__(self, input_dimension, output_dimension):
        super().__init__()
        self.fc = nn.Linear(input_dimension, output_dimension)
        self.cg = RefContextGating(output_dimension)

    def forward(self, x):
        return F.normalize(self.cg(self.fc(x)))


class RefReduceDim(nn.Module):
    def __init__(self, input_dimension, output_dimension):
        super().__init__()
        self.fc = nn.Linear(input_dimension, output_dimension)

    def forward(self, x):
        return F.normalize(self.fc(x))


class RefContextGatingReasoning(nn.Module):
    def __init__(self, dimension):
        super().__init__()
        self.fc = nn.Linear(dimension, dimension)
        self.batch_norm = nn.BatchNorm1d(dimension)
        self.batch_norm2 = nn.BatchNorm1d(dimension)

    def forward(self, x, x1):
        t = self.batch_norm(x1) + self.batch_norm2(self.fc(x))
        return F.glu(torch.cat((x, t), 1), 1)


class RefGatedEmbeddingUnitReasoning(nn.Module):
    def __init__(self, output_dimension):
        super().__init__()
        self.cg = RefContextGatingReasoning(output_dimension)

    def forward(self, x, mask):
        return F.normalize(self.cg(x, mask))


class RefCEModule(nn.Module):
    def __init__(self, modalities, in_dims, text_dim, same_dim, num_g_layers=3, num_h_layers=0):
        super().__init__()
        self.modalities = modalities
        non_lin = Mish()
        self.moe_fc = nn.Linear(text_dim, len(modalities))
        self.trn_list = nn.ModuleList()
        self.video_dim_reduce = nn.ModuleList(RefReduceDim(d, same_dim) for d in in_dims)
        self.g_reason_1 = nn.Linear(same_dim * 2, same_dim)
        shared = []
        for _ in range(num_g_layers - 1):
            shared += [nn.BatchNorm1d(same_dim), non_lin, nn.Linear(same_dim, same_dim)]
        self.g_reason_shared = nn.Sequential(*shared)
        h = []
        for _ in range(num_h_layers):
            h += [nn.BatchNorm1d(same_dim), non_lin, nn.Linear(same_dim, same_dim)]
        self.h_reason = nn.Sequential(*h)
        self.video_GU = nn.ModuleList(RefGatedEmbeddingUnitReasoning(same_dim) for _ in in_dims)
        self.text_GU = nn.ModuleList(RefGatedEmbeddingUnit(text_dim, same_dim) for _ in in_dims)

    def forward(self, text, experts, ind):
        text_embd = {m: layer(text) for m, layer in zip(self.modalities, self.text_GU, strict=True)}
        moe_weights = F.softmax(self.moe_fc(text), dim=1)
        for modality, layer in zip(self.modalities, self.video_dim_reduce, strict=True):
            experts[modality] = layer(experts[modality])
        all_combinations = list(itertools.product(experts, repeat=2))
        for ii, gated_unit in enumerate(self.video_GU):
            curr_modality, curr_mask, mask_num = self.modalities[ii], 0, 0
            temp_dict, avai_dict = {}, {}
            for mod0, mod1 in all_combinations:
                if mod0 == curr_modality:
                    key = f"{mod0}_{mod1}"
                    fused = torch.cat((experts[mod0], experts[mod1]), 1)
                    temp_dict[key] = self.g_reason_shared(self.g_reason_1(fused))
                    avai_dict[key] = ind[mod0].float() * ind[mod1].float()
            for key in temp_dict:
                curr_mask = curr_mask + temp_dict[key] * avai_dict[key].unsqueeze(1)
                mask_num = mask_num + avai_dict[key]
            curr_mask = torch.div(curr_mask, (mask_num + 0.00000000001).unsqueeze(1))
            curr_mask = self.h_reason(curr_mask)
            experts[curr_modality] = gated_unit(experts[curr_modality], curr_mask)
        # sharded_cross_view_inner_product, keep_missing_modalities=False, one caption per video
        available = torch.stack([ind[m].to(moe_weights.dtype) for m in self.modalities], dim=1)
        weights = moe_weights[:, None, :] * available[None, :, :]
        weights = weights / weights.sum(2, keepdim=True)
        sims = 0
        for idx, modality in enumerate(self.modalities):
            sims = sims + weights[:, :, idx] * (text_embd[modality] @ experts[modality].t())
        return sims


class ReferenceCENet(nn.Module):
    def __init__(self, experts, text_dim, same_dim, text_clusters=3, text_ghosts=1):
        super().__init__()
        modalities = sorted(e.key for e in experts)  # utils.util.compute_dims sorts the modalities
        by_key = {e.key: e for e in experts}
        self.pooling = nn.ModuleDict(
            {e.key: RefNetVLAD(e.vlad_clusters, e.dim) for e in experts if e.vlad_clusters}
        )
        self.text_pooling = RefNetVLAD(text_clusters, text_dim, text_ghosts)
        in_dims = [by_key[m].dim * (by_key[m].vlad_clusters or 1) for m in modalities]
        self.ce = RefCEModule(modalities, in_dims, text_dim * text_clusters, same_dim)

    def forward(self, experts, ind, text):
        aggregated = {}
        for mod in self.ce.modalities:
            aggregated[mod] = self.pooling[mod](experts[mod]) if mod in self.pooling else experts[mod]
        return self.ce(self.text_pooling(text), aggregated, ind)


# ----- helpers ---------------------------------------------------------------------------------------


def _project_model(**arch):
    config = load_config("MSRVTT", "ce", overrides={"arch": {"text_clusters": 3, "text_ghosts": 1, **arch}})
    config["arch"]["ce_shared_dim"] = SHARED
    return build_model(config["arch"], EXPERTS, TEXT_DIM)


def _batch(generator, size=10):
    experts = [
        torch.randn(size, *((e.max_tokens, e.dim) if e.vlad_clusters else (e.dim,)), generator=generator)
        for e in EXPERTS
    ]
    available = (torch.rand(size, len(EXPERTS), generator=generator) > 0.3).double()
    available[:, 1] = 1.0  # every video keeps one expert (the reference divides by zero otherwise)
    experts = [x * available[:, m].view(-1, *[1] * (x.dim() - 1)) for m, x in enumerate(experts)]
    tokens = torch.randn(size, TEXT_TOKENS, TEXT_DIM, generator=generator)
    return [x.double() for x in experts], available, tokens.double()


def _reference_inputs(experts, available):
    keys = [e.key for e in EXPERTS]
    return dict(zip(keys, [x.clone() for x in experts], strict=True)), dict(
        zip(keys, available.unbind(1), strict=True)
    )


def _train_side_by_side(project, reference, steps=12, seed=0):
    """The same SGD steps on the same batches for both models (train mode: batch statistics)."""
    generator = torch.Generator().manual_seed(seed)
    opt_p = torch.optim.SGD(project.parameters(), lr=0.5)
    opt_r = torch.optim.SGD(reference.parameters(), lr=0.5)
    project.train()
    reference.train()
    for _ in range(steps):
        experts, available, tokens = _batch(generator)
        opt_p.zero_grad()
        max_margin_ranking_loss(project(tokens, experts, available), 0.1).backward()
        opt_p.step()
        opt_r.zero_grad()
        max_margin_ranking_loss(reference(*_reference_inputs(experts, available), tokens), 0.1).backward()
        opt_r.step()


def _eval_sims(project, reference, seed=99):
    experts, available, tokens = _batch(torch.Generator().manual_seed(seed), size=16)
    project.eval()
    reference.eval()
    with torch.no_grad():
        return project(tokens, experts, available), reference(*_reference_inputs(experts, available), tokens)


# ----- the tests -------------------------------------------------------------------------------------


def test_ce_default_options_compute_the_reference_function_after_training():
    torch.manual_seed(0)
    project = _project_model().double()
    reference = ReferenceCENet(EXPERTS, TEXT_DIM, SHARED).double()
    reference.load_state_dict(reference_state_dict(project), strict=True)
    _train_side_by_side(project, reference)
    ours, theirs = _eval_sims(project, reference)
    gap = (ours - theirs).abs().max().item()
    assert gap < 1e-6, f"max |S - S_ref| = {gap:.2e} in eval mode after 12 training steps"
    assert theirs.std() > 1e-2, "the similarities must not be degenerate"


def test_the_parallel_gating_order_is_a_different_function():
    """The negative control: the pre-reference variant, trained the same way, is measurably apart."""
    torch.manual_seed(0)
    project = _project_model(cg_order="parallel").double()
    reference = ReferenceCENet(EXPERTS, TEXT_DIM, SHARED).double()
    reference.load_state_dict(reference_state_dict(project), strict=True)
    _train_side_by_side(project, reference)
    ours, theirs = _eval_sims(project, reference)
    assert (ours - theirs).abs().max().item() > 1e-4


def _fake_reference_config_object():
    """An object pickled as the reference trainer's `parse_config.ConfigParser`, with its kinds of data."""
    module = types.ModuleType("parse_config")
    config_parser = type("ConfigParser", (), {"__module__": "parse_config"})
    module.ConfigParser = config_parser
    sys.modules["parse_config"] = module
    config = config_parser()
    config._config = {"experts": {"modalities": [e.key for e in EXPERTS]}}
    config._args = argparse.Namespace(config="configs/x.json", resume=None, device=None)
    config._save_dir = pathlib.Path("data/saved/models/x")
    return config


def _save_released(path, state_dict, **extra):
    payload = {"arch": "CENet", "epoch": 7, "state_dict": state_dict, "monitor_best": 31.4, **extra}
    try:
        torch.save(payload, path)
    finally:
        sys.modules.pop("parse_config", None)  # the loader must not need the class


def test_a_released_checkpoint_loads_and_evaluates_as_the_reference(tmp_path):
    torch.manual_seed(1)
    reference = ReferenceCENet(EXPERTS, TEXT_DIM, SHARED).double()
    # trained weights and running statistics, as in a released file
    donor = _project_model().double()
    reference.load_state_dict(reference_state_dict(donor), strict=True)
    _train_side_by_side(_project_model().double(), reference, steps=6)
    path = tmp_path / "trained_model.pth"
    _save_released(path, reference.state_dict(), config=_fake_reference_config_object())

    state = read_released_checkpoint(path)
    assert set(state) == set(reference.state_dict()), "every reference name is kept"
    model = _project_model().double()
    load_reference_state_dict(model, state)
    ours, theirs = _eval_sims(model, reference)
    assert (ours - theirs).abs().max().item() < 1e-6


def _bn(n: int) -> dict[str, tuple[int, ...]]:
    return {
        "weight": (n,),
        "bias": (n,),
        "running_mean": (n,),
        "running_var": (n,),
        "num_batches_tracked": (),
    }


def test_reference_names_and_shapes_of_the_msrvtt_challenge_baseline():
    """Names and shapes the reference CENet gives i3d + SENet-154 with openai text (768-d, 28 + 1 clusters)."""
    config = load_config("MSRVTT", "ce", profile="challenge")
    experts = [ExpertSpec("i3d.i3d.0", 1024), ExpertSpec("imagenet.senet154.0", 2048)]
    with torch.device("meta"):
        model = build_model(config["arch"], experts, 768)
    expected: dict[str, tuple[int, ...]] = {
        "text_pooling.clusters": (768, 29),
        "text_pooling.clusters2": (1, 768, 28),
        "ce.moe_fc.weight": (2, 21504),
        "ce.moe_fc.bias": (2,),
        "ce.g_reason_1.weight": (768, 1536),
        "ce.g_reason_1.bias": (768,),
    }
    expected.update({f"text_pooling.batch_norm.{k}": v for k, v in _bn(29).items()})
    for layer in (0, 3):
        expected.update({f"ce.g_reason_shared.{layer}.{k}": v for k, v in _bn(768).items()})
    for layer in (2, 5):
        expected.update(
            {f"ce.g_reason_shared.{layer}.weight": (768, 768), f"ce.g_reason_shared.{layer}.bias": (768,)}
        )
    for i, dim in enumerate((1024, 2048)):
        expected[f"ce.video_dim_reduce.{i}.fc.weight"] = (768, dim)
        expected[f"ce.video_dim_reduce.{i}.fc.bias"] = (768,)
        expected[f"ce.video_GU.{i}.cg.fc.weight"] = (768, 768)
        expected[f"ce.video_GU.{i}.cg.fc.bias"] = (768,)
        for norm in ("batch_norm", "batch_norm2"):
            expected.update({f"ce.video_GU.{i}.cg.{norm}.{k}": v for k, v in _bn(768).items()})
        expected[f"ce.text_GU.{i}.fc.weight"] = (768, 21504)
        expected[f"ce.text_GU.{i}.fc.bias"] = (768,)
        expected[f"ce.text_GU.{i}.cg.fc.weight"] = (768, 768)
        expected[f"ce.text_GU.{i}.cg.fc.bias"] = (768,)
        expected.update({f"ce.text_GU.{i}.cg.batch_norm.{k}": v for k, v in _bn(768).items()})
    got = {k: tuple(v.shape) for k, v in reference_state_dict(model).items()}
    assert got == expected
    assert sum(p.numel() for p in model.parameters()) == 40_215_612


@pytest.fixture()
def reference_state():
    torch.manual_seed(2)
    return reference_state_dict(_project_model())


def test_a_state_dict_with_a_missing_or_an_extra_key_is_refused(reference_state):
    missing = dict(reference_state)
    del missing["ce.video_GU.1.cg.batch_norm2.running_var"]
    with pytest.raises(ValueError, match=r"1 expected key\(s\) missing .*batch_norm2.running_var"):
        load_reference_state_dict(_project_model(), missing)
    extra = {**reference_state, "ce.video_GU.3.cg.fc.weight": torch.zeros(SHARED, SHARED)}
    with pytest.raises(ValueError, match=r"1 unexpected key\(s\) \(e.g. ce.video_GU.3.cg.fc.weight\)"):
        load_reference_state_dict(_project_model(), extra)


def test_a_state_dict_with_a_wrong_shape_is_refused(reference_state):
    wrong = {**reference_state, "ce.g_reason_1.weight": torch.zeros(SHARED, SHARED)}
    with pytest.raises(ValueError, match=r"ce.g_reason_1.weight has shape \(16, 16\).*expects \(16, 32\)"):
        load_reference_state_dict(_project_model(), wrong)


def test_the_ce_without_collaborative_gating_has_no_reference_names():
    with pytest.raises(ValueError, match="Only CE with collaborative gating and MoEE"):
        reference_state_dict(_project_model(gating="self"))


class _RunsCode:
    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _RunsCode.ran = True
    return "ran"


def test_a_checkpoint_with_another_pickled_object_is_refused_without_running_it(tmp_path, reference_state):
    path = tmp_path / "trained_model.pth"
    _save_released(path, reference_state, config=_RunsCode())
    with pytest.raises(ValueError, match=r"holds a pickled object .*_mark_ran"):
        read_released_checkpoint(path)
    assert not _RunsCode.ran


def test_a_file_without_tensors_is_refused(tmp_path):
    path = tmp_path / "trained_model.pth"
    torch.save({"epoch": 3}, path)
    with pytest.raises(ValueError, match="holds no state dict"):
        read_released_checkpoint(path)


def test_overrides_from_a_released_config_rebuild_the_reference_model():
    reference_config = {
        "experts": {"modalities": ["imagenet.senet154.0", "i3d.i3d.0"], "text_feat": "openai", "ce_shared_dim": 768, "drop_feats": ""},
        "arch": {"args": {"use_ce": "pairwise", "include_self": 1, "use_bn_reason": 1, "num_g_layers": 3,
                          "num_h_layers": 0, "use_mish": 1, "vlad_clusters": {"text": 28, "ocr": 43},
                          "ghost_clusters": {"text": 1}, "keep_missing_modalities": False, "l2renorm": False}},
        "data_loader": {"args": {"max_tokens": {"text": 37, "ocr": 49}}},
    }  # fmt: skip
    overrides = overrides_from_reference_config(reference_config)
    assert overrides["data"]["experts"] == ["i3d.i3d.0", "imagenet.senet154.0"]
    assert overrides["arch"]["text_clusters"] == 28 and overrides["arch"]["text_ghosts"] == 1
    assert overrides["data"]["max_tokens"] == {"text": 37}
    reference_config["arch"]["args"]["include_self"] = 0
    with pytest.raises(ValueError, match="include_self = 0; expected 1"):
        overrides_from_reference_config(reference_config)


def test_one_command_scores_a_released_checkpoint_on_a_store(tiny_store_dir, tmp_path, capsys):
    """`python -m baselines released`: the release's trained_model.pth and config.json, a store, a split."""
    import json

    from baselines.__main__ import main as cli_main
    from baselines.data import expert_specs
    from baselines.predict import evaluate_split
    from baselines.store import ExpertStore, store_path

    reference_config = {
        "experts": {"modalities": ["imagenet.senet154.0", "i3d.i3d.0"], "text_feat": "openai", "ce_shared_dim": 24},
        "arch": {"args": {"use_ce": "pairwise", "include_self": 1, "use_bn_reason": 1, "num_g_layers": 3,
                          "num_h_layers": 0, "use_mish": 1, "vlad_clusters": {"text": 3}, "ghost_clusters": {"text": 1}}},
        "data_loader": {"args": {"max_tokens": {"text": 6}}},
    }  # fmt: skip
    config = load_config("MSRVTT", "ce", overrides=overrides_from_reference_config(reference_config))
    torch.manual_seed(4)
    with ExpertStore(store_path(tiny_store_dir, "MSRVTT")) as store:
        model = build_model(config["arch"], expert_specs(store, config), store.text_dims["openai"])
        model.eval()
        expected = evaluate_split(model, store, config, "val")
    _save_released(
        tmp_path / "trained_model.pth", reference_state_dict(model), config=_fake_reference_config_object()
    )
    (tmp_path / "config.json").write_text(json.dumps(reference_config))
    argv = ["released", "--store-dir", str(tiny_store_dir), "--dataset", "msrvtt", "--split", "val"]
    argv += ["--checkpoint", str(tmp_path / "trained_model.pth"), "--config", str(tmp_path / "config.json")]
    assert cli_main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["t2v"] == expected["t2v"] and printed["v2t"] == expected["v2t"]
    reference_config["experts"]["ce_shared_dim"] = 32  # a checkpoint of another size is refused, clearly
    (tmp_path / "config.json").write_text(json.dumps(reference_config))
    assert cli_main(argv) == 2
    assert "has shape (24, 1024), but the model expects (32, 1024)" in capsys.readouterr().err


def test_moee_weights_round_trip_through_the_reference_names():
    torch.manual_seed(5)
    config = load_config("MSRVTT", "moee", overrides={"arch": {"text_clusters": 3, "text_ghosts": 1}})
    model = build_model(config["arch"], EXPERTS, TEXT_DIM).double().eval()
    names = reference_state_dict(model)
    assert "ce.video_GU.1.cg.batch_norm.running_mean" in names and "pooling.audio.clusters2" in names
    assert not any(k.startswith(("ce.g_reason", "ce.video_dim_reduce")) for k in names), (
        "MoEE has no CE gating"
    )
    again = build_model(config["arch"], EXPERTS, TEXT_DIM).double().eval()
    load_reference_state_dict(again, names)
    experts, available, tokens = _batch(torch.Generator().manual_seed(6), size=8)
    with torch.no_grad():
        assert torch.equal(model(tokens, experts, available), again(tokens, experts, available))
