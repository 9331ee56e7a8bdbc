"""Train a baseline on a store and write an official submission file: the site's entry point.

`python manage.py train_baseline --model ce|moee|teachtext --phase ...` calls
`train_and_write_submission`; `split_truth` (in `baselines.store`) gives the same split's hidden
ground truth, so a phase, its ground truth and the baseline's predictions all come from one store.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from evaluation.datasets import canonical_dataset_name

from .card import card_path, write_model_card
from .config import load_config
from .predict import split_similarities
from .store import ExpertStore, StoreFormatError, store_path
from .train import TrainResult, checkpoint_path, reusable_result, train_or_reuse, train_teachers

log = logging.getLogger("baselines")

MODEL_TITLES = {
    "ce": "Collaborative Experts",
    "moee": "Mixture of Embedding Experts",
    "teachtext": "TeachText",
    "crosskd": "CE+ with caption distillation",
    "teachtext_crosskd": "TeachText-CE+ with caption distillation",
}
PROFILE_NOTES = {
    "challenge": "the CVPR 2020 challenge baseline at full size",
    "cpu": "reduced for CPUs: smaller shared dimension and cluster counts",
    "demo": "reduced and short: a fast demo, not the reference model",
    None: "the dataset configs at full size",
}
SHORT_EXPERT_NAMES = {"i3d.i3d.0": "i3d", "imagenet.senet154.0": "SENet-154"}


class BaselineLabel(NamedTuple):
    """What a baseline submission says it is: a short method name and a full description."""

    method_name: str
    description: str


def _span(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def baseline_label(
    *,
    model: str,
    datasets: Sequence[str],
    profile: str | None,
    seed: int,
    config_overrides: dict[str, Any] | None = None,
) -> BaselineLabel:
    """The label of a baseline trained by `train_and_write_submission` with these arguments: the profile,
    the experts and epochs of each dataset's resolved config, and the seed (for the leaderboard row and
    the entry page)."""
    configs = {
        canonical_dataset_name(d): load_config(d, model, profile=profile, overrides=config_overrides)
        for d in datasets
    }
    expert_sets = {tuple(sorted(c["data"]["experts"])) for c in configs.values()}
    if len(expert_sets) == 1:
        (only,) = expert_sets
        experts = (
            " + ".join(SHORT_EXPERT_NAMES.get(e, e) for e in only)
            if len(only) <= 3
            else f"{len(only)} experts"
        )
    else:
        experts = f"{_span([len(e) for e in expert_sets])} experts"
    epochs = _span([int(c["train"]["epochs"]) for c in configs.values()])
    profile_name = f"{profile} profile" if profile else "full configs"
    title = MODEL_TITLES.get(model, model)
    method_name = f"{title} (baseline: {profile_name}, {experts}, {epochs} epochs, seed {seed})"
    per_dataset = "; ".join(
        f"{name}: {', '.join(c['data']['experts'])}, {c['train']['epochs']} epochs"
        for name, c in configs.items()
    )
    note = PROFILE_NOTES.get(profile, "a custom profile")
    overridden = (
        f" Config overrides: {json.dumps(config_overrides, sort_keys=True)}." if config_overrides else ""
    )
    distilled = ""
    if any(c.get("distil") for c in configs.values()):
        targets = sorted({c["distil"]["target"] for c in configs.values() if c.get("distil")})
        teachers = "; ".join(
            f"{name}: {', '.join(c['distil']['teachers'])}" for name, c in configs.items() if c.get("distil")
        )
        distilled = (
            f" Distilled from CE teachers on other text encoders ({teachers}), target {', '.join(targets)}."
        )
    captions = sorted(
        {float(c["caption_distil"]["temperature"]) for c in configs.values() if c.get("caption_distil")}
    )
    if captions:
        distilled += (
            f" Caption distillation (cross-modal KD), temperature {', '.join(f'{t:g}' for t in captions)}."
        )
    description = (
        f"Reference {title} trained by the organisers with the {profile_name} ({note}), seed {seed}."
        f" {per_dataset}.{distilled}{overridden}"
    )
    return BaselineLabel(method_name[:200], description)


def train_baseline(
    *,
    store_dir: str | os.PathLike[str],
    model: str,
    dataset: str,
    config_overrides: dict[str, Any] | None = None,
    profile: str | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | os.PathLike[str] | None = None,
    reuse: bool = True,
) -> TrainResult:
    """Train one baseline on one dataset (TeachText: its teachers first), best validation epoch loaded.

    With `checkpoint_dir`, the baseline itself is kept there with its model card beside it
    (`baselines.card`), and the same run is loaded instead of trained again
    (`baselines.train.train_or_reuse`; `reuse=False` retrains and overwrites). A teacher found there
    (TeachText's openai teacher is the CE baseline's run) is reused; one trained on the way is not kept.
    """
    config = load_config(dataset, model, profile=profile, overrides=config_overrides)
    path = store_path(store_dir, dataset)
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = checkpoint_path(checkpoint_dir, config=config, seed=seed, store_path=path)
        kept = reusable_result(checkpoint, config=config, seed=seed, device=device) if reuse else None
        if kept is not None:  # no teacher needed
            if not card_path(checkpoint).exists():
                write_model_card(
                    checkpoint,
                    kept,
                    store_file=path,
                    seed=seed,
                    profile=profile,
                    overrides=config_overrides,
                    teachers=list((config.get("distil") or {}).get("teachers") or []),
                )
            return kept
    teachers = None
    if config.get("distil"):
        teachers = train_teachers(
            store_path=path,
            config=config,
            seed=seed,
            device=device,
            checkpoint_dir=checkpoint_dir,
            reuse=reuse,
            keep=False,
        )
    result = train_or_reuse(
        store_path=path,
        config=config,
        seed=seed,
        device=device,
        teachers=teachers,
        checkpoint_dir=checkpoint_dir,
        reuse=False,  # looked up above
    )
    if checkpoint is not None:
        write_model_card(
            checkpoint,
            result,
            store_file=path,
            seed=seed,
            profile=profile,
            overrides=config_overrides,
            teachers=[t.name for t in teachers or []],
        )
    return result


def predict_queries(
    result: TrainResult,
    *,
    store_file: str | os.PathLike[str],
    split: str,
    query_ids: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """The Q x V float32 similarity matrix of a split.

    Args:
        result: a trained model.
        store_file: its dataset's store.
        split: the split to predict (columns in the split's video order).
        query_ids: caption ids in the phase's row order; the canonical order of `split_truth` when None.
        device: where to compute.
    Raises:
        StoreFormatError: an id is not a caption of the split.
    """
    with ExpertStore(store_file) as store:
        captions = None
        if query_ids is not None:
            index = {c: i for i, c in enumerate(store.caption_ids)}
            missing = [q for q in query_ids if q not in index]
            if missing:
                raise StoreFormatError(
                    f"{store.dataset}: {len(missing)} query ids are not captions of the store, "
                    f"e.g. {missing[0]!r}"
                )
            captions = np.array([index[q] for q in query_ids], dtype=np.int64)
        sims, _ = split_similarities(
            result.model, store, result.config, split, device=device, query_captions=captions
        )
    return sims


def train_and_write_submission(
    *,
    store_dir: str | os.PathLike[str],
    model: str,
    datasets: Sequence[str],
    split: str,
    out_path: str | os.PathLike[str],
    config_overrides: dict[str, Any] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    profile: str | None = None,
    query_order: Mapping[str, Sequence[str]] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    reuse: bool = True,
) -> Path:
    """Train `model` on each dataset's store and write one `.npz` submission for `split`.

    The file holds one float32 array per dataset, named after the dataset (`MSRVTT`, ...): the Q x V
    similarity matrix, rows in the phase's query order, columns in the split's video order. This is a
    docs/design.md section 5 similarity submission, scored by the server like any participant's.

    Args:
        store_dir: directory of `<Dataset>.h5` stores.
        model: "ce", "moee", "teachtext", "crosskd" or "teachtext_crosskd" (`baselines.config.MODELS`).
        datasets: datasets to include (any accepted spelling).
        split: the phase's split in the stores, e.g. "val" or "test".
        out_path: the `.npz` to write (parent directories are created).
        config_overrides: nested dict merged into every dataset's config.
        seed: training seed.
        device: "cpu" or "cuda".
        profile: optional config profile ("cpu" trains a reduced model in minutes on a laptop).
        query_order: dataset -> caption ids in the phase's row order; the canonical order of
            `baselines.store.split_truth` for datasets not listed.
        checkpoint_dir: when given, every trained model is kept there (`baselines.train.checkpoint_path`)
            and reused by a later call that needs the same run.
        reuse: False trains anew even when `checkpoint_dir` holds the run.
    Returns:
        The path written.
    """
    out_path = Path(out_path)
    if out_path.suffix != ".npz":
        raise ValueError(f"a similarity submission is an .npz file, got {out_path.name!r}")
    arrays: dict[str, np.ndarray] = {}
    for dataset in datasets:
        name = canonical_dataset_name(dataset)
        result = train_baseline(
            store_dir=store_dir,
            model=model,
            dataset=name,
            config_overrides=config_overrides,
            profile=profile,
            seed=seed,
            device=device,
            checkpoint_dir=checkpoint_dir,
            reuse=reuse,
        )
        log.info(
            "%s %s: selected epoch %d (validation geom %.2f)",
            name,
            model,
            result.best_epoch,
            result.best_score,
        )
        order = (query_order or {}).get(name)
        arrays[name] = predict_queries(
            result, store_file=store_path(store_dir, name), split=split, query_ids=order, device=device
        ).astype(np.float32)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".partial.npz")
    np.savez(tmp, allow_pickle=False, **arrays)
    os.replace(tmp, out_path)  # never leave a truncated submission behind
    return out_path


def train_and_write_program(
    *,
    store_dir: str | os.PathLike[str],
    model: str,
    datasets: Sequence[str],
    out_path: str | os.PathLike[str],
    config_overrides: dict[str, Any] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    profile: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    reuse: bool = True,
) -> Path:
    """Train (or reuse) `model` on each dataset's store and write it as a code-phase program `.zip`
    (`baselines.code_program.write_program`); the arguments are `train_and_write_submission`'s.

    Run on a code phase whose gallery inputs `baselines.code_program.write_phase_inputs` wrote, the
    program writes the matrices `train_and_write_submission` writes for the same phase as an upload.
    """
    from .code_program import write_program

    results = {
        canonical_dataset_name(dataset): train_baseline(
            store_dir=store_dir,
            model=model,
            dataset=canonical_dataset_name(dataset),
            config_overrides=config_overrides,
            profile=profile,
            seed=seed,
            device=device,
            checkpoint_dir=checkpoint_dir,
            reuse=reuse,
        )
        for dataset in datasets
    }
    return write_program(out_path, results=results)
