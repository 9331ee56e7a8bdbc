"""Model cards: what a kept baseline checkpoint is, written beside it as `<checkpoint stem>.card.json`.

A card says how the model was made and how it scored on its selection split: the resolved config,
the store it was trained on (path, size, modification time, source, split sizes), the seed, the
profile and overrides asked for, the teachers it distilled from, the source commit and the selection
scores per epoch. The phase scores are the server's (the leaderboard), not the card's.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .store import ExpertStore
from .train import SELECTION_METRIC, TrainResult

CARD_SUFFIX = ".card.json"
CARD_FORMAT = 1
SOURCE_DIR = Path(__file__).resolve().parent


def card_path(checkpoint: str | os.PathLike[str]) -> Path:
    """Where the card of `checkpoint` (a `.pt` file) lives: beside it, `<stem>.card.json`."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + CARD_SUFFIX)


def source_commit(directory: str | os.PathLike[str] = SOURCE_DIR) -> dict[str, Any]:
    """The git commit of the code that trained the model, and whether `baselines/` had uncommitted
    changes; `{"sha": None, ...}` where the code is not in a git checkout (an installed package)."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30, check=False
        )

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"sha": None, "dirty": None, "note": "not a git checkout"}
        status = git("status", "--porcelain", "--", str(directory))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"sha": None, "dirty": None, "note": f"git unavailable: {exc}"}
    return {"sha": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _store_record(store_file: Path, config: dict[str, Any]) -> dict[str, Any]:
    stat = store_file.stat()
    data = config["data"]
    with ExpertStore(store_file) as store:
        splits = {
            name: len(store.split_videos(name)) for name in (data["train_split"], data["selection_split"])
        }
        source, dataset = store.source, store.dataset
    return {
        "store": str(store_file.resolve()),
        "size": stat.st_size,
        "modified": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
        "dataset": dataset,
        "source": source,
        "videos": splits,
        "text_encoder": data["text_encoder"],
        "experts": list(data["experts"]),
    }


def write_model_card(
    checkpoint: str | os.PathLike[str],
    result: TrainResult,
    *,
    store_file: str | os.PathLike[str],
    seed: int,
    profile: str | None,
    overrides: dict[str, Any] | None = None,
    teachers: list[str] | None = None,
) -> Path:
    """Write the card of a kept checkpoint (atomically: beside it, then renamed) and return its path."""
    checkpoint = Path(checkpoint)
    config = result.config
    selection = config["data"]["selection_split"]
    card = {
        "format": CARD_FORMAT,
        "checkpoint": checkpoint.name,
        "model": config["model"],
        "dataset": config["dataset"],
        "seed": seed,
        "profile": profile,
        "overrides": overrides or {},
        "teachers": teachers or [],
        "commit": source_commit(),
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": _store_record(Path(store_file), config),
        "scores": {
            "selection_split": selection,
            "selection_metric": f"t2v {SELECTION_METRIC}",
            "best_epoch": result.best_epoch,
            "best_score": result.best_score,
            "epochs": result.history,
        },
        "training": {"seconds": round(result.seconds, 1), "samples": result.samples},
        "config": config,
    }
    path = card_path(checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path
