"""The Collaborative Experts video encoder (docs/baselines-reference.md sections 2.3 and 2.4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ContextGating, ReasonedGatingUnit, reasoning_stack

CG_ORDERS = ("reference", "parallel")


class CollaborativeGating(nn.Module):
    """Pairwise collaborative gating with a reasoning network g shared by all expert pairs.

    For expert i, T_i = sum_j a_i a_j g(s_i, s_j) / (sum_j a_i a_j + 1e-11) over all j including i,
    then v_i = normalize(s_i * sigmoid(BN_a(h(T_i)) + BN_b(C_i s_i + e_i))). Only the video's *own*
    availability enters, so nothing here can depend on a query.

    g(s_i, s_j) = L3 act(BN(L2 act(BN(L1 [s_i; s_j])))) for three layers. L1 on the concatenation equals
    A s_i + B s_j + b (`g_first_self`, `g_first_other`; the reference's `g_reason_1` split in two).

    Two orders (`order`):

    - "reference" (default), the order of the reference code (`CEModule.forward`): experts are gated
      one after another in key order and each gated output replaces its input at once, so expert i's
      pairs see the gated v_j of experts j < i and the projected z_j of experts j >= i. g runs once per
      pair, so in training its BatchNorm statistics are per pair (B rows each) and its running
      statistics take one update per pair call, in the reference's (i, j) order.
    - "parallel": every pair sees the projected z_j (ungated) and g's BatchNorm statistics are pooled
      over all B * M * M pairs at once (one batched call, about M times cheaper). This is not the
      function the reference computes; it is kept as a named option for comparison.

    Args:
        dim: d, the shared dimension.
        num_experts: M.
        num_g_layers: linear layers of g (>= 1).
        num_h_layers: (BN, act, Linear) blocks of h; 0 makes h the identity.
        activation: the non-linearity (Mish in the reference configs).
        order: "reference" or "parallel" (see above).
    """

    def __init__(
        self,
        dim: int,
        num_experts: int,
        *,
        num_g_layers: int = 3,
        num_h_layers: int = 0,
        activation: type[nn.Module] = nn.Mish,
        order: str = "reference",
    ) -> None:
        super().__init__()
        if num_g_layers < 1:
            raise ValueError("num_g_layers must be >= 1")
        if order not in CG_ORDERS:
            raise ValueError(f"the gating order must be one of {', '.join(CG_ORDERS)}, got {order!r}")
        self.order = order
        self.g_first_self = nn.Linear(dim, dim)
        self.g_first_other = nn.Linear(dim, dim, bias=False)
        self.g_rest = reasoning_stack(dim, num_g_layers - 1, activation)
        self.h = reasoning_stack(dim, num_h_layers, activation)
        self.units = nn.ModuleList(ReasonedGatingUnit(dim) for _ in range(num_experts))

    def forward(self, z: torch.Tensor, available: torch.Tensor) -> list[torch.Tensor]:
        """z: (B, M, d) projected experts; available: (B, M) {0, 1}. Returns M tensors (B, d)."""
        if self.order == "parallel":
            return self._forward_parallel(z, available)
        return self._forward_reference(z, available)

    def _forward_reference(self, z: torch.Tensor, available: torch.Tensor) -> list[torch.Tensor]:
        batch, experts, dim = z.shape
        state = list(z.unbind(dim=1))
        for i, unit in enumerate(self.units):
            own = self.g_first_self(state[i])  # (B, d)
            others = self.g_first_other(torch.stack(state, dim=1))  # (B, M, d)
            both = available[:, i : i + 1] * available  # a_i a_j: (B, M)
            if self.training:  # one g call per pair: per-pair batch statistics, as the reference
                context = torch.zeros_like(own)
                for j in range(experts):
                    context = context + self.g_rest(own + others[:, j]) * both[:, j : j + 1]
            else:  # running statistics: batching the pairs computes the same function
                pairs = self.g_rest((own[:, None, :] + others).reshape(-1, dim)).view(batch, experts, dim)
                context = (pairs * both[..., None]).sum(dim=1)
            context = context / (both.sum(dim=1, keepdim=True) + 1e-11)
            state[i] = unit(state[i], self.h(context))
        return state

    def _forward_parallel(self, z: torch.Tensor, available: torch.Tensor) -> list[torch.Tensor]:
        batch, experts, dim = z.shape
        pairs = self.g_first_self(z)[:, :, None, :] + self.g_first_other(z)[:, None, :, :]  # (B, i, j, d)
        pairs = self.g_rest(pairs.reshape(-1, dim)).view(batch, experts, experts, dim)
        both = available[:, :, None] * available[:, None, :]  # a_i a_j
        context = (pairs * both[..., None]).sum(dim=2) / (both.sum(dim=2, keepdim=True) + 1e-11)
        context = self.h(context.reshape(-1, dim)).view(batch, experts, dim)
        return [unit(z[:, i], context[:, i]) for i, unit in enumerate(self.units)]


class CEVideoEncoder(nn.Module):
    """Projection to a common dimension, then collaborative gating ("pairwise") or self gating only.

    `gating="self"` is the "CE - CG" ablation: v_m = normalize(z_m * sigmoid(BN(C_m z_m + e_m))).
    `cg_order` is `CollaborativeGating`'s `order`.
    """

    def __init__(
        self,
        in_dims: list[int],
        dim: int,
        *,
        gating: str = "pairwise",
        num_g_layers: int = 3,
        num_h_layers: int = 0,
        activation: type[nn.Module] = nn.Mish,
        cg_order: str = "reference",
    ) -> None:
        super().__init__()
        if gating not in ("pairwise", "self"):
            raise ValueError(f"gating must be 'pairwise' or 'self', got {gating!r}")
        if gating == "pairwise" and len(in_dims) < 2:
            raise ValueError("collaborative gating needs at least two experts")
        self.projections = nn.ModuleList(nn.Linear(d, dim) for d in in_dims)
        self.gating = gating
        if gating == "pairwise":
            self.collaborative = CollaborativeGating(
                dim,
                len(in_dims),
                num_g_layers=num_g_layers,
                num_h_layers=num_h_layers,
                activation=activation,
                order=cg_order,
            )
        else:
            self.self_gates = nn.ModuleList(ContextGating(dim) for _ in in_dims)
        self.out_dims = [dim] * len(in_dims)

    def forward(self, experts: list[torch.Tensor], available: torch.Tensor) -> list[torch.Tensor]:
        z = [F.normalize(proj(x), dim=-1) for proj, x in zip(self.projections, experts, strict=True)]
        if self.gating == "pairwise":
            gated: list[torch.Tensor] = self.collaborative(torch.stack(z, dim=1), available)
            return gated
        return [F.normalize(gate(zm), dim=-1) for gate, zm in zip(self.self_gates, z, strict=True)]
