"""CE's text encoder: NetVLAD over word features, one GEU per expert and mixture-of-experts weights."""

from __future__ import annotations

import torch
from torch import nn

from .layers import GatedEmbeddingUnit
from .net_vlad import NetVLAD


class TextEncoder(nn.Module):
    """Word features (B, T, D_t) -> per-expert unit vectors u_m (B, d_m) and weights w (B, M).

    The weights are a softmax of one linear layer of the text descriptor: they depend on the text
    alone, never on any video (docs/baselines-reference.md section 6.1(a)).

    Args:
        text_dim: D_t.
        clusters: K_t text NetVLAD clusters.
        ghosts: G_t ghost clusters.
        out_dims: d_m of each expert's text embedding, in the model's expert order.
        freeze_weights: use the constant 1/M instead of learned weights (the "CE - MW,P,CG" ablation).
    """

    def __init__(
        self, text_dim: int, clusters: int, ghosts: int, out_dims: list[int], *, freeze_weights: bool = False
    ) -> None:
        super().__init__()
        self.vlad = NetVLAD(text_dim, clusters, ghosts)
        self.units = nn.ModuleList(GatedEmbeddingUnit(self.vlad.out_dim, d) for d in out_dims)
        self.freeze_weights = freeze_weights
        self.moe = None if freeze_weights else nn.Linear(self.vlad.out_dim, len(out_dims))

    def forward(self, tokens: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        descriptor = self.vlad(tokens)
        embeddings = [unit(descriptor) for unit in self.units]
        if self.moe is None:
            weights = descriptor.new_full((len(tokens), len(self.units)), 1.0 / len(self.units))
        else:
            weights = torch.softmax(self.moe(descriptor), dim=1)
        return embeddings, weights
