"""The per-query ranks and values the scoring child hands its parent (`evaluation.sandbox`).

The child writes the `score_submission(ranks_out=...)` layout of every scored dataset to one npz
(no pickle) and describes it in a small JSON-able list; the parent reads it back with
``allow_pickle=False``. Values travel in float64, as the scorer computed them, so what the parent
keeps is bit for bit what an in-process scoring would have kept: the reported relevance metrics are
exactly 100 times their means. The long-lived, compact form is `evaluation.uncertainty.pack_ranks`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

#: The file in the child's output folder.
KEPT_FILE = "ranks.npz"

_DIRECTIONS = ("t2v", "v2t")


def kept_save(ranks: Mapping[str, Mapping[str, Any]], directory: str) -> list[dict[str, Any]]:
    """Write `ranks` (the `ranks_out` layout) to ``directory/ranks.npz``; return its description.

    Returns:
        One dict per dataset, in order: {"dataset", "topk", "v2t": whether v2t ranks are stored,
        "t2v_values" and "v2t_values": the metric keys whose values are stored, or None}.
        Nothing is written when `ranks` is empty.
    """
    meta: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for i, (name, kept) in enumerate(ranks.items()):
        arrays[f"{i}.t2v"] = np.asarray(kept["t2v"])
        arrays[f"{i}.groups"] = np.asarray(kept["groups"])
        if kept.get("v2t") is not None:
            arrays[f"{i}.v2t"] = np.asarray(kept["v2t"])
        entry = {"dataset": name, "topk": kept["topk"], "v2t": kept.get("v2t") is not None}
        for direction in _DIRECTIONS:
            values = kept.get(f"{direction}_values")
            entry[f"{direction}_values"] = None if values is None else list(values)
            for j, array in enumerate((values or {}).values()):
                arrays[f"{i}.{direction}_values.{j}"] = np.asarray(array, dtype=np.float64)
        meta.append(entry)
    if arrays:
        np.savez(os.path.join(directory, KEPT_FILE), allow_pickle=False, **arrays)
    return meta


def kept_load(path: str, meta: list[dict[str, Any]]) -> dict[str, Any]:
    """Read what `kept_save` wrote, described by `meta`, back into the `ranks_out` layout."""
    out: dict[str, Any] = {}
    with np.load(path, allow_pickle=False) as data:
        for i, entry in enumerate(meta):
            kept: dict[str, Any] = {
                "t2v": data[f"{i}.t2v"],
                "v2t": data[f"{i}.v2t"] if entry["v2t"] else None,
                "groups": data[f"{i}.groups"],
                "topk": entry["topk"],
            }
            for direction in _DIRECTIONS:
                keys = entry.get(f"{direction}_values")
                if keys is not None:
                    kept[f"{direction}_values"] = {
                        str(key): data[f"{i}.{direction}_values.{j}"] for j, key in enumerate(keys)
                    }
                elif f"{direction}_values" in entry:
                    kept[f"{direction}_values"] = None
            out[entry["dataset"]] = kept
    return out
