"""Training losses: the bidirectional max-margin ranking loss and TeachText's distillation term."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def max_margin_ranking_loss(sims: torch.Tensor, margin: float) -> torch.Tensor:
    """CE's MaxMarginRankingLoss with `fix_norm` (docs/baselines-reference.md section 2.8).

    L = 1 / (2B(B-1)) * sum_i sum_{j != i} ([m + S_ij - S_ii]_+ + [m + S_ji - S_ii]_+), with captions
    as rows, videos as columns and matching pairs on the diagonal.

    >>> float(max_margin_ranking_loss(torch.eye(3), margin=0.5))
    0.0
    """
    batch = sims.shape[0]
    if sims.shape != (batch, batch) or batch < 2:
        raise ValueError(f"expected a square similarity matrix with at least 2 rows, got {tuple(sims.shape)}")
    positive = sims.diagonal()
    text_to_video = F.relu(margin + sims - positive[:, None])  # row i: caption i against every video j
    video_to_text = F.relu(margin + sims - positive[None, :])  # column j: video j against every caption i
    off_diagonal = ~torch.eye(batch, dtype=torch.bool, device=sims.device)
    return (text_to_video + video_to_text)[off_diagonal].sum() / (2 * batch * (batch - 1))


def caption_distillation_loss(
    sims: torch.Tensor, caption_sims: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cross-modal distillation from captions (Tran et al., ACCV 2022; github tqvinhcs/CrossKD,
    `model/loss.py` `RankDistilLoss`, applied in `trainer/trainer.py`): per caption row, the KL divergence
    KL(p || q) of the video distribution q = softmax(S_i. / T) from the caption-caption distribution
    p = softmax(C_i. / T), averaged over the B rows. As in the reference the caption matrix is not
    detached: the term also trains the text side's caption-caption similarities.

    >>> round(float(caption_distillation_loss(torch.eye(3), torch.eye(3), temperature=5.0)), 6)
    0.0
    """
    if temperature <= 0:
        raise ValueError(f"the caption distillation temperature must be positive, got {temperature}")
    if sims.shape != caption_sims.shape:
        raise ValueError(
            f"expected matrices of one shape, got {tuple(sims.shape)} and {tuple(caption_sims.shape)}"
        )
    log_q = F.log_softmax(sims / temperature, dim=1)
    p = F.softmax(caption_sims / temperature, dim=1)
    return F.kl_div(log_q, p, reduction="batchmean")


def distillation_loss(sims: torch.Tensor, teacher_sims: torch.Tensor) -> torch.Tensor:
    """TeachText: SmoothL1 (Huber, delta 1) between student and mean teacher matrices, mean over B^2."""
    return F.smooth_l1_loss(sims, teacher_sims.detach(), beta=1.0)
