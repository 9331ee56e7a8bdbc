"""The MoEE video encoder (Miech et al.; "CE - P,CG" in docs/baselines-reference.md section 2.9)."""

from __future__ import annotations

import torch
from torch import nn

from .layers import GatedEmbeddingUnit


class MoEEVideoEncoder(nn.Module):
    """One GEU per expert at the expert's native size; no shared projection, no collaborative gating.

    Args:
        in_dims: input size of each expert (K * D after NetVLAD for variable-length experts).
        out_dims: native output size of each expert (D, also for NetVLAD experts).
    """

    def __init__(self, in_dims: list[int], out_dims: list[int]) -> None:
        super().__init__()
        self.units = nn.ModuleList(GatedEmbeddingUnit(i, o) for i, o in zip(in_dims, out_dims, strict=True))
        self.out_dims = list(out_dims)

    def forward(self, experts: list[torch.Tensor], available: torch.Tensor) -> list[torch.Tensor]:
        del available  # MoEE uses availability only in the similarity
        return [unit(x) for unit, x in zip(self.units, experts, strict=True)]
