"""NetVLAD pooling of a set of feature vectors (docs/baselines-reference.md section 2.2)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class NetVLAD(nn.Module):
    """NetVLAD with optional ghost clusters, as in the CE code.

    Padding is **not** masked: zero-padded positions take part in the soft assignment, exactly as in
    the reference (its `mask` argument is ignored). Inputs must therefore always be padded to the same
    length (the config's `max_tokens`) at training and at test time.

    Args:
        feature_size: D, the dimension of each input vector.
        cluster_size: K, the number of kept clusters; the output has K * D dimensions.
        ghost_clusters: G extra clusters that absorb assignment mass and are then discarded.
    """

    def __init__(self, feature_size: int, cluster_size: int, ghost_clusters: int = 0) -> None:
        super().__init__()
        self.feature_size = feature_size
        self.cluster_size = cluster_size
        self.ghost_clusters = ghost_clusters
        scale = 1.0 / math.sqrt(feature_size)
        self.clusters = nn.Parameter(scale * torch.randn(feature_size, cluster_size + ghost_clusters))
        self.batch_norm = nn.BatchNorm1d(cluster_size + ghost_clusters)
        self.centres = nn.Parameter(scale * torch.randn(1, feature_size, cluster_size))

    @property
    def out_dim(self) -> int:
        return self.cluster_size * self.feature_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool (B, N, D) sets into (B, K * D) unit-norm descriptors."""
        batch, tokens, dim = x.shape
        assignment = self.batch_norm(x.reshape(-1, dim) @ self.clusters)  # BN over all B * N tokens
        assignment = F.softmax(assignment, dim=1)[:, : self.cluster_size]  # drop the ghosts
        assignment = assignment.view(batch, tokens, self.cluster_size)
        mass = assignment.sum(dim=1, keepdim=True)  # (B, 1, K)
        vlad = torch.matmul(assignment.transpose(1, 2), x).transpose(1, 2)  # (B, D, K)
        vlad = vlad - mass * self.centres
        vlad = F.normalize(vlad, dim=1)  # intra-normalisation
        return F.normalize(vlad.reshape(batch, -1), dim=1)
