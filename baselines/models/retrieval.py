"""The joint text-video model: expert pooling, a video encoder (CE or MoEE), the text encoder and the
sharded similarity with per-pair missing-expert renormalisation (docs/baselines-reference.md section 2.7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from .ce import CEVideoEncoder
from .moee import MoEEVideoEncoder
from .net_vlad import NetVLAD
from .text import TextEncoder


@dataclass(frozen=True)
class ExpertSpec:
    """One video expert as the model sees it.

    Attributes:
        key: expert name (models keep experts in sorted key order).
        dim: D, the feature size of the expert (per token for variable-length experts).
        vlad_clusters: K for variable-length experts pooled by NetVLAD, None for pooled experts.
        max_tokens: sequences are zero-padded or truncated to this length (variable-length only).
    """

    key: str
    dim: int
    vlad_clusters: int | None = None
    max_tokens: int = 1


class TextEmbedding(NamedTuple):
    """Per-expert text embeddings (Q, d_m) and mixture weights (Q, M); computed from text only."""

    experts: list[torch.Tensor]
    weights: torch.Tensor


class VideoEmbedding(NamedTuple):
    """Per-expert video embeddings (V, d_m) and expert availability (V, M) as 0/1 floats."""

    experts: list[torch.Tensor]
    available: torch.Tensor


def sharded_similarity(text: TextEmbedding, video: VideoEmbedding) -> torch.Tensor:
    """s(q, v) = sum_m w_m(q) a_m(v) <u_m(q), v_m(v)> / sum_m w_m(q) a_m(v).

    The weights are renormalised per (query, candidate) pair with the **candidate's** availability,
    so the query side never sees which experts its own ground-truth video has. A candidate with no
    available expert gets similarity 0 instead of a division by zero.

    Returns:
        (Q, V) similarities in [-1, 1].
    """
    weights, available = text.weights, video.available.to(text.weights.dtype)
    numerator = torch.zeros(weights.shape[0], available.shape[0], dtype=weights.dtype, device=weights.device)
    for m, (u, v) in enumerate(zip(text.experts, video.experts, strict=True)):
        numerator += weights[:, m : m + 1] * (u @ v.T) * available[:, m][None, :]
    denominator = weights @ available.T
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1e-12), torch.zeros_like(numerator))


def caption_similarity(text: TextEmbedding, available: torch.Tensor) -> torch.Tensor:
    """The caption-caption similarity of a batch of B captions paired with B videos (caption i with
    video i): s(i, j) = sum_m w_m(i) a_m(j) <u_m(i), u_m(j)> / sum_m w_m(i) a_m(j).

    The per-pair weights are `sharded_similarity`'s for caption i against video j, as the cross-modal
    distillation reference weighs its text-text matrix when each video has one caption in the batch
    (github tqvinhcs/CrossKD, `model/model.py`, `sharded_cross_view_inner_product`). A pair whose
    video has no available expert gets 0.

    Returns:
        (B, B) similarities in [-1, 1].
    """
    weights, available = text.weights, available.to(text.weights.dtype)
    if available.shape[0] != weights.shape[0]:
        raise ValueError(
            f"expected one video per caption, got {weights.shape[0]} captions, {available.shape[0]} videos"
        )
    numerator = torch.zeros(weights.shape[0], weights.shape[0], dtype=weights.dtype, device=weights.device)
    for m, u in enumerate(text.experts):
        numerator += weights[:, m : m + 1] * (u @ u.T) * available[:, m][None, :]
    denominator = weights @ available.T
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1e-12), torch.zeros_like(numerator))


class RetrievalModel(nn.Module):
    """CE, its ablations or MoEE, selected by `kind` and `gating`.

    The query path (`encode_text`) takes only word features; the video path (`encode_video`) takes
    only the video's experts and its own availability. They meet only in `sharded_similarity`.

    Args:
        experts: the experts, any order (they are sorted by key).
        text_dim: D_t of the word features.
        kind: "ce" (projection to `shared_dim`, then gating) or "moee" (native-size GEUs).
        shared_dim: d of CE.
        gating: "pairwise" (collaborative gating) or "self" (CE - CG); CE only.
        text_clusters, text_ghosts: the text NetVLAD.
        num_g_layers, num_h_layers: the collaborative gating networks.
        use_mish: Mish (the reference) or ReLU inside g and h.
        freeze_weights: constant mixture weights 1/M.
        moee_dim_scale: MoEE embeds expert m in round(D_m * scale) dimensions (1.0 = native, the
            reference). Reduced profiles shrink MoEE by the same factor as CE's `shared_dim`.
        cg_order: "reference" (the reference code's sequential gating, per-pair BatchNorm) or
            "parallel" (every pair sees ungated inputs, pooled BatchNorm); see `CollaborativeGating`.
    """

    def __init__(
        self,
        experts: list[ExpertSpec],
        text_dim: int,
        *,
        kind: str = "ce",
        shared_dim: int = 768,
        gating: str = "pairwise",
        text_clusters: int = 28,
        text_ghosts: int = 1,
        num_g_layers: int = 3,
        num_h_layers: int = 0,
        use_mish: bool = True,
        freeze_weights: bool = False,
        moee_dim_scale: float = 1.0,
        cg_order: str = "reference",
    ) -> None:
        super().__init__()
        if not experts:
            raise ValueError("a retrieval model needs at least one expert")
        self.experts = sorted(experts, key=lambda e: e.key)
        self.expert_keys = [e.key for e in self.experts]
        self.kind = kind
        self.pooling = nn.ModuleList(
            NetVLAD(e.dim, e.vlad_clusters) if e.vlad_clusters else nn.Identity() for e in self.experts
        )
        in_dims = [e.dim * (e.vlad_clusters or 1) for e in self.experts]
        activation = nn.Mish if use_mish else nn.ReLU
        self.video: nn.Module
        if kind == "ce":
            self.video = CEVideoEncoder(
                in_dims,
                shared_dim,
                gating=gating,
                num_g_layers=num_g_layers,
                num_h_layers=num_h_layers,
                activation=activation,
                cg_order=cg_order,
            )
        elif kind == "moee":
            self.video = MoEEVideoEncoder(
                in_dims, [max(1, round(e.dim * moee_dim_scale)) for e in self.experts]
            )
        else:
            raise ValueError(f"model kind must be 'ce' or 'moee', got {kind!r}")
        self.text = TextEncoder(
            text_dim, text_clusters, text_ghosts, self.video.out_dims, freeze_weights=freeze_weights
        )

    def encode_text(self, tokens: torch.Tensor) -> TextEmbedding:
        """(Q, T, D_t) zero-padded word features -> the query embedding. Sees no video input."""
        embeddings, weights = self.text(tokens)
        return TextEmbedding(embeddings, weights)

    def encode_video(self, experts: list[torch.Tensor], available: torch.Tensor) -> VideoEmbedding:
        """Expert features in `expert_keys` order ((V, D) or (V, T, D), zero where missing) -> embedding."""
        available = available.to(experts[0].dtype)
        pooled = [pool(x) for pool, x in zip(self.pooling, experts, strict=True)]
        return VideoEmbedding(self.video(pooled, available), available)

    def forward(
        self, tokens: torch.Tensor, experts: list[torch.Tensor], available: torch.Tensor
    ) -> torch.Tensor:
        """Similarity matrix of a batch of captions against a batch of videos."""
        return sharded_similarity(self.encode_text(tokens), self.encode_video(experts, available))


def build_model(arch: dict[str, Any], experts: list[ExpertSpec], text_dim: int) -> RetrievalModel:
    """Build a model from the `arch` section of a config (see `baselines/configs/base.json`)."""
    return RetrievalModel(
        experts,
        text_dim,
        kind=arch["type"],
        shared_dim=int(arch["ce_shared_dim"]),
        gating=arch["gating"],
        text_clusters=int(arch["text_clusters"]),
        text_ghosts=int(arch["text_ghosts"]),
        num_g_layers=int(arch["num_g_layers"]),
        num_h_layers=int(arch["num_h_layers"]),
        use_mish=bool(arch["use_mish"]),
        freeze_weights=bool(arch["freeze_weights"]),
        moee_dim_scale=float(arch.get("moee_dim_scale", 1.0)),
        cg_order=str(arch.get("cg_order", "reference")),
    )
