"""Embedding, similarity matrices and offline scoring with the server's own metric code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from evaluation.metrics import compact_metrics

from .data import CaptionText, SplitData, VideoFeatures, expert_specs, load_text, load_video_features
from .models import RetrievalModel, TextEmbedding, VideoEmbedding, sharded_similarity
from .store import ExpertStore, StoreFormatError


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Run in eval mode (BatchNorm running statistics), then restore the previous mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def encode_videos(
    model: RetrievalModel, features: VideoFeatures, device: torch.device, chunk: int = 1024
) -> VideoEmbedding:
    """Embed every video of `features` in eval mode (chunking cannot change results in eval mode)."""
    parts: list[VideoEmbedding] = []
    with eval_mode(model):
        for lo in range(0, len(features), chunk):
            experts, available = features.batch(slice(lo, lo + chunk), device)
            parts.append(model.encode_video(experts, available))
    return VideoEmbedding(
        [torch.cat([p.experts[m] for p in parts]) for m in range(len(parts[0].experts))],
        torch.cat([p.available for p in parts]),
    )


def encode_captions(
    model: RetrievalModel,
    text: CaptionText,
    rows: np.ndarray,
    max_tokens: int,
    device: torch.device,
    chunk: int = 512,
) -> TextEmbedding:
    """Embed captions `rows` of `text` in eval mode. Uses the text alone."""
    parts: list[TextEmbedding] = []
    with eval_mode(model):
        for lo in range(0, len(rows), chunk):
            parts.append(model.encode_text(text.batch(rows[lo : lo + chunk], max_tokens, device)))
    return TextEmbedding(
        [torch.cat([p.experts[m] for p in parts]) for m in range(len(parts[0].experts))],
        torch.cat([p.weights for p in parts]),
    )


def metrics_from_similarities(
    sims: np.ndarray, query_video: np.ndarray, directions: tuple[str, ...] = ("t2v", "v2t")
) -> dict[str, dict[str, float]]:
    """Score a compact Q x V matrix with `evaluation.metrics` (the server's code, so numbers cannot drift).

    The evaluation core's compiled kernel runs on numba's OpenMP layer, whose launch sets the process's
    OpenMP thread count to every core; torch shares that count, so a `--threads 1` training run would
    silently go on with all cores after its first evaluation (and, beside another run, spin-wait for
    them). The caller's torch thread count is restored.
    """
    threads = torch.get_num_threads()
    try:
        return compact_metrics(sims, np.asarray(query_video), directions=directions)
    finally:
        torch.set_num_threads(threads)


def evaluate_loaded(
    model: RetrievalModel,
    data: SplitData,
    config: dict[str, Any],
    device: torch.device,
    directions: tuple[str, ...] = ("t2v", "v2t"),
) -> dict[str, dict[str, float]]:
    """Metrics of a split whose text is in memory (the checkpoint-selection split during training)."""
    if data.text is None:
        raise ValueError("the split was loaded without text")
    video = encode_videos(model, data.features, device)
    rows = np.arange(len(data.captions))
    text = encode_captions(
        model,
        data.text,
        rows,
        int(config["data"]["max_tokens"]["text"]),
        device,
        int(config["train"]["eval_chunk"]),
    )
    with torch.no_grad():
        sims = sharded_similarity(text, video).float().cpu().numpy()
    return metrics_from_similarities(sims, data.caption_video, directions)


def split_similarities(
    model: RetrievalModel,
    store: ExpertStore,
    config: dict[str, Any],
    split: str,
    *,
    device: torch.device | str = "cpu",
    query_captions: np.ndarray | None = None,
    chunk: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The Q x V similarity matrix of a split, reading the text from the store chunk by chunk.

    Args:
        model: a trained model.
        store: the store it was trained on.
        config: its config.
        split: the split to predict.
        device: where to compute.
        query_captions: store caption indices in the wanted row order (all of them captions of the split's
            videos); the canonical order (video-major, then caption) when None.
        chunk: captions embedded at a time.
    Returns:
        (sims, query_video): (Q, V) float32 with columns in the split's video order, and the index of
        each row's ground-truth video.
    """
    device = torch.device(device)
    chunk = chunk or int(config["train"]["eval_chunk"])
    videos = store.split_videos(split)
    canonical, owner = store.split_captions(split)
    if query_captions is None:
        query_captions, query_video = canonical, owner
    else:
        query_captions = np.asarray(query_captions, dtype=np.int64)
        position = {int(c): i for i, c in enumerate(canonical)}
        try:
            query_video = owner[[position[int(c)] for c in query_captions]]
        except KeyError as exc:
            raise StoreFormatError(
                f"caption {store.caption_ids[exc.args[0]]!r} is not a caption of split {split!r}"
            ) from None
    specs = expert_specs(store, config)
    video = encode_videos(model, load_video_features(store, videos, specs), device)
    encoder = config["data"]["text_encoder"]
    max_tokens = int(config["data"]["max_tokens"]["text"])
    sims = np.empty((len(query_captions), len(videos)), dtype=np.float32)
    # Rows are embedded in the order asked for, `chunk` at a time: a row's last bits depend on its place
    # in the batch, and a code phase's program (baselines.code_program) embeds the published order so.
    for lo in range(0, len(query_captions), chunk):
        rows = np.arange(lo, min(lo + chunk, len(query_captions)))
        text = load_text(store, encoder, query_captions[rows])
        embedded = encode_captions(model, text, np.arange(len(rows)), max_tokens, device, chunk)
        with torch.no_grad():
            sims[rows] = sharded_similarity(embedded, video).float().cpu().numpy()
    return sims, query_video


def evaluate_split(
    model: RetrievalModel,
    store: ExpertStore,
    config: dict[str, Any],
    split: str,
    *,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, float]]:
    """t2v and v2t metrics of a split, every caption an independent query."""
    sims, query_video = split_similarities(model, store, config, split, device=device)
    return metrics_from_similarities(sims, query_video)
