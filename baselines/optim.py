"""Optimisers of the reference: Ranger (RAdam + Lookahead) and RAdam, with decoupled weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class Lookahead:
    """Lookahead (k steps forward, 1 step back) around an inner optimiser, as in Ranger.

    Every `k` inner steps the slow weights move `alpha` of the way to the fast weights, and the fast
    weights restart from them. `param_groups` is the inner optimiser's, so learning-rate schedules on
    `inner` act on both.
    """

    def __init__(self, inner: torch.optim.Optimizer, *, k: int = 6, alpha: float = 0.5) -> None:
        self.inner = inner
        self.k = k
        self.alpha = alpha
        self.steps = 0
        self.slow = [[p.detach().clone() for p in group["params"]] for group in inner.param_groups]

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.inner.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self) -> None:
        self.inner.step()
        self.steps += 1
        if self.steps % self.k:
            return
        for group, slow in zip(self.inner.param_groups, self.slow, strict=True):
            torch._foreach_lerp_(slow, group["params"], self.alpha)  # slow += alpha * (fast - slow)
            torch._foreach_copy_(group["params"], slow)


def build_optimizer(
    optim: dict[str, Any], params: Iterable[torch.nn.Parameter]
) -> tuple[torch.optim.Optimizer | Lookahead, torch.optim.lr_scheduler.StepLR]:
    """Optimiser and per-epoch StepLR(step 1, gamma `lr_gamma`) from a config's `optim` section.

    `type` is "ranger" (RAdam betas (0.95, 0.999), eps 1e-5, inside Lookahead k=6, alpha=0.5), "radam"
    (betas (0.9, 0.999), eps 1e-8) or "adam". Weight decay is decoupled for the RAdam-based ones.
    """
    kind, lr, decay = optim["type"], float(optim["lr"]), float(optim["weight_decay"])
    params = list(params)
    inner: torch.optim.Optimizer
    if kind == "ranger":
        inner = torch.optim.RAdam(
            params,
            lr=lr,
            betas=(0.95, 0.999),
            eps=1e-5,
            weight_decay=decay,
            decoupled_weight_decay=True,
            foreach=True,
        )
        optimizer: torch.optim.Optimizer | Lookahead = Lookahead(inner, k=6, alpha=0.5)
    elif kind == "radam":
        inner = optimizer = torch.optim.RAdam(
            params, lr=lr, weight_decay=decay, decoupled_weight_decay=True, foreach=True
        )
    elif kind == "adam":
        inner = optimizer = torch.optim.Adam(params, lr=lr, weight_decay=decay, foreach=True)
    else:
        raise ValueError(f"unknown optimiser {kind!r}; expected ranger, radam or adam")
    return optimizer, torch.optim.lr_scheduler.StepLR(
        inner, step_size=1, gamma=float(optim.get("lr_gamma", 0.95))
    )
