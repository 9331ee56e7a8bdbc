"""Example program of a code phase: reads the phase's /input, writes /output/submission.npz.

The server runs it as `python main.py --input /input --output /output` in a sandbox with no network.
/input holds, per dataset, <Dataset>/queries.tsv (query id TAB text, in the order rows must follow)
and <Dataset>/videos.txt (video ids, in column order), plus shapes.json and, when the organisers
provide them, their gallery inputs under gallery/. Replace `embed_text` and `embed_videos` with your
model: load its weights from files next to this one (e.g. torch.load("weights.pt", weights_only=True)).

This example embeds each query as hashed words and each video as a vector drawn from its id, so it
scores near chance; it only shows the interface.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from typing import Any

import numpy as np

DIM = 64


def _vector(key: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def embed_text(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            out[row] += _vector("word:" + word)
    return out


def embed_videos(videos: list[str], gallery: str) -> np.ndarray:
    return (
        np.stack([_vector("video:" + video) for video in videos])
        if videos
        else np.zeros((0, DIM), np.float32)
    )


def read_queries(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        next(f)  # the header: query_id<TAB>text
        return [line.rstrip("\n").split("\t", 1)[1] if "\t" in line else "" for line in f]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    arrays: dict[str, Any] = {}  # name -> array, for np.savez
    for name in sorted(os.listdir(args.input)):
        folder = os.path.join(args.input, name)
        if not os.path.isfile(os.path.join(folder, "queries.tsv")):
            continue
        texts = read_queries(os.path.join(folder, "queries.tsv"))
        with open(os.path.join(folder, "videos.txt"), encoding="utf-8") as f:
            videos = [line.strip() for line in f if line.strip()]
        arrays[f"{name}_text"] = embed_text(texts)
        arrays[f"{name}_video"] = embed_videos(videos, os.path.join(args.input, "gallery"))
        print(f"{name}: {len(texts)} queries, {len(videos)} videos", file=sys.stderr)
    np.savez(os.path.join(args.output, "submission.npz"), **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
