"""In-memory split data: expert features and word-level text, batched into model inputs.

Features stay float16 in memory (the store's precision) and become float32 one batch at a time.
Nothing here writes into cached tensors, so evaluation data can be reused across epochs safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .models import ExpertSpec
from .store import ExpertStore, StoreFormatError


def expert_specs(store: ExpertStore, config: dict[str, Any]) -> list[ExpertSpec]:
    """The model's experts, from the config's `data.experts` and the store's dimensions, sorted by key."""
    data = config["data"]
    if not data["experts"]:
        raise ValueError("the config lists no experts (data.experts)")
    specs = []
    for key in data["experts"]:
        if key not in store.experts:
            raise StoreFormatError(
                f"{store.path}: the config asks for expert {key!r}, which the store lacks "
                f"(it has {', '.join(sorted(store.experts))})"
            )
        info = store.experts[key]
        if info.variable:
            if key not in data["vlad_clusters"] or key not in data["max_tokens"]:
                raise ValueError(
                    f"variable-length expert {key!r} needs data.vlad_clusters and data.max_tokens entries"
                )
            specs.append(
                ExpertSpec(key, info.dim, int(data["vlad_clusters"][key]), int(data["max_tokens"][key]))
            )
        else:
            specs.append(ExpertSpec(key, info.dim))
    return sorted(specs, key=lambda s: s.key)


@dataclass
class VideoFeatures:
    """Experts of a set of videos, in model order.

    Attributes:
        experts: float16 tensors (n, D) or (n, max_tokens, D), zero where missing.
        available: (n, M) float32 0/1 availability.
    """

    experts: list[torch.Tensor]
    available: torch.Tensor

    def __len__(self) -> int:
        return int(self.available.shape[0])

    def batch(
        self, rows: np.ndarray | torch.Tensor | slice, device: torch.device
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Float32 expert tensors and availability of the given rows, on `device`."""
        if not isinstance(rows, slice):
            rows = torch.as_tensor(rows, dtype=torch.long)
        return (
            [x[rows].to(device=device, dtype=torch.float32) for x in self.experts],
            self.available[rows].to(device),
        )


def load_video_features(store: ExpertStore, videos: np.ndarray, specs: list[ExpertSpec]) -> VideoFeatures:
    """Read the experts of store videos `videos`, truncating or zero-padding sequences to `max_tokens`."""
    experts, available = [], []
    for spec in specs:
        feats, avail = store.read_expert(spec.key, videos)
        if not np.isfinite(feats).all():
            raise StoreFormatError(f"{store.path}: expert {spec.key!r} holds non-finite values")
        if spec.vlad_clusters:
            length = feats.shape[1]
            if length >= spec.max_tokens:
                feats = feats[:, : spec.max_tokens]
            else:
                feats = np.pad(feats, ((0, 0), (0, spec.max_tokens - length), (0, 0)))
        experts.append(torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float16)))
        available.append(avail)
    return VideoFeatures(experts, torch.from_numpy(np.stack(available, axis=1).astype(np.float32)))


@dataclass
class CaptionText:
    """Word features of a list of captions, concatenated (CSR): caption i owns tokens[offsets[i]:offsets[i+1]]."""

    tokens: torch.Tensor  # (total, D) float16
    offsets: np.ndarray  # (n + 1,) int64

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def batch(self, rows: np.ndarray, max_tokens: int, device: torch.device) -> torch.Tensor:
        """(len(rows), max_tokens, D) float32 zero-padded (or truncated) word features on `device`.

        Always padded to `max_tokens`, never to the batch's longest caption: the text NetVLAD does not
        mask padding, so the padded length must not depend on the batch.
        """
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.offsets[rows]
        lengths = np.minimum(self.offsets[rows + 1] - starts, max_tokens)
        owner = np.repeat(np.arange(len(rows)), lengths)
        slot = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        source = np.repeat(starts, lengths) + slot
        out = torch.zeros(len(rows), max_tokens, self.tokens.shape[1])
        out[torch.from_numpy(owner), torch.from_numpy(slot)] = self.tokens[torch.from_numpy(source)].float()
        return out.to(device)


def load_text(store: ExpertStore, encoder: str, captions: np.ndarray) -> CaptionText:
    """Word features of store captions `captions` from one text encoder."""
    tokens, offsets = store.read_text(encoder, captions)
    if not np.isfinite(tokens).all():
        raise StoreFormatError(f"{store.path}: text encoder {encoder!r} holds non-finite values")
    return CaptionText(torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.float16)), offsets)


@dataclass
class SplitData:
    """A split ready for training or evaluation.

    Attributes:
        videos: store indices of the split's videos, in split order.
        features: their experts.
        captions: store indices of the split's captions, canonical order (video-major).
        caption_video: (C,) index within the split of each caption's video.
        caption_start, caption_count: (V,) each video's first row and number of rows in `captions`.
        text: word features of `captions`, or None when loaded lazily (large evaluation splits).
    """

    videos: np.ndarray
    features: VideoFeatures
    captions: np.ndarray
    caption_video: np.ndarray
    caption_start: np.ndarray
    caption_count: np.ndarray
    text: CaptionText | None


def load_split(
    store: ExpertStore,
    split: str,
    specs: list[ExpertSpec],
    *,
    encoder: str | None,
    max_captions: int | None = None,
) -> SplitData:
    """Load a split's video features and (when `encoder` is given) its captions' word features."""
    videos = store.split_videos(split)
    captions, owner = store.split_captions(split, max_per_video=max_captions)
    counts = np.bincount(owner, minlength=len(videos))
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    text = load_text(store, encoder, captions) if encoder is not None else None
    return SplitData(videos, load_video_features(store, videos, specs), captions, owner, starts, counts, text)
