"""Training with checkpoint selection on a held-out split (docs/baselines-reference.md section 3)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import teacher_config, training_optim
from .data import SplitData, expert_specs, load_split
from .losses import caption_distillation_loss, distillation_loss, max_margin_ranking_loss
from .models import (
    ExpertSpec,
    RetrievalModel,
    TextEmbedding,
    VideoEmbedding,
    build_model,
    caption_similarity,
    sharded_similarity,
)
from .optim import Lookahead, build_optimizer
from .predict import encode_captions, encode_videos, evaluate_loaded
from .store import ExpertStore

log = logging.getLogger("baselines")
SELECTION_METRIC = "geometric_mean_R1-R5-R10"


def seed_everything(seed: int) -> None:
    """Seed `random`, numpy and torch (CPU and CUDA) with the run seed, as the reference does."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# The first is the default (docs/baselines.md, "TeachText's distillation target").
DISTIL_TARGETS = ("mixture", "weighted", "expert_sum", "expert_sum_available", "expert_mean")
DEFAULT_DISTIL_TARGET = DISTIL_TARGETS[0]


@dataclass
class TeacherTargets:
    """A trained teacher's embeddings of the training split, precomputed once (TeachText).

    Rows of `text` follow the training split's caption order and rows of `video` its video order, so a
    batch's teacher similarity is a lookup plus a product.
    """

    name: str
    text: TextEmbedding
    video: VideoEmbedding

    def similarity(
        self,
        caption_rows: torch.Tensor,
        video_rows: torch.Tensor,
        device: torch.device,
        *,
        target: str = DEFAULT_DISTIL_TARGET,
    ) -> torch.Tensor:
        """The teacher's similarity of a batch: (B, B) float32.

        With u_m, v_m the teacher's gated, L2-normalised per-expert text and video embeddings and w_m
        the caption's softmax mixture weights over all M experts (sum 1):

        Args:
            target: "mixture" (the default), sum_m w_m <u_m, v_m> over all experts, the weights not
                renormalised over the video's available experts: an unavailable expert keeps its weight
                and the teacher's embedding of its zero-filled input. This is the teacher's similarity
                as the CE paper defines it (each expert's text embedding scaled by its mixture weight),
                in [-1, 1]; clamped there, as the float16 storage can round a unit vector's norm up.
                "weighted", the teacher's own ranking similarity (`sharded_similarity`): the weights
                renormalised per pair over the video's available experts, whose unavailable experts
                add nothing; in [-1, 1]. "expert_sum", sum_m <u_m, v_m> over all experts (no weights,
                in [-M, M]): the reference trainer's sum if the unpublished teacher pickles hold
                unweighted unit vectors. "expert_sum_available", the same sum over the video's
                available experts only. "expert_mean", "expert_sum" divided by M.
        """
        if target not in DISTIL_TARGETS:
            raise ValueError(f"distil.target must be one of {', '.join(DISTIL_TARGETS)}, got {target!r}")
        text = [u[caption_rows].to(device).float() for u in self.text.experts]
        video = [v[video_rows].to(device).float() for v in self.video.experts]
        if target == "weighted":
            return sharded_similarity(
                TextEmbedding(text, self.text.weights[caption_rows].to(device).float()),
                VideoEmbedding(video, self.video.available[video_rows].to(device).float()),
            )
        per_expert = torch.stack([u @ v.T for u, v in zip(text, video, strict=True)])  # (M, B, B)
        if target == "mixture":
            weights = self.text.weights[caption_rows].to(device).float()  # (B, M), rows sum to 1
            return (weights.T[:, :, None] * per_expert).sum(dim=0).clamp(-1.0, 1.0)
        if target == "expert_sum_available":
            available = self.video.available[video_rows].to(device).float()  # (B, M)
            per_expert = per_expert * available.T[:, None, :]
        return per_expert.mean(dim=0) if target == "expert_mean" else per_expert.sum(dim=0)


def teachtext_target(
    teachers: list[TeacherTargets],
    caption_rows: torch.Tensor,
    video_rows: torch.Tensor,
    device: torch.device,
    *,
    target: str = DEFAULT_DISTIL_TARGET,
) -> torch.Tensor:
    """The distillation target of a batch: the mean over teachers of their similarity matrices
    (`trainer/trainer.py` line 134 divides the sum by the number of teachers)."""
    return torch.stack(
        [t.similarity(caption_rows, video_rows, device, target=target) for t in teachers]
    ).mean(dim=0)


@dataclass
class TrainResult:
    """A trained model (best validation epoch loaded) and how it got there."""

    model: RetrievalModel
    config: dict[str, Any]
    experts: list[ExpertSpec]
    text_dim: int
    best_epoch: int
    best_score: float
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    samples: int = 0


def _resolve_device(device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but is not available")
    return device


def teacher_targets(
    result: TrainResult, store: ExpertStore, *, device: str | torch.device = "cpu"
) -> TeacherTargets:
    """Precompute a trained teacher's embeddings of the training split (stored as float16)."""
    device = _resolve_device(device)
    config = result.config
    data = load_split(
        store, config["data"]["train_split"], result.experts, encoder=config["data"]["text_encoder"]
    )
    assert data.text is not None
    video = encode_videos(result.model, data.features, device)
    text = encode_captions(
        result.model,
        data.text,
        np.arange(len(data.captions)),
        int(config["data"]["max_tokens"]["text"]),
        device,
        int(config["train"]["eval_chunk"]),
    )
    return TeacherTargets(
        name=config["data"]["text_encoder"],
        text=TextEmbedding([u.half().cpu() for u in text.experts], text.weights.cpu()),
        video=VideoEmbedding([v.half().cpu() for v in video.experts], video.available.cpu()),
    )


def train_model(
    *,
    store_path: str | os.PathLike[str],
    config: dict[str, Any],
    seed: int = 0,
    device: str | torch.device = "cpu",
    teachers: list[TeacherTargets] | None = None,
) -> TrainResult:
    """Train one model and return it with the weights of its best validation epoch.

    An epoch is one shuffled pass over the training videos, each with one caption drawn uniformly at
    random; a final batch of one video is dropped (BatchNorm cannot train on it). After every epoch the
    model is scored on `data.selection_split` with `evaluation.metrics`; the best t2v geometric mean of
    R@1, R@5, R@10 wins, a later epoch winning ties. The learning rate decays by `optim.lr_gamma` per epoch.

    Args:
        store_path: the dataset's store file.
        config: a resolved config (`baselines.config.load_config`).
        seed: seeds weights, shuffling and caption sampling; the same seed on the same device and thread
            count gives the same model.
        device: "cpu", "cuda" or a torch device.
        teachers: TeachText targets; when given, the distillation term (weight `distil.weight`) is added.
            A config with `caption_distil` adds the caption distillation term (`training_step`).
    """
    device = _resolve_device(device)
    data_cfg, train_cfg = config["data"], config["train"]
    if int(train_cfg["epochs"]) < 1:
        raise ValueError("train.epochs must be at least 1")
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    with ExpertStore(store_path) as store:
        specs = expert_specs(store, config)
        text_dim = store.text_dims.get(data_cfg["text_encoder"])
        if text_dim is None:
            raise ValueError(f"{store.path}: no text encoder {data_cfg['text_encoder']!r}")
        train = load_split(store, data_cfg["train_split"], specs, encoder=data_cfg["text_encoder"])
        selection = load_split(
            store,
            data_cfg["selection_split"],
            specs,
            encoder=data_cfg["text_encoder"],
            max_captions=data_cfg.get("selection_max_captions"),
        )
    model = build_model(config["arch"], specs, text_dim).to(device)
    optimizer, scheduler = build_optimizer(training_optim(config), model.parameters())
    margin = float(train_cfg["margin"])
    batch_size = int(train_cfg["batch_size"])
    max_tokens = int(data_cfg["max_tokens"]["text"])
    distil_weight = float((config.get("distil") or {}).get("weight", 1.0))
    distil_target = str((config.get("distil") or {}).get("target", DEFAULT_DISTIL_TARGET))
    caption_distil = config.get("caption_distil") or None
    caption_weight = float(caption_distil["weight"]) if caption_distil else 0.0
    caption_temperature = float(caption_distil["temperature"]) if caption_distil else 1.0
    if config.get("distil") and not teachers:
        raise ValueError(
            f"{config['model']} distils from teachers: pass them (baselines.train.train_teachers)"
        )
    if teachers:
        for t in teachers:
            if len(t.video.available) != len(train.videos) or len(t.text.weights) != len(train.captions):
                raise ValueError(f"teacher {t.name!r} was computed on another training split")
    best_state: dict[str, torch.Tensor] | None = None
    best_score, best_epoch = -1.0, -1
    history: list[dict[str, Any]] = []
    samples = 0
    started = time.perf_counter()
    for epoch in range(int(train_cfg["epochs"])):
        model.train()
        losses = []
        for batch in _epoch_batches(len(train.videos), batch_size, rng):
            captions = sample_captions(train, batch, rng)
            losses.append(
                training_step(
                    model,
                    optimizer,
                    train,
                    batch,
                    captions,
                    margin=margin,
                    max_tokens=max_tokens,
                    device=device,
                    teachers=teachers,
                    distil_weight=distil_weight,
                    distil_target=distil_target,
                    caption_weight=caption_weight,
                    caption_temperature=caption_temperature,
                )
            )
            samples += len(batch)
        scheduler.step()
        metrics = evaluate_loaded(model, selection, config, device, directions=("t2v",))["t2v"]
        score = float(metrics[SELECTION_METRIC])
        history.append(
            {"epoch": epoch, "loss": float(np.mean(losses)), **{f"val_{k}": v for k, v in metrics.items()}}
        )
        if score >= best_score:  # ties: the later epoch wins, as in the reference
            best_score, best_epoch = score, epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        log.info(
            "%s %s seed %d epoch %d: loss %.4f, %s geom %.2f (best %.2f @ %d)",
            config["dataset"],
            config["model"],
            seed,
            epoch,
            history[-1]["loss"],
            data_cfg["selection_split"],
            score,
            best_score,
            best_epoch,
        )
    seconds = time.perf_counter() - started
    if best_state is None:  # set at epoch 0 (scores are >= 0) unless no epoch ran
        raise ValueError("no epoch was trained; expected at least one")
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, config, specs, text_dim, best_epoch, best_score, history, seconds, samples)


def _epoch_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    return [b for b in batches if len(b) > 1]  # a batch of one breaks BatchNorm (section 6.9)


def sample_captions(data: SplitData, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One caption per video, uniformly at random among the video's captions (rows of `data.text`)."""
    rows: np.ndarray = data.caption_start[batch] + rng.integers(0, data.caption_count[batch])
    return rows


def training_step(
    model: RetrievalModel,
    optimizer: torch.optim.Optimizer | Lookahead,
    data: SplitData,
    batch: np.ndarray,
    captions: np.ndarray,
    *,
    margin: float,
    max_tokens: int,
    device: torch.device,
    teachers: list[TeacherTargets] | None = None,
    distil_weight: float = 1.0,
    distil_target: str = DEFAULT_DISTIL_TARGET,
    caption_weight: float = 0.0,
    caption_temperature: float = 1.0,
) -> float:
    """One optimisation step on videos `batch` (rows of `data`) paired with caption rows `captions`.

    Returns:
        The step's loss: the ranking loss, plus `distil_weight` times the SmoothL1 distance between the
        student's own similarity matrix (mixture-weighted, as ranked: the reference's
        `cross_view_conf_matrix`, `trainer/trainer.py` line 144) and `teachtext_target` when teachers
        are given, plus `caption_weight` times `caption_distillation_loss` between that matrix and the
        student's own caption-caption similarities (`caption_similarity`) when `caption_weight` > 0.
    """
    assert data.text is not None
    tokens = data.text.batch(captions, max_tokens, device)
    experts, available = data.features.batch(batch, device)
    text = model.encode_text(tokens)
    video = model.encode_video(experts, available)
    sims = sharded_similarity(text, video)
    loss = max_margin_ranking_loss(sims, margin)
    if caption_weight > 0:
        caption_sims = caption_similarity(text, video.available)
        loss = loss + caption_weight * caption_distillation_loss(sims, caption_sims, caption_temperature)
    if teachers:
        caption_rows, video_rows = torch.from_numpy(captions), torch.from_numpy(batch)
        target = teachtext_target(teachers, caption_rows, video_rows, device, target=distil_target)
        loss = loss + distil_weight * distillation_loss(sims, target)
    optimizer.zero_grad()
    loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward has no annotations
    optimizer.step()
    return loss.item()


def train_teachers(
    *,
    store_path: str | os.PathLike[str],
    config: dict[str, Any],
    seed: int = 0,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | os.PathLike[str] | None = None,
    reuse: bool = True,
    keep: bool = True,
) -> list[TeacherTargets]:
    """Train (or, with `checkpoint_dir`, reuse: see `train_or_reuse`) one CE teacher per text encoder
    listed in `distil.teachers` and precompute their targets. `keep=False` reuses a teacher found in
    `checkpoint_dir` but does not write one it trains there."""
    targets = []
    for encoder in config["distil"]["teachers"]:
        result = train_or_reuse(
            store_path=store_path,
            config=teacher_config(config, encoder),
            seed=seed,
            device=device,
            checkpoint_dir=checkpoint_dir,
            reuse=reuse,
            keep=keep,
        )
        with ExpertStore(store_path) as store:
            targets.append(teacher_targets(result, store, device=device))
    return targets


def checkpoint_path(
    checkpoint_dir: str | os.PathLike[str],
    *,
    config: dict[str, Any],
    seed: int,
    store_path: str | os.PathLike[str],
) -> Path:
    """Where the run (config, seed, store) keeps its checkpoint.

    The name ends with a fingerprint of the resolved config, the seed and the store file (path, size,
    modification time), so a checkpoint is only ever found again by the very same run: another profile,
    override or seed, or a regenerated store, trains anew.
    """
    store = Path(store_path).resolve()
    stat = store.stat()
    identity = json.dumps(
        {"config": config, "seed": seed, "store": [str(store), stat.st_size, stat.st_mtime_ns]},
        sort_keys=True,
    )
    fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:16]
    name = (
        f"{config['dataset']}-{config['model']}-{config['data']['text_encoder']}-seed{seed}-{fingerprint}.pt"
    )
    return Path(checkpoint_dir) / name


def train_or_reuse(
    *,
    store_path: str | os.PathLike[str],
    config: dict[str, Any],
    seed: int = 0,
    device: str | torch.device = "cpu",
    teachers: list[TeacherTargets] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    reuse: bool = True,
    keep: bool = True,
) -> TrainResult:
    """`train_model`, keeping the result in `checkpoint_dir` (when given and `keep` is True) and loading
    it from there the next time the same run is asked for (unless `reuse` is False). TeachText's openai teacher is then the
    CE baseline already trained, and one trained baseline can be submitted to several phases.

    A checkpoint that cannot be read, or whose config differs, is ignored and the model is trained again.
    """
    path = None
    if checkpoint_dir is not None:
        path = checkpoint_path(checkpoint_dir, config=config, seed=seed, store_path=store_path)
        if reuse:
            kept = reusable_result(path, config=config, seed=seed, device=device)
            if kept is not None:
                return kept
    result = train_model(store_path=store_path, config=config, seed=seed, device=device, teachers=teachers)
    if path is not None and keep:
        save_checkpoint(path, result)
    return result


def reusable_result(
    path: str | os.PathLike[str], *, config: dict[str, Any], seed: int, device: str | torch.device = "cpu"
) -> TrainResult | None:
    """The kept run at `path` when it exists, loads and has exactly `config`; else None (a damaged or
    foreign file is ignored with a warning)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        result = load_result(path, device=device)
    except Exception as exc:  # a damaged cache entry must not stop training
        log.warning("ignoring checkpoint %s: %s", path, exc)
        return None
    if result.config != config:
        log.warning("ignoring checkpoint %s: it was trained with another config", path)
        return None
    log.info(
        "%s %s seed %d: reusing %s (epoch %d, selection geom %.2f)",
        config["dataset"],
        config["model"],
        seed,
        path.name,
        result.best_epoch,
        result.best_score,
    )
    return result


def save_checkpoint(path: str | os.PathLike[str], result: TrainResult) -> Path:
    """Write the selected weights with everything needed to rebuild the model (no pickled objects).

    The file appears complete or not at all (written beside it, then renamed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(
        {
            "state_dict": result.model.state_dict(),
            "config": json.dumps(result.config),
            "experts": json.dumps([e.__dict__ for e in result.experts]),
            "text_dim": result.text_dim,
            "best_epoch": result.best_epoch,
            "best_score": result.best_score,
        },
        partial,
    )
    os.replace(partial, path)
    return path


def load_result(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> TrainResult:
    """Rebuild a trained model from `save_checkpoint` output (`weights_only=True`: tensors and plain
    values only), in eval mode, with its config and selection record."""
    payload = torch.load(path, map_location=device, weights_only=True)
    config = json.loads(payload["config"])
    experts = [ExpertSpec(**e) for e in json.loads(payload["experts"])]
    text_dim = int(payload["text_dim"])
    model = build_model(config["arch"], experts, text_dim)
    model.load_state_dict(payload["state_dict"])
    return TrainResult(
        model.to(device).eval(),
        config,
        experts,
        text_dim,
        int(payload["best_epoch"]),
        float(payload["best_score"]),
    )


def load_checkpoint(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[RetrievalModel, dict[str, Any]]:
    """The model and config of a `save_checkpoint` file (see `load_result`)."""
    result = load_result(path, device=device)
    return result.model, result.config
