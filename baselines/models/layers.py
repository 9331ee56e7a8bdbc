"""Gating blocks shared by CE and MoEE (docs/baselines-reference.md sections 2.4 and 2.6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ContextGating(nn.Module):
    """x * sigmoid(BN(W x + b)): a learned, input-dependent feature gate."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.batch_norm = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.batch_norm(self.fc(x)))


class GatedEmbeddingUnit(nn.Module):
    """GEU(x) = normalize(y * sigmoid(BN(P y + p))), y = Q x + q."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)
        self.gating = ContextGating(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.gating(self.fc(x)), dim=-1)


class ReasonedGatingUnit(nn.Module):
    """CE's video GEU with a collaborative input: normalize(z * sigmoid(BN_a(t) + BN_b(C z + e)))."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.bn_self = nn.BatchNorm1d(dim)
        self.bn_context = nn.BatchNorm1d(dim)

    def forward(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        gate = self.bn_context(context) + self.bn_self(self.fc(z))
        return F.normalize(z * torch.sigmoid(gate), dim=-1)


def reasoning_stack(dim: int, layers: int, activation: type[nn.Module]) -> nn.Sequential:
    """`layers` blocks of (BatchNorm, activation, Linear d -> d); the identity when `layers` is 0."""
    blocks: list[nn.Module] = []
    for _ in range(layers):
        blocks += [nn.BatchNorm1d(dim), activation(), nn.Linear(dim, dim)]
    return nn.Sequential(*blocks)
