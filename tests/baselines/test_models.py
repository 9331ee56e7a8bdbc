"""Model structure: reference parameter counts, the query path's independence from the gallery,
per-pair missing-expert renormalisation and the NetVLAD / gating details."""

from __future__ import annotations

import inspect

import pytest
import torch

from baselines.models import ExpertSpec, RetrievalModel, TextEmbedding, VideoEmbedding, sharded_similarity
from baselines.models.net_vlad import NetVLAD

MSRVTT_CE = [
    ExpertSpec("imagenet.resnext101_32x48d.0", 2048),
    ExpertSpec("r2p1d.r2p1d-ig65m.0", 512),
    ExpertSpec("imagenet.senet154.0", 2048),
    ExpertSpec("scene.densenet161.0", 2208),
    ExpertSpec("i3d.i3d.0", 1024),
    ExpertSpec("face", 512),
    ExpertSpec("ocr", 300, 43, 49),
    ExpertSpec("audio", 128, 8, 29),
    ExpertSpec("speech", 300, 19, 32),
]
MOEE_VLAD = {"ocr": 20, "audio": 27, "speech": 45}


def _count(**kwargs) -> int:
    with torch.device("meta"):  # shapes only: no memory for 400M parameters
        model = RetrievalModel(**kwargs)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            dict(
                experts=[ExpertSpec("i3d.i3d.0", 1024), ExpertSpec("imagenet.senet154.0", 2048)], text_dim=768
            ),
            40_215_612,
        ),  # MSRVTT challenge baseline
        (dict(experts=MSRVTT_CE, text_dim=768), 183_448_607),  # MSRVTT CE
        (dict(experts=MSRVTT_CE, text_dim=768, gating="self"), 181_070_111),  # MSRVTT CE - CG
        (
            dict(
                experts=[ExpertSpec(e.key, e.dim, MOEE_VLAD.get(e.key), e.max_tokens) for e in MSRVTT_CE],
                text_dim=768,
                kind="moee",
                text_clusters=50,
                text_ghosts=2,
            ),
            400_410_129,
        ),  # MSRVTT MoEE
        (
            dict(
                experts=[ExpertSpec("i3d.i3d.0", 1024), ExpertSpec("imagenet.senet154.0", 2048)],
                text_dim=768,
                shared_dim=512,
                text_clusters=20,
                text_ghosts=1,
            ),
            19_474_732,
        ),  # YouCook2 challenge baseline
    ],
)
def test_parameter_counts_match_the_reference_implementation(kwargs, expected):
    assert _count(**kwargs) == expected


def _small_model(kind: str = "ce", seed: int = 0) -> RetrievalModel:
    torch.manual_seed(seed)
    experts = [ExpertSpec("a", 12), ExpertSpec("b", 8), ExpertSpec("ocr", 6, 3, 5)]
    return RetrievalModel(experts, 10, kind=kind, shared_dim=16, text_clusters=4, text_ghosts=1)


def _gallery(n: int, seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    available = (torch.rand(n, 3, generator=g) > 0.3).float()
    available[:, 0] = 1
    experts = [
        torch.randn(n, 12, generator=g),
        torch.randn(n, 8, generator=g),
        torch.randn(n, 5, 6, generator=g),
    ]
    experts = [x * available[:, i].view(-1, *[1] * (x.dim() - 1)) for i, x in enumerate(experts)]
    return experts, available


@pytest.mark.parametrize("kind", ["ce", "moee"])
def test_query_embedding_never_depends_on_the_candidate_gallery(kind):
    """Permuting the gallery, or changing which experts the candidates have, must leave every query's
    embedding and mixture weights bit-identical; only the similarity columns move with the gallery."""
    model = _small_model(kind)
    model.train()
    for _ in range(3):  # non-trivial BatchNorm running statistics
        experts, available = _gallery(16, 1)
        model(torch.randn(16, 5, 10), experts, available)
    model.eval()
    assert list(inspect.signature(model.encode_text).parameters) == ["tokens"], (
        "the query path takes text only"
    )
    tokens = torch.randn(7, 5, 10)
    experts, available = _gallery(9, 2)
    with torch.no_grad():
        query = model.encode_text(tokens)
        sims = sharded_similarity(query, model.encode_video(experts, available))
        perm = torch.randperm(9, generator=torch.Generator().manual_seed(3))
        query_again = model.encode_text(tokens)
        sims_perm = sharded_similarity(
            query_again, model.encode_video([x[perm] for x in experts], available[perm])
        )
        other_experts, other_available = _gallery(9, 4)  # a different gallery with other availability
        query_third = model.encode_text(tokens)
        model.encode_video(other_experts, other_available)
    for q in (query_again, query_third):
        assert torch.equal(q.weights, query.weights)
        assert all(torch.equal(a, b) for a, b in zip(q.experts, query.experts, strict=True))
    assert torch.allclose(sims_perm, sims[:, perm], atol=1e-6)


def test_query_path_in_training_mode_ignores_the_video_batch():
    """BatchNorm in training mode couples a batch's rows: the text rows must never meet the video rows."""
    model = _small_model("ce")
    model.train()
    tokens = torch.randn(6, 5, 10)
    outputs = []
    for seed in (1, 2):
        experts, available = _gallery(6, seed)
        sims = model(tokens, experts, available)
        outputs.append(sims)
        text = model.encode_text(tokens)
        outputs.append(text)
    assert torch.equal(outputs[1].weights, outputs[3].weights)
    assert not torch.equal(outputs[0], outputs[2])


def test_missing_experts_are_renormalised_with_the_candidates_availability_only():
    torch.manual_seed(0)
    q, v, d = 4, 5, 3
    u = [torch.nn.functional.normalize(torch.randn(q, d), dim=1) for _ in range(3)]
    w = torch.softmax(torch.randn(q, 3), dim=1)
    vv = [torch.nn.functional.normalize(torch.randn(v, d), dim=1) for _ in range(3)]
    a = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 0, 0]], dtype=torch.float32)
    sims = sharded_similarity(TextEmbedding(u, w), VideoEmbedding(vv, a))
    for i in range(q):
        for j in range(v):
            weights = w[i] * a[j]
            expected = (
                0.0
                if weights.sum() == 0
                else float(sum(weights[m] * (u[m][i] @ vv[m][j]) for m in range(3)) / weights.sum())
            )
            assert sims[i, j].item() == pytest.approx(expected, abs=1e-6)
    assert torch.isfinite(sims).all() and (sims[:, 4] == 0).all(), "a video without experts scores 0, not NaN"
    assert (sims.abs() <= 1 + 1e-6).all()


def test_missing_expert_contents_cannot_leak_through_collaborative_gating():
    """A missing expert's (zero-filled) row may hold anything: the availability masks remove it."""
    model = _small_model("ce").eval()
    experts, available = _gallery(8, 5)
    available[:, 1] = torch.tensor([1, 0, 1, 0, 1, 0, 1, 0], dtype=torch.float32)
    changed = [x.clone() for x in experts]
    changed[1][available[:, 1] == 0] = 5.0
    with torch.no_grad():
        base = model.encode_video(experts, available)
        other = model.encode_video(changed, available)
    for m in (0, 2):
        assert torch.allclose(base.experts[m], other.experts[m], atol=1e-6)


def test_video_embeddings_are_unit_norm_per_expert_and_similarities_bounded():
    for kind in ("ce", "moee"):
        model = _small_model(kind).eval()
        experts, available = _gallery(6, 6)
        with torch.no_grad():
            video = model.encode_video(experts, available)
            text = model.encode_text(torch.randn(4, 5, 10))
        for x in video.experts + text.experts:
            assert torch.allclose(x.norm(dim=1), torch.ones(len(x)), atol=1e-5)
        assert torch.allclose(text.weights.sum(1), torch.ones(4), atol=1e-6)
    assert [e.key for e in model.experts] == ["a", "b", "ocr"], "experts are kept in sorted key order"


def test_netvlad_drops_ghosts_normalises_and_does_not_mask_padding():
    torch.manual_seed(0)
    vlad = NetVLAD(6, 4, ghost_clusters=2).eval()
    x = torch.randn(3, 5, 6)
    out = vlad(x)
    assert out.shape == (3, 24) and torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    padded = torch.cat([x, torch.zeros(3, 4, 6)], dim=1)
    assert not torch.allclose(vlad(padded), out), (
        "as in the reference, zero padding takes part in the assignment"
    )


def test_frozen_weights_are_uniform_and_constant():
    model = RetrievalModel(
        [ExpertSpec("a", 4), ExpertSpec("b", 4)],
        6,
        kind="moee",
        text_clusters=2,
        text_ghosts=0,
        freeze_weights=True,
    ).eval()
    with torch.no_grad():
        weights = model.encode_text(torch.randn(3, 4, 6)).weights
    assert torch.equal(weights, torch.full((3, 2), 0.5))
