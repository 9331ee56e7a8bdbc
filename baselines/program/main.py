"""The organisers' trained baseline (CE, MoEE, TeachText, ...) as a code-phase program.

Packaged by `baselines.code_program.write_program`: this file, the model code (`model/`, a copy of
`baselines/models`) and one checkpoint per dataset (`weights/<Dataset>.pt`, tensors and plain values,
read with `torch.load(weights_only=True)`). The server runs

    python main.py --input /input --output /output

in the sandbox. The phase's organisers provide the features in their gallery inputs
(`/input/gallery/<Dataset>.h5`, written by `baselines.code_program.write_phase_inputs`): the gallery
videos' expert features in `videos.txt` order and each query's word features from the public text
encoders, in `queries.tsv` order. The program checks both orders against `/input`, embeds videos and
queries as `baselines.predict.split_similarities` does and writes `/output/submission.npz`, one Q x V
float32 similarity matrix per dataset it has weights for. Standard library, numpy, h5py and torch only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from model import ExpertSpec, build_model, sharded_similarity  # noqa: E402 - the packaged model code

VIDEO_CHUNK = 1024  # baselines.predict.encode_videos


def read_lines(path: str, *, header: bool) -> list[str]:
    with open(path, encoding="utf-8") as f:
        if header:
            next(f)
        return [line.rstrip("\n").split("\t", 1)[0] for line in f if line.strip()]


def strings(node: h5py.Dataset) -> list[str]:
    return [s.decode() if isinstance(s, bytes) else str(s) for s in node[()]]


def load(weights: str) -> tuple[Any, dict[str, Any], list[Any]]:
    payload = torch.load(weights, map_location="cpu", weights_only=True)
    config = json.loads(payload["config"])
    experts = [ExpertSpec(**e) for e in json.loads(payload["experts"])]
    model = build_model(config["arch"], experts, int(payload["text_dim"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval(), config, sorted(experts, key=lambda e: e.key)


def video_features(h5: h5py.File, experts: list[Any]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The experts in model order, sequences cut or zero-padded to max_tokens (baselines.data)."""
    feats, available = [], []
    for spec in experts:
        x = h5["experts"][spec.key]["features"][()]
        if spec.vlad_clusters:
            if x.shape[1] >= spec.max_tokens:
                x = x[:, : spec.max_tokens]
            else:
                x = np.pad(x, ((0, 0), (0, spec.max_tokens - x.shape[1]), (0, 0)))
        feats.append(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float16)))
        available.append(h5["experts"][spec.key]["available"][()].astype(bool))
    return feats, torch.from_numpy(np.stack(available, axis=1).astype(np.float32))


def text_batch(tokens: torch.Tensor, offsets: np.ndarray, rows: np.ndarray, max_tokens: int) -> torch.Tensor:
    """(len(rows), max_tokens, D) zero-padded word features (baselines.data.CaptionText.batch)."""
    starts = offsets[rows]
    lengths = np.minimum(offsets[rows + 1] - starts, max_tokens)
    owner = np.repeat(np.arange(len(rows)), lengths)
    slot = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    source = np.repeat(starts, lengths) + slot
    out = torch.zeros(len(rows), max_tokens, tokens.shape[1])
    out[torch.from_numpy(owner), torch.from_numpy(slot)] = tokens[torch.from_numpy(source)].float()
    return out


def similarities(weights: str, features: str, queries: list[str], videos: list[str]) -> np.ndarray:
    model, config, experts = load(weights)
    encoder = config["data"]["text_encoder"]
    max_tokens = int(config["data"]["max_tokens"]["text"])
    chunk = int(config["train"]["eval_chunk"])
    with h5py.File(features, "r") as h5:
        if strings(h5["videos"]) != videos:
            raise SystemExit(f"{features}: its videos are not videos.txt's, in that order")
        if strings(h5["queries"]) != queries:
            raise SystemExit(f"{features}: its queries are not queries.tsv's, in that order")
        feats, available = video_features(h5, experts)
        tokens = torch.from_numpy(np.ascontiguousarray(h5["text"][encoder]["tokens"][()], dtype=np.float16))
        offsets = h5["text"][encoder]["offsets"][()].astype(np.int64)
    with torch.no_grad():
        parts = []
        for lo in range(0, len(videos), VIDEO_CHUNK):
            span = slice(lo, lo + VIDEO_CHUNK)
            parts.append(model.encode_video([x[span].float() for x in feats], available[span]))
        video = type(parts[0])(
            [torch.cat([p.experts[m] for p in parts]) for m in range(len(parts[0].experts))],
            torch.cat([p.available for p in parts]),
        )
        sims = np.empty((len(queries), len(videos)), dtype=np.float32)
        for lo in range(0, len(queries), chunk):
            rows = np.arange(lo, min(lo + chunk, len(queries)))
            text = model.encode_text(text_batch(tokens, offsets, rows, max_tokens))
            sims[rows] = sharded_similarity(text, video).float().numpy()
    return sims


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    arrays = {}
    for name in sorted(os.listdir(args.input)):
        folder = os.path.join(args.input, name)
        weights = os.path.join(HERE, "weights", f"{name}.pt")
        features = os.path.join(args.input, "gallery", f"{name}.h5")
        if not os.path.isfile(os.path.join(folder, "queries.tsv")):
            continue
        if not (os.path.isfile(weights) and os.path.isfile(features)):
            print(f"{name}: skipped (no weights or no gallery features)", file=sys.stderr)
            continue
        queries = read_lines(os.path.join(folder, "queries.tsv"), header=True)
        videos = read_lines(os.path.join(folder, "videos.txt"), header=False)
        arrays[name] = similarities(weights, features, queries, videos)
        print(f"{name}: {len(queries)} queries x {len(videos)} videos", file=sys.stderr)
    if not arrays:
        raise SystemExit("no dataset had both weights and gallery features")
    np.savez(os.path.join(args.output, "submission.npz"), allow_pickle=False, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
