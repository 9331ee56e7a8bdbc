"""Synthetic expert stores for the five Pentathlon datasets (demo, tests, benchmarks, experiments).

Each video has a hidden semantic vector made of aspects (objects, actions, scene, people, sound,
speech, on-screen text). The generator writes the same HDF5 layout as a real store
(`baselines.store`), with the real expert dimensions, text encoders and split sizes, and with data
whose structure is that of the real problem, so that the models' relative strengths are earned:

* **Complementary, noisy experts.** Every expert is a random non-linear embedding (ReLU of a random
  projection, at the real dimension) of a *subset* of the aspects plus its own noise. Appearance experts
  see objects and scene, motion experts see actions, face sees people, audio sees sound, speech sees
  speech and ocr sees on-screen text. No single expert sees everything, so combining experts helps.
* **Missing experts.** Face, speech and ocr exist only for videos whose content has people, speech or
  on-screen text (and audio only when there is a sound track); the expert is then marked unavailable
  at realistic rates, and captions mention such content only when it is there.
* **Context-dependent reliability.** A third of the videos are dark and a third fast-moving. In a
  dark video the appearance experts misread objects and people systematically (their evidence is
  inverted: it points away from the true content, like a detector firing for the wrong classes),
  while their scene evidence stays right; in a fast video the motion experts misread the action. The
  inverted evidence has the same marginal distribution as the right one, so an expert can tell only
  weakly from its own features (through the inverted aspects' mismatch with the category's typical
  scene), but the scene expert shows the recording condition clearly. Using other experts to decide
  which of an expert's dimensions to trust is what CE's collaborative gating can do and MoEE cannot.
  Measured (docs/baselines.md): with the real MSRVTT training set (``full`` scale) CE beats MoEE and
  CE - CG, but by about as much on clean videos as on misled ones, and with the reduced ``demo``
  train split CE and MoEE tie.
* **Text as a noisy function of the semantics.** A caption mentions a random subset of the aspects that
  are present; its content words are noisy copies of those aspects plus function words that carry
  nothing. Two text encoders (``openai``, 768-d and ``w2v``, 300-d) map the same words through different
  random non-linear maps with their own, aspect-dependent noise (``w2v`` reads objects and scenes well,
  actions badly), which is what makes several text encoders informative teachers (TeachText).
* **Categories.** Videos come from topic categories (MSRVTT has 20), so near-duplicates exist and the
  ranking is not trivial.

Scales: ``tiny`` (a few dozen videos per split, few tokens; unit tests), ``demo`` (the real val/test sizes
of docs/design.md section 7, a reduced train split) and ``full`` (the real sizes). Every store also has a
``dev`` split, a held-out part of the training distribution used for checkpoint selection, so that the
phase's val and test splits are never used to pick a model.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.datasets import PENTATHLON_DATASETS, canonical_dataset_name

from .store import StoreWriter, store_path

SCALES = ("tiny", "demo", "full")

#: Real input dimensions of the experts (docs/baselines-reference.md section 1.3).
EXPERT_DIMS: dict[str, int] = {
    "imagenet.resnext101_32x48d.0": 2048,
    "imagenet.senet154.0": 2048,
    "scene.densenet161.0": 2208,
    "i3d.i3d.0": 1024,
    "r2p1d.r2p1d-ig65m.0": 512,
    "r2p1d.r2p1d-ig65m-kinetics.0": 512,
    "face": 512,
    "ocr": 300,
    "audio": 128,
    "speech": 300,
}
VARIABLE_EXPERTS = ("ocr", "audio", "speech")
FLAKY_EXPERTS = ("face", "ocr", "audio", "speech")
TEXT_DIMS: dict[str, int] = {"openai": 768, "w2v": 300}

# Hidden semantic space: aspect name -> number of dimensions.
ASPECTS: dict[str, int] = {
    "object": 16,
    "action": 16,
    "scene": 8,
    "people": 8,
    "sound": 8,
    "speech": 8,
    "ocr": 8,
}
_ASPECT_NAMES = tuple(ASPECTS)
_BLOCKS = {
    a: slice(s - n, s)
    for a, n, s in zip(ASPECTS, ASPECTS.values(), np.cumsum(list(ASPECTS.values())), strict=True)
}
LATENT_DIM = sum(ASPECTS.values())
#: Recording conditions, in the order of the codes stored under /hidden/condition.
CONDITIONS = ("clean", "dark", "fast")
_CONDITION_PROBS = (0.34, 0.33, 0.33)


@dataclass(frozen=True)
class _ExpertView:
    aspects: dict[str, float]  # aspect -> weight of its evidence in the expert
    noise: float  # std of the expert's own latent noise
    misled_by: str | None = None  # condition under which the listed aspects' evidence is inverted
    misled_aspects: tuple[str, ...] = ()
    reveals_condition: bool = False  # carries a code of the recording condition


_VIEWS: dict[str, _ExpertView] = {
    "imagenet.resnext101_32x48d.0": _ExpertView(
        {"object": 1.0, "scene": 0.7, "people": 0.5}, 0.9, "dark", ("object", "people")
    ),
    "imagenet.senet154.0": _ExpertView(
        {"object": 1.0, "scene": 0.7, "people": 0.5}, 0.8, "dark", ("object", "people")
    ),
    "scene.densenet161.0": _ExpertView({"scene": 1.0, "object": 0.4}, 0.7, reveals_condition=True),
    "i3d.i3d.0": _ExpertView({"action": 1.0, "object": 0.5}, 0.8, "fast", ("action",)),
    "r2p1d.r2p1d-ig65m.0": _ExpertView({"action": 1.0, "scene": 0.5}, 0.9, "fast", ("action",)),
    "r2p1d.r2p1d-ig65m-kinetics.0": _ExpertView({"action": 1.0, "object": 0.4}, 0.85, "fast", ("action",)),
    "face": _ExpertView({"people": 1.0}, 0.6),
    "ocr": _ExpertView({"ocr": 1.0}, 0.0),
    "audio": _ExpertView({"sound": 1.0, "speech": 0.3}, 0.0),
    "speech": _ExpertView({"speech": 1.0}, 0.0),
}
# Which aspect's presence decides whether a flaky expert exists for a video.
_PRESENCE_OF = {"face": "people", "ocr": "ocr", "audio": "sound", "speech": "speech"}
# Per-token noise and share of content tokens of the variable-length experts; stored length caps.
_TOKEN_NOISE = {"ocr": 0.8, "audio": 1.0, "speech": 0.9}
_TOKEN_RATE = {"ocr": 4.0, "audio": 12.0, "speech": 14.0}
_CONTENT_SHARE = {"ocr": 0.6, "audio": 0.8, "speech": 0.5}
# How often a caption mentions an aspect that is present.
_MENTION = {
    "object": 0.9,
    "action": 0.8,
    "scene": 0.45,
    "people": 0.5,
    "sound": 0.25,
    "speech": 0.3,
    "ocr": 0.3,
}
# Encoder-specific reading noise per aspect: the two encoders err on different words.
_ENCODER_NOISE = {
    "openai": {
        "object": 0.55,
        "action": 0.45,
        "scene": 0.6,
        "people": 0.5,
        "sound": 0.6,
        "speech": 0.55,
        "ocr": 0.6,
    },
    "w2v": {
        "object": 0.4,
        "action": 1.1,
        "scene": 0.45,
        "people": 0.6,
        "sound": 0.8,
        "speech": 0.8,
        "ocr": 0.5,
    },
}
_CAPTION_NOISE = 0.5  # paraphrase: a caption's view of an aspect
_WORD_NOISE = 0.5  # a word's view of its caption's aspect
_FUNCTION_WORDS = 48


@dataclass(frozen=True)
class DatasetSpec:
    """Shape of one synthetic dataset.

    Attributes:
        name: canonical dataset name.
        experts: experts the store holds.
        captions: "fixed" (K per video), "variable" (MSVD), "single" (one) or "paragraph" (fused sentences).
        max_captions: K, the largest number of captions of a video.
        words: mean words per sentence.
        categories: number of topic categories.
        presence: probability that each optional aspect (people, sound, speech, ocr) is present.
        sizes: scale -> split -> (videos, queries); queries None means "videos x typical captions".
    """

    name: str
    experts: tuple[str, ...]
    captions: str
    max_captions: int
    words: float
    categories: int
    presence: dict[str, float]
    sizes: dict[str, dict[str, tuple[int, int | None]]]


_RICH = (
    "imagenet.resnext101_32x48d.0",
    "imagenet.senet154.0",
    "scene.densenet161.0",
    "i3d.i3d.0",
    "r2p1d.r2p1d-ig65m.0",
    "r2p1d.r2p1d-ig65m-kinetics.0",
)

SPECS: dict[str, DatasetSpec] = {
    "MSRVTT": DatasetSpec(
        "MSRVTT",
        _RICH + ("face", "ocr", "audio", "speech"),
        "fixed",
        20,
        9.3,
        20,
        {"people": 0.6, "sound": 0.92, "speech": 0.5, "ocr": 0.35},
        {
            "tiny": {"train": (64, None), "dev": (12, None), "val": (16, 64), "test": (20, 79)},
            "demo": {"train": (2000, None), "dev": (200, None), "val": (497, 9940), "test": (2990, 59794)},
            "full": {"train": (6513, None), "dev": (650, None), "val": (497, 9940), "test": (2990, 59794)},
        },
    ),
    "MSVD": DatasetSpec(
        "MSVD",
        _RICH + ("face", "ocr"),
        "variable",
        81,
        7.0,
        12,
        {"people": 0.55, "sound": 0.0, "speech": 0.0, "ocr": 0.2},
        {
            "tiny": {"train": (64, None), "dev": (12, None), "val": (16, 60), "test": (20, 81)},
            "demo": {"train": (600, None), "dev": (100, None), "val": (100, 4290), "test": (670, 27763)},
            "full": {"train": (1200, None), "dev": (120, None), "val": (100, 4290), "test": (670, 27763)},
        },
    ),
    "DiDeMo": DatasetSpec(
        "DiDeMo",
        _RICH + ("face", "ocr", "audio", "speech"),
        "paragraph",
        1,
        7.5,
        16,
        {"people": 0.6, "sound": 0.9, "speech": 0.4, "ocr": 0.2},
        {
            "tiny": {"train": (64, None), "dev": (12, None), "val": (16, 16), "test": (20, 20)},
            "demo": {"train": (1500, None), "dev": (200, None), "val": (1065, 1065), "test": (1004, 1004)},
            "full": {"train": (8392, None), "dev": (839, None), "val": (1065, 1065), "test": (1004, 1004)},
        },
    ),
    "YouCook2": DatasetSpec(
        "YouCook2",
        _RICH + ("ocr", "audio"),
        "single",
        1,
        9.0,
        24,
        {"people": 0.3, "sound": 0.95, "speech": 0.7, "ocr": 0.25},
        {
            "tiny": {"train": (64, None), "dev": (12, None), "val": (16, 16), "test": (20, 20)},
            "demo": {"train": (1500, None), "dev": (200, None), "val": (969, 969), "test": (3310, 3310)},
            "full": {"train": (10337, None), "dev": (1000, None), "val": (969, 969), "test": (3310, 3310)},
        },
    ),
    "ActivityNet": DatasetSpec(
        "ActivityNet",
        _RICH + ("face", "ocr", "audio", "speech"),
        "paragraph",
        1,
        13.5,
        20,
        {"people": 0.7, "sound": 0.9, "speech": 0.45, "ocr": 0.2},
        {
            "tiny": {"train": (64, None), "dev": (12, None), "val": (16, 16), "test": (20, 20)},
            "demo": {"train": (1500, None), "dev": (200, None), "val": (1001, 1001), "test": (4917, 4917)},
            "full": {"train": (10009, None), "dev": (1000, None), "val": (1001, 1001), "test": (4917, 4917)},
        },
    ),
}
SPLIT_ORDER = ("train", "dev", "val", "test")


@dataclass
class _World:
    """Fixed random parameters of one dataset's generative process (independent of scale)."""

    centres: np.ndarray  # (categories, LATENT_DIM)
    expert_maps: dict[str, tuple[np.ndarray, np.ndarray]]  # key -> (W (L, D), b (D,))
    text_maps: dict[str, tuple[np.ndarray, np.ndarray]]  # encoder -> (G (L_word, D), h (D,))
    function_words: np.ndarray  # (F, L_word)
    distractors: dict[str, np.ndarray]  # variable expert -> (48, D) background tokens


_WORD_DIM = LATENT_DIM + len(ASPECTS)  # a word: its aspect's values plus a code of which aspect it is


def _make_world(spec: DatasetSpec, rng: np.random.Generator) -> _World:
    centres = rng.standard_normal((spec.categories, LATENT_DIM))
    expert_maps = {}
    for key in spec.experts:
        view = _VIEWS[key]
        in_dim = LATENT_DIM + len(CONDITIONS)
        dim = EXPERT_DIMS[key]
        if key in VARIABLE_EXPERTS:  # token embeddings (word2vec / VGGish-like): linear in the content
            w = rng.standard_normal((in_dim, dim)) / np.sqrt(sum(ASPECTS[a] for a in view.aspects))
            b = np.zeros(dim)
        else:  # pooled CNN activations: non-negative, ReLU of a random projection
            w = rng.standard_normal((in_dim, dim)) / np.sqrt(sum(ASPECTS[a] for a in view.aspects))
            b = rng.normal(-0.2, 0.2, dim)
        expert_maps[key] = (w.astype(np.float32), b.astype(np.float32))
    text_maps = {}
    for encoder, dim in TEXT_DIMS.items():
        g = rng.standard_normal((_WORD_DIM, dim)) / np.sqrt(12.0)
        text_maps[encoder] = (g.astype(np.float32), rng.normal(0.0, 0.1, dim).astype(np.float32))
    function_words = rng.standard_normal((_FUNCTION_WORDS, _WORD_DIM)) * 0.8
    distractors = {
        key: rng.standard_normal((48, EXPERT_DIMS[key])).astype(np.float32)
        for key in spec.experts
        if key in VARIABLE_EXPERTS
    }
    return _World(centres, expert_maps, text_maps, function_words.astype(np.float32), distractors)


def caption_counts(
    spec: DatasetSpec, scale: str, videos: int, queries: int | None, rng: np.random.Generator
) -> np.ndarray:
    """Captions per video, matching the real query totals exactly where they are known."""
    if spec.captions in ("single", "paragraph"):
        return np.ones(videos, dtype=np.int64)
    k = spec.max_captions if scale != "tiny" else (4 if spec.captions == "fixed" else 6)
    if spec.captions == "fixed":
        counts = np.full(videos, k, dtype=np.int64)
        short = k * videos - (queries if queries is not None else k * videos)
        counts[rng.choice(videos, size=short, replace=False)] -= 1  # MSRVTT test: 6 videos with 19
        return counts
    # MSVD: broad spread of caption counts, at least one video with the maximum.
    target = queries if queries is not None else int(round(videos * (0.5 * k)))
    counts = np.clip(np.round(rng.gamma(4.0, target / videos / 4.0, size=videos)), 1, k).astype(np.int64)
    counts[0] = k
    while counts.sum() != target:
        diff = target - counts.sum()
        room = np.flatnonzero(counts < k) if diff > 0 else np.flatnonzero(counts > 1)
        room = room[room != 0]
        pick = rng.choice(room, size=min(abs(diff), len(room)), replace=False)
        counts[pick] += np.sign(diff)
    return counts


def _expert_features(
    key: str,
    spec: DatasetSpec,
    world: _World,
    z: np.ndarray,
    condition: np.ndarray,
    present: dict[str, np.ndarray],
    token_cap: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    view = _VIEWS[key]
    n = len(z)
    w, b = world.expert_maps[key]
    available = np.ones(n, dtype=bool)
    if key in _PRESENCE_OF:
        available = present[_PRESENCE_OF[key]].copy()
        if key == "face":  # a face detector misses some people
            available &= rng.random(n) < 0.9
    signal = np.zeros((n, LATENT_DIM), dtype=np.float32)
    for aspect, weight in view.aspects.items():
        signal[:, _BLOCKS[aspect]] = weight * z[:, _BLOCKS[aspect]]
    if key not in VARIABLE_EXPERTS:
        signal += view.noise * rng.standard_normal(signal.shape) * (signal != 0)
        # Under the misleading condition the listed aspects' evidence is inverted: it points away from the
        # video's true content. Its distribution is unchanged, so the expert cannot tell on its own.
        if view.misled_by is not None:
            misled = condition == CONDITIONS.index(view.misled_by)
            for aspect in view.misled_aspects:
                signal[misled, _BLOCKS[aspect]] *= -1.0
        reveal = np.eye(len(CONDITIONS))[condition] * (4.0 if view.reveals_condition else 0.0)
        signal = np.concatenate([signal, reveal], axis=1)
        feats = np.maximum(signal @ w + b, 0.0) + 0.05 * rng.standard_normal((n, w.shape[1]))
        feats = np.where(available[:, None], feats, 0.0)
        return feats.astype(np.float32), available, None
    # Variable length: a few tokens per video, content tokens are noisy views of the aspects.
    lengths = np.minimum(1 + rng.poisson(_TOKEN_RATE[key] if token_cap > 8 else 2.0, n), token_cap)
    lengths = np.where(available, lengths, 0)
    dim = w.shape[1]
    feats = np.zeros((n, token_cap, dim), dtype=np.float32)
    tokens = int(lengths.sum())
    owner = np.repeat(np.arange(n), lengths)
    content = rng.random(tokens) < _CONTENT_SHARE[key]
    latent = signal[owner] + _TOKEN_NOISE[key] * rng.standard_normal((tokens, LATENT_DIM)) * (
        signal[owner] != 0
    )
    values = latent @ w[:LATENT_DIM]  # token content carries no condition code
    distract = world.distractors[key][rng.integers(0, len(world.distractors[key]), tokens)]
    values = np.where(content[:, None], values, distract) + 0.05 * rng.standard_normal((tokens, dim))
    slot = np.arange(tokens) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    feats[owner, slot] = values
    mask = np.arange(token_cap)[None, :] < lengths[:, None]
    return feats, available, mask


@dataclass
class _TextPlan:
    """Word structure of all captions: which sentence and aspect each word is about."""

    lengths: np.ndarray  # (C,) tokens per caption
    word_sent: np.ndarray  # (W,) sentence of each word, words in caption order
    word_aspect: np.ndarray  # (W,) aspect index, -1 for function words
    sent_latent: np.ndarray  # (S, LATENT_DIM) each sentence's paraphrased view of its video


def _plan_captions(
    z: np.ndarray,
    present: dict[str, np.ndarray],
    counts: np.ndarray,
    words: float,
    sentences: tuple[int, int],
    token_cap: int,
    rng: np.random.Generator,
) -> _TextPlan:
    n_captions = int(counts.sum())
    cap_video = np.repeat(np.arange(len(z)), counts)
    n_sent = rng.integers(sentences[0], sentences[1] + 1, n_captions)
    sent_caption = np.repeat(np.arange(n_captions), n_sent)
    sent_video = cap_video[sent_caption]
    n_s = len(sent_caption)
    aspect_present = np.stack(
        [present.get(a, np.ones(len(z), bool))[sent_video] for a in _ASPECT_NAMES], axis=1
    )
    mention = (
        rng.random((n_s, len(ASPECTS))) < np.array([_MENTION[a] for a in _ASPECT_NAMES])
    ) & aspect_present
    mention[~mention.any(axis=1), 0] = True  # every sentence says something about objects
    word_counts = mention * (1 + rng.binomial(2, 0.5, mention.shape))
    content_words = word_counts.sum(axis=1)
    function_words = rng.poisson(np.maximum(words - content_words, 0.5))
    # Paraphrase: each sentence holds its own noisy view of the video's semantics.
    sent_latent = (z[sent_video] + _CAPTION_NOISE * rng.standard_normal((n_s, LATENT_DIM))).astype(np.float32)
    word_sent = np.concatenate(
        [np.repeat(np.arange(n_s), content_words), np.repeat(np.arange(n_s), function_words)]
    )
    word_aspect = np.concatenate(
        [
            np.repeat(np.tile(np.arange(len(ASPECTS)), n_s), word_counts.reshape(-1)),
            np.full(int(function_words.sum()), -1),
        ]
    )
    order = np.lexsort((rng.random(len(word_sent)), word_sent))  # shuffle words within a sentence
    word_sent, word_aspect = word_sent[order], word_aspect[order]
    word_caption = sent_caption[word_sent]
    # Truncate overly long captions to the stored cap (keeps the store bounded; models truncate further).
    pos = np.arange(len(word_caption)) - np.searchsorted(word_caption, word_caption)
    keep = pos < token_cap
    lengths = np.bincount(word_caption[keep], minlength=n_captions)
    return _TextPlan(lengths, word_sent[keep], word_aspect[keep], sent_latent)


# Caption text: a few words per aspect, picked by the video's category (so captions of one category
# share words, as real ones do) with some variation; nothing in the text is derived from the video id.
_PEOPLE_WORDS = (
    "a man",
    "a woman",
    "a child",
    "a girl",
    "a boy",
    "a couple",
    "a chef",
    "a crowd",
    "a player",
)
_ACTION_WORDS = (
    "is cooking",
    "is playing",
    "is talking about",
    "is cutting",
    "is showing",
    "is riding",
    "is dancing with",
    "is holding",
    "is cleaning",
    "is painting",
    "is throwing",
    "is building",
)
_OBJECT_WORDS = (
    "a guitar",
    "some vegetables",
    "a car",
    "a ball",
    "a dog",
    "a cake",
    "a bike",
    "a phone",
    "a horse",
    "a boat",
    "a table",
    "some paper",
    "a computer",
    "a knife",
    "a camera",
    "a toy",
)
_SCENE_WORDS = (
    "in a kitchen",
    "on a stage",
    "in a park",
    "on the street",
    "at the beach",
    "in a classroom",
    "in a field",
    "in a garage",
    "in a studio",
    "on a lake",
)
_SOUND_WORDS = ("while music plays", "with loud cheering", "while a bell rings", "over soft music")
_SPEECH_WORDS = ("and explains each step", "while someone narrates", "and talks to the camera")
_OCR_WORDS = ("with text on the screen", "under a title card", "next to a sign")


def _caption_texts(
    plan: _TextPlan, counts: np.ndarray, category: np.ndarray, rng: np.random.Generator
) -> list[str]:
    """One short English caption per caption of the plan (sentences joined for paragraph captions).

    A sentence says something about each aspect its words mention; which words is decided by the
    video's category and `rng`, a generator of its own, so the store's features do not depend on it.
    """
    cap_video = np.repeat(np.arange(len(counts)), counts)
    word_caption = np.repeat(np.arange(len(plan.lengths)), plan.lengths)
    index = {a: i for i, a in enumerate(_ASPECT_NAMES)}
    mentioned: dict[int, set[int]] = {}
    sentence_caption: dict[int, int] = {}
    words = zip(plan.word_sent.tolist(), plan.word_aspect.tolist(), word_caption.tolist(), strict=True)
    for sent, aspect, caption in words:
        sentence_caption[sent] = caption
        if aspect >= 0:
            mentioned.setdefault(sent, set()).add(aspect)
    variation = rng.integers(0, 4, size=(len(sentence_caption), len(_ASPECT_NAMES)))
    optional = (
        ("scene", _SCENE_WORDS),
        ("sound", _SOUND_WORDS),
        ("speech", _SPEECH_WORDS),
        ("ocr", _OCR_WORDS),
    )
    sentences: list[list[str]] = [[] for _ in range(len(plan.lengths))]
    for row, (sent, caption) in enumerate(sorted(sentence_caption.items())):
        said = mentioned.get(sent, set())
        picks = int(category[cap_video[caption]]) * 7 + 3 * np.arange(len(_ASPECT_NAMES)) + variation[row]
        choose = {a: options[int(picks[index[a]]) % len(options)] for a, options in (
            ("people", _PEOPLE_WORDS), ("action", _ACTION_WORDS), ("object", _OBJECT_WORDS), *optional
        )}  # fmt: skip
        parts = [
            choose["people"] if index["people"] in said else "someone",
            choose["action"],
            choose["object"],
        ]
        parts += [choose[a] for a, _ in optional if index[a] in said]
        sentences[caption].append(" ".join(parts))
    return [
        ". ".join(p[0].upper() + p[1:] for p in s) + "." if s else "Something happens." for s in sentences
    ]


def _render_words(
    plan: _TextPlan, world: _World, lo: int, hi: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Features of words [lo, hi) of the plan for every text encoder: encoder -> (hi - lo, D) float32."""
    word_sent, word_aspect = plan.word_sent[lo:hi], plan.word_aspect[lo:hi]
    n_words = hi - lo
    is_content = word_aspect >= 0
    block_mask = np.zeros((len(ASPECTS), LATENT_DIM), dtype=np.float32)
    for i, a in enumerate(_ASPECT_NAMES):
        block_mask[i, _BLOCKS[a]] = 1.0
    aspect = np.where(is_content, word_aspect, 0)
    base = np.zeros((n_words, _WORD_DIM), dtype=np.float32)
    values = plan.sent_latent[word_sent] + _WORD_NOISE * rng.standard_normal((n_words, LATENT_DIM))
    base[:, :LATENT_DIM] = values * block_mask[aspect]
    base[np.flatnonzero(is_content), LATENT_DIM + aspect[is_content]] = 2.0
    func = world.function_words[rng.integers(0, _FUNCTION_WORDS, n_words)]
    base = np.where(is_content[:, None], base, func)
    features = {}
    for encoder, (g, h) in world.text_maps.items():
        noise_scale = np.array([_ENCODER_NOISE[encoder][a] for a in _ASPECT_NAMES], dtype=np.float32)
        misread = rng.standard_normal((n_words, LATENT_DIM)).astype(np.float32)
        misread *= (noise_scale[aspect][:, None] * block_mask[aspect]) * is_content[:, None]
        seen = base.copy()
        seen[:, :LATENT_DIM] += misread
        features[encoder] = np.tanh(seen @ g + h).astype(np.float32)
    return features


def generate_dataset(
    out_dir: str | os.PathLike[str],
    dataset: str,
    *,
    scale: str = "demo",
    seed: int = 0,
    chunk_captions: int = 10000,
) -> Path:
    """Write one synthetic store ``<out_dir>/<Dataset>.h5``.

    Args:
        out_dir: store directory (created if needed).
        dataset: one of the five Pentathlon datasets (any accepted spelling).
        scale: "tiny", "demo" or "full".
        seed: generator seed; the same (dataset, scale, seed) always gives the same file contents.
        chunk_captions: captions rendered per chunk (bounds memory at full scale).
    Returns:
        The store path.
    """
    name = canonical_dataset_name(dataset)
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    spec = SPECS[name]
    base_seed = [seed, zlib.crc32(name.encode())]
    world = _make_world(spec, np.random.default_rng(base_seed + [0]))
    rng = np.random.default_rng(base_seed + [1 + SCALES.index(scale)])
    sizes = spec.sizes[scale]
    tiny = scale == "tiny"
    split_ids: dict[str, list[str]] = {}
    counts_list = []
    for split in SPLIT_ORDER:
        videos, queries = sizes[split]
        start = sum(len(v) for v in split_ids.values())
        split_ids[split] = [f"{name.lower()}_{i:06d}" for i in range(start, start + videos)]
        counts_list.append(caption_counts(spec, scale, videos, queries, rng))
    video_ids = [v for split in SPLIT_ORDER for v in split_ids[split]]
    counts = np.concatenate(counts_list)
    n = len(video_ids)
    # Video-level latents.
    category = rng.integers(0, spec.categories, n)
    z = (0.75 * world.centres[category] + 0.66 * rng.standard_normal((n, LATENT_DIM))).astype(np.float32)
    present = {a: rng.random(n) < p for a, p in spec.presence.items()}
    for aspect, flags in present.items():  # absent content leaves nothing to see or to describe
        z[~flags, _BLOCKS[aspect]] = 0.0
    condition = rng.choice(len(CONDITIONS), size=n, p=_CONDITION_PROBS)
    token_cap = 6 if tiny else 50  # at least every config's max_tokens (docs/baselines-reference.md 2.2)
    if spec.captions == "paragraph":
        sentences = (2, 2) if tiny else (3, 5)
        text_cap = 12 if tiny else 96
    else:
        sentences = (1, 1)
        text_cap = 6 if tiny else 48
    words = 4.0 if tiny else spec.words
    caption_ids = [f"{video_ids[v]}#{k}" for v in range(n) for k in range(counts[v])]
    with StoreWriter(
        store_path(out_dir, name),
        dataset=name,
        videos=video_ids,
        splits=split_ids,
        source=f"synthetic:{scale}:seed{seed}",
        fused_captions=spec.captions == "paragraph",
    ) as writer:
        for key in spec.experts:
            feats, available, mask = _expert_features(key, spec, world, z, condition, present, token_cap, rng)
            writer.add_expert(key, feats, available, flaky=key in FLAKY_EXPERTS, mask=mask)
            del feats
        # The plan draws from `rng` right after the experts, as before; the text has a generator of its own.
        plan = _plan_captions(z, present, counts, words, sentences, text_cap, rng)
        texts = _caption_texts(plan, counts, category, np.random.default_rng(base_seed + [100]))
        writer.set_captions(caption_ids, np.repeat(np.arange(n), counts), texts)
        writer.add_hidden(
            category=category, condition=condition, **{f"present_{a}": flags for a, flags in present.items()}
        )
        writers = {e: writer.text_writer(e, dim=d, lengths=plan.lengths) for e, d in TEXT_DIMS.items()}
        bounds = np.concatenate([[0], np.cumsum(plan.lengths)])
        for c_lo in range(0, len(plan.lengths), chunk_captions):  # render chunk by chunk, bounded memory
            c_hi = min(len(plan.lengths), c_lo + chunk_captions)
            rendered = _render_words(plan, world, int(bounds[c_lo]), int(bounds[c_hi]), rng)
            cuts = bounds[c_lo : c_hi + 1] - bounds[c_lo]
            for encoder, text in writers.items():
                text.write([rendered[encoder][cuts[i] : cuts[i + 1]] for i in range(c_hi - c_lo)])
    return store_path(out_dir, name)


def generate(
    out_dir: str | os.PathLike[str],
    *,
    scale: str = "demo",
    datasets: tuple[str, ...] | list[str] | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write synthetic stores for several datasets (all five by default)."""
    return [generate_dataset(out_dir, d, scale=scale, seed=seed) for d in (datasets or PENTATHLON_DATASETS)]
