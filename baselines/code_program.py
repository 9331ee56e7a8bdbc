"""A trained baseline as a code-phase program, and the features a code phase gives every program.

Code phases (docs/code-phases.md) never publish their queries: a program comes to the data. Two files
make the organisers' baselines run there:

* `write_phase_inputs`: the phase's gallery inputs, one `<Dataset>.h5` per dataset in a zip that
  organisers upload to the phase (the demo's seed does). It holds the split's expert features in the
  published video order and each query's word features from the store's text encoders, in the
  published query order under the published (opaque) ids; never caption text or the organisers' ids.
  Layout::

      /videos                      (V,) str    the video ids, videos.txt's order
      /experts/<key>/features      (V, D) or (V, T, D) float16, zero where missing
      /experts/<key>/available     (V,) bool
      /queries                     (Q,) str    the published query ids, queries.tsv's order
      /text/<encoder>/tokens       (sum of lengths, D) float16, word features of every query
      /text/<encoder>/offsets      (Q + 1,) int64: query q owns tokens[offsets[q]:offsets[q + 1]]

* `write_program`: a `.zip` holding `main.py` (`baselines/program/main.py`), the model code
  (`model/`, a copy of `baselines/models`) and one checkpoint per dataset (`weights/<Dataset>.pt`,
  `baselines.train.save_checkpoint`'s format, loaded with `torch.load(weights_only=True)`). Run on a
  phase whose gallery inputs these are, it writes the same similarity matrices as
  `baselines.pipeline.predict_queries` does for the upload.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from evaluation.datasets import canonical_dataset_name

from .store import ExpertStore, StoreFormatError, store_path
from .train import TrainResult, save_checkpoint

PROGRAM_MAIN = Path(__file__).with_name("program") / "main.py"
MODEL_CODE = Path(__file__).with_name("models")
_STR = h5py.string_dtype("utf-8")
#: Captions whose word features are read from the store at a time (bounds the writer's memory).
_TEXT_CHUNK = 8192


def _member(name: str) -> zipfile.ZipInfo:
    """A stored (features do not compress) zip entry with a fixed date: same inputs, same bytes."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def write_dataset_inputs(
    path: str | os.PathLike[str],
    *,
    store_file: str | os.PathLike[str],
    split: str,
    query_captions: Sequence[str],
    query_ids: Sequence[str],
    encoders: Sequence[str] | None = None,
    experts: Sequence[str] | None = None,
) -> Path:
    """One dataset's `<Dataset>.h5` of the gallery inputs (layout in the module docstring).

    Args:
        path: the file to write.
        store_file: the dataset's expert store.
        split: the phase's split in the store.
        query_captions: the store's caption id behind each published row, in the published order
            (`challenge.publication.published_source_query_ids`).
        query_ids: the published ids of those rows, in the same order.
        encoders, experts: what to include; every text encoder and expert of the store when None.
    Raises:
        StoreFormatError: a caption is not the store's, or an encoder or expert is missing.
    """
    if len(query_captions) != len(query_ids):
        raise ValueError(f"{len(query_captions)} captions for {len(query_ids)} published ids")
    path = Path(path)
    with ExpertStore(store_file) as store:
        videos = store.split_videos(split)
        index = {c: i for i, c in enumerate(store.caption_ids)}
        missing = [c for c in query_captions if c not in index]
        if missing:
            raise StoreFormatError(
                f"{store.dataset}: {len(missing)} query ids are not captions, e.g. {missing[0]!r}"
            )
        captions = np.array([index[c] for c in query_captions], dtype=np.int64)
        with h5py.File(path, "w") as h5:
            h5.attrs["dataset"] = store.dataset
            h5.attrs["split"] = split
            h5.create_dataset(
                "videos", data=np.array([store.video_ids[v] for v in videos], dtype=object), dtype=_STR
            )
            h5.create_dataset("queries", data=np.array(list(query_ids), dtype=object), dtype=_STR)
            group = h5.create_group("experts")
            for key in experts or sorted(store.experts):
                feats, available = store.read_expert(key, videos)
                sub = group.create_group(key)
                sub.attrs["variable"] = store.experts[key].variable
                sub.create_dataset("features", data=feats.astype(np.float16))
                sub.create_dataset("available", data=available.astype(bool))
            text = h5.create_group("text")
            for encoder in encoders or sorted(store.text_dims):
                offsets = [np.zeros(1, np.int64)]
                total = 0
                tokens = text.create_group(encoder).create_dataset(
                    "tokens",
                    shape=(0, store.text_dims[encoder]),
                    maxshape=(None, store.text_dims[encoder]),
                    dtype=np.float16,
                    chunks=(256, store.text_dims[encoder]),
                )
                for lo in range(0, len(captions), _TEXT_CHUNK):
                    part, part_offsets = store.read_text(encoder, captions[lo : lo + _TEXT_CHUNK])
                    tokens.resize(total + len(part), axis=0)
                    tokens[total:] = part
                    offsets.append(part_offsets[1:] + total)
                    total += len(part)
                text[encoder].create_dataset("offsets", data=np.concatenate(offsets))
    return path


def write_phase_inputs(
    out_path: str | os.PathLike[str],
    *,
    store_dir: str | os.PathLike[str],
    split: str,
    query_captions: Mapping[str, Sequence[str]],
    query_ids: Mapping[str, Sequence[str]],
    encoders: Sequence[str] | None = None,
    experts: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """The gallery-inputs zip of a code phase: `<Dataset>.h5` for every dataset of `query_captions`.

    Args:
        out_path: the `.zip` to write.
        store_dir: directory of `<Dataset>.h5` expert stores.
        split: the phase's split in the stores.
        query_captions: dataset -> the store caption id of each published row, in the published order.
        query_ids: dataset -> the published ids, in the same order.
        encoders: the text encoders to include (every one of each store when None).
        experts: dataset -> the experts to include (every one of its store when None or not listed).
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    with (
        tempfile.TemporaryDirectory(prefix="pentathlon-inputs-") as work,
        zipfile.ZipFile(partial, "w") as zf,
    ):
        for dataset, captions in query_captions.items():
            name = canonical_dataset_name(dataset)
            h5 = write_dataset_inputs(
                Path(work) / f"{name}.h5",
                store_file=store_path(store_dir, name),
                split=split,
                query_captions=captions,
                query_ids=query_ids[dataset],
                encoders=encoders,
                experts=(experts or {}).get(dataset),
            )
            with open(h5, "rb") as src, zf.open(_member(f"{name}.h5"), "w", force_zip64=True) as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            h5.unlink()
    os.replace(partial, out_path)
    return out_path


def write_program(out_path: str | os.PathLike[str], *, results: Mapping[str, TrainResult]) -> Path:
    """The program `.zip` of trained models: main.py, the model code and `weights/<Dataset>.pt` each.

    Args:
        out_path: the `.zip` to write.
        results: dataset (any accepted spelling) -> its trained model.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    with (
        tempfile.TemporaryDirectory(prefix="pentathlon-program-") as work,
        zipfile.ZipFile(partial, "w") as zf,
    ):
        zf.writestr(_member("main.py"), PROGRAM_MAIN.read_bytes())
        for source in sorted(MODEL_CODE.glob("*.py")):
            zf.writestr(_member(f"model/{source.name}"), source.read_bytes())
        for dataset, result in results.items():
            name = canonical_dataset_name(dataset)
            weights = save_checkpoint(Path(work) / f"{name}.pt", result)
            zf.write(weights, f"weights/{name}.pt")
    os.replace(partial, out_path)
    return out_path
