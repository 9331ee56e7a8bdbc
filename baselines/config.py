"""Configs: small JSON files per dataset that inherit from `configs/base.json`.

Resolution order (later wins): the `inherit` chain, the dataset file, the dataset's `variants[model]`,
a profile (`configs/profiles/<name>.json`, with its own optional `variants`), then caller overrides.
Merging follows the reference's mergedeep REPLACE strategy: dicts merge recursively, everything else
(lists included) is replaced.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from evaluation.datasets import canonical_dataset_name

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
MODELS = ("ce", "moee", "teachtext", "crosskd", "teachtext_crosskd")
# The `variants` each model applies, in order: the cross-modal distillation reference's TeachText-CE+
# with caption distillation is TeachText's student plus the caption term.
MODEL_VARIANTS = {"teachtext_crosskd": ("teachtext", "crosskd", "teachtext_crosskd")}


def merge(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """Recursive merge, returning a new dict: dicts merge, other values (lists too) replace.

    >>> merge({"a": {"x": 1, "y": [1]}}, {"a": {"y": [2]}, "b": 3})
    {'a': {'x': 1, 'y': [2]}, 'b': 3}
    """
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_chain(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise ValueError(f"config inheritance cycle through {path.name}")
    with path.open(encoding="utf-8") as handle:
        raw: dict[str, Any] = json.load(handle)
    parent = raw.pop("inherit", None)
    if parent is None:
        return raw
    return merge(_read_chain(path.parent / parent, seen + (path,)), raw)


def _apply_variant(config: dict[str, Any], model: str) -> dict[str, Any]:
    variants = config.pop("variants", None) or {}
    for name in MODEL_VARIANTS.get(model, (model,)):
        config = merge(config, variants.get(name))
    return config


def load_config(
    dataset: str, model: str = "ce", *, profile: str | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The resolved config of a model on a dataset.

    Args:
        dataset: a Pentathlon dataset (any accepted spelling).
        model: "ce", "moee", "teachtext", "crosskd" (CE with caption distillation) or
            "teachtext_crosskd" (TeachText with caption distillation).
        profile: optional profile name, e.g. "cpu" (`configs/profiles/cpu.json`).
        overrides: nested dict merged last.
    Raises:
        ValueError: unknown model, profile or dataset.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    name = canonical_dataset_name(dataset)
    config = _apply_variant(_read_chain(CONFIG_DIR / f"{name.lower()}.json"), model)
    if profile is not None:
        path = CONFIG_DIR / "profiles" / f"{profile}.json"
        if not path.is_file():
            known = sorted(p.stem for p in (CONFIG_DIR / "profiles").glob("*.json"))
            raise ValueError(f"unknown profile {profile!r}; known: {', '.join(known)}")
        config = merge(config, _apply_variant(_read_chain(path), model))
    config = merge(config, overrides)
    config["dataset"] = name
    config["model"] = model
    return config


def training_optim(config: dict[str, Any]) -> dict[str, Any]:
    """The optimiser a run trains with: `optim`, with a TeachText student's `distil.optim` and a caption
    distillation student's `caption_distil.optim` merged over it.

    The reference trains every TeachText student with RAdam (lr 0.001, weight decay 1e-5) and its
    teachers, plain CE, with the dataset's CE optimiser (`configs/<dataset>/train-gpt2-xl-finetuned-
    mte-adam.json` against the CE configs); `distil.optim: null` trains the student with CE's. The
    cross-modal distillation reference's configs (`configs_crosskd/*`) train both of its students with
    the same RAdam.

    >>> student = {"optim": {"type": "ranger", "lr": 0.1, "lr_gamma": 0.95}, "distil": {"optim": {"lr": 0.001}}}
    >>> training_optim(student)
    {'type': 'ranger', 'lr': 0.001, 'lr_gamma': 0.95}
    """
    optim = merge(config["optim"], (config.get("distil") or {}).get("optim"))
    return merge(optim, (config.get("caption_distil") or {}).get("optim"))


def teacher_config(config: dict[str, Any], text_encoder: str) -> dict[str, Any]:
    """A TeachText teacher: the student's config as plain CE, trained on another text encoder."""
    teacher = merge(
        merge(config, config["distil"].get("teacher_overrides")), {"data": {"text_encoder": text_encoder}}
    )
    teacher["distil"] = None
    teacher.pop("caption_distil", None)  # absent unless a model asks for it, as in CE's own config
    teacher["model"] = "ce"
    return teacher


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """`["train.epochs=5", "arch.ce_shared_dim=64"]` -> a nested override dict; values parse as JSON
    when they can (numbers, booleans, lists), else stay strings.

    >>> parse_overrides(["train.epochs=5", "optim.type=adam"])
    {'train': {'epochs': 5}, 'optim': {'type': 'adam'}}

    Raises:
        ValueError: an item is not KEY=VALUE.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key or not raw:
            raise ValueError(f"a config override is KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
