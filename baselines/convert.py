"""Convert a Collaborative Experts feature release (pickles) into an expert store (HDF5).

The CE releases (docs/baselines-reference.md section 1) ship features as Python pickles: `video_id -> array` for
video experts (a scalar NaN marks a missing expert), `video_id -> [per-caption (n_tokens, D) arrays]`
for text, `video_id -> [token lists]` raw captions, and plain-text split lists. Unpickling can run
arbitrary code, so this converter refuses to read pickles unless the organiser passes
`trust_pickles=True` (`--trust-pickles` on the command line), having obtained the files from a source
they trust. Even then, only the classes such files contain (numpy arrays and scalar types, plain
containers and the reference's float16 `ExpertStore`) may be unpickled.

Default layout is the CVPR 2020 challenge's: `challenge-release-1` holds every video feature and the
text of train / val / public_server_val, `challenge-release-2` the test lists and text. The splits map
to store splits as train_list.txt -> train, val_list.txt -> dev (checkpoint selection),
public_server_val.txt -> val and public_server_test.txt -> test. Every text encoder found under
`aggregated_text_feats/` is converted (MSRVTT: openai, w2v, bertxl; MSVD and YouCook2: openai, w2v;
DiDeMo and ActivityNet: openai only), and the raw captions (`raw-captions.pkl`, ActivityNet's
`raw-captions-train-val_1.pkl`) become the store's caption text and, beside the store, its public
annotations table (`<Dataset>.annotations.tsv`, for the caption audit of a phase's ground truth). The release's own quirks: YouCook2's
frame-level experts use stride 5; ActivityNet has no DenseNet-161 (its config does not ask for it);
MSVD's full release keys its per-split text files by YouTube ids, mapped back with
`dict_youtube_mapping.pkl` (whichever way round it is given). Any other layout works with explicit
`splits`, `expert_paths` and `text_files`.
"""

from __future__ import annotations

import _compat_pickle
import io
import logging
import math
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from evaluation.datasets import canonical_dataset_name

from .config import load_config
from .store import StoreWriter, annotations_path, store_annotations, store_path, write_annotations

log = logging.getLogger("baselines")

PICKLE_REFUSAL = (
    "refusing to unpickle {path}: pickles can execute arbitrary code. If these are CE feature "
    "files from a source you trust, re-run with --trust-pickles (trust_pickles=True)."
)
FLAKY = ("face", "ocr", "audio", "speech")
VARIABLE = ("ocr", "audio", "speech")
DEFAULT_MAX_TOKENS = 128


def feature_path(
    feat_type: str,
    model_name: str,
    *,
    fps: int | None = None,
    pixel_dim: int | None = None,
    stride: int | None = None,
    offset: int | None = None,
    inner_stride: int | None = None,
    num_segments: int | None = None,
    agg: str = "avg",
) -> str:
    """Relative path of an aggregated feature file by CE's naming rule (docs/baselines-reference.md section 1.2).

    >>> feature_path("imagenet", "senet154", fps=25, pixel_dim=256, stride=1, offset=0)
    'aggregated_imagenet_25fps_256px_stride1_offset0/senet154-avg.pickle'
    >>> feature_path("i3d", "i3d", fps=25, pixel_dim=256, stride=25, offset=0, inner_stride=1)
    'aggregated_i3d_25fps_256px_stride25_offset0_inner_stride1/i3d-avg.pickle'
    """
    folder = "aggregated_" + feat_type.replace("-", "_")
    if feat_type not in ("ocr", "speech", "audio"):
        folder += f"_{fps}fps_{pixel_dim}px_stride{stride}"
    for key, value in (("offset", offset), ("inner_stride", inner_stride), ("num_segments", num_segments)):
        if value is not None:
            folder += f"_{key}{value}"
    return f"{folder}/{model_name}-{agg}.pickle"


# Sampling parameters of the pooled experts (docs/baselines-reference.md 1.3). The two examples of section 1.2 are
# exact; for the others the offset / inner_stride suffixes are this converter's best reading of the
# naming rule, so check them against your release and override with `expert_paths` where they differ.
class _Pooling(TypedDict, total=False):
    """The keyword arguments of `feature_path` that name an expert's pooling."""

    fps: int
    pixel_dim: int
    stride: int
    offset: int
    inner_stride: int
    num_segments: int


_POOLED: dict[str, tuple[str, str, _Pooling]] = {
    "imagenet.senet154.0": ("imagenet", "senet154", _Pooling(fps=25, pixel_dim=256, stride=1, offset=0)),
    "imagenet.resnext101_32x48d.0": (
        "imagenet",
        "resnext101_32x48d",
        _Pooling(fps=25, pixel_dim=256, stride=1, offset=0),
    ),
    "scene.densenet161.0": ("scene", "densenet161", _Pooling(fps=25, pixel_dim=256, stride=1, offset=0)),
    "i3d.i3d.0": ("i3d", "i3d", _Pooling(fps=25, pixel_dim=256, stride=25, offset=0, inner_stride=1)),
    "r2p1d.r2p1d-ig65m.0": (
        "r2p1d",
        "r2p1d-ig65m",
        _Pooling(fps=30, pixel_dim=256, stride=32, offset=0, inner_stride=1),
    ),
    "r2p1d.r2p1d-ig65m-kinetics.0": (
        "r2p1d",
        "r2p1d-ig65m-kinetics",
        _Pooling(fps=30, pixel_dim=256, stride=32, offset=0, inner_stride=1),
    ),
    "s3dg.s3dg.0": ("s3dg", "s3dg", _Pooling(fps=10, pixel_dim=256, stride=16, offset=0, inner_stride=1)),
}
# Custom paths of the variable-length and face experts (docs/baselines-reference.md 1.3).
_CUSTOM = {
    "MSRVTT": {
        "audio": "aggregated_audio_feats/Audio_MSRVTT_new.pickle",
        "speech": "aggregated_speech/speech-w2v.pickle",
        "ocr": "aggregated_ocr_feats/ocr-raw.pickle",
        "face": "aggregated_face_feats/facefeats-avg.pickle",
    },
    "MSVD": {"ocr": "aggregated_ocr_feats/ocr-w2v.pickle", "face": "aggregated_face_feats/face-avg.pickle"},
    "DiDeMo": {
        "audio": "aggregated_audio_feats/vggish-audio-raw.pickle",
        "speech": "aggregated_speech_feats/stt_w2v.pickle",
        "ocr": "aggregated_ocr_feats/ocr-feats.pkl",
        "face": "aggregated_facefeats_25fps_256px_stride1/face-avg.pickle",
    },
    "ActivityNet": {
        "audio": "aggregated_audio/vggish-audio-raw.pickle",
        "speech": "aggregated_speech/goog_w2v-speech-raw.pickle",
        "ocr": "aggregated_ocr_feats/ocr-w2v.pkl",
        "face": "aggregated_facefeats_25fps_256px_stride1/face-avg.pickle",
    },
    "YouCook2": {"audio": "aggregated_audio/vggish-raw.pickle", "ocr": "aggregated_ocr_feats/ocr-w2v.pkl"},
}
# YouCook2's frame-level experts are sampled every 5th frame (the release's
# aggregated_imagenet_25fps_256px_stride5_offset0 folder; the reference's YouCook2 feat_aggregation).
_YOUCOOK2_STRIDE5 = ("imagenet.senet154.0", "imagenet.resnext101_32x48d.0", "scene.densenet161.0")
CHALLENGE_SPLITS = {
    "train": "train_list.txt",
    "dev": "val_list.txt",
    "val": "public_server_val.txt",
    "test": "public_server_test.txt",
}
TEXT_DIR = "aggregated_text_feats"
# Raw captions: video -> list of token lists (ActivityNet names its file after the splits it covers).
RAW_CAPTION_FILES = ("raw-captions.pkl", "raw-captions-train-val_1.pkl")
VIDEO_ID_MAP_UNMATCHED = (
    "The video id map {path} matches neither way: none of its keys or values are keys of the text "
    "features; expected a map between the text files' keys and the split lists' video ids (MSVD's "
    "dict_youtube_mapping.pkl maps video ids to YouTube ids)."
)
RAW_CAPTIONS_MISMATCH = (
    "{dataset}: video {video!r} has {raw} raw captions but {features} captions of text features; "
    "expected one raw caption per feature caption, so no caption text was stored."
)


def release_text_files(roots: Sequence[Path]) -> dict[str, list[str]]:
    """Encoder -> release-relative text feature files, for every encoder of the releases' text folder.

    `<encoder>.pickle` / `<encoder>.pkl` is the challenge layout; `<encoder>-caption-<split>.pkl` (one
    file per split, as in MSVD's full release) is grouped under its encoder.
    """
    found: dict[str, list[str]] = {}
    for root in roots:
        folder = root / TEXT_DIR
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix not in (".pickle", ".pkl") or not path.is_file():
                continue
            encoder = path.stem.split("-caption-")[0]
            relative = f"{TEXT_DIR}/{path.name}"
            if relative not in found.setdefault(encoder, []):
                found[encoder].append(relative)
    return found


def orient_video_id_map(
    id_map: Mapping[str, str], text_keys: set[str], *, path: str | os.PathLike[str] = "the map"
) -> dict[str, str]:
    """The map as text key -> video id, whichever way round the file holds it.

    MSVD's `dict_youtube_mapping.pkl` maps video ids to YouTube ids while its text features are keyed
    by YouTube ids, so the map is inverted when its values, not its keys, are the text keys.

    Raises:
        ValueError: neither the keys nor the values meet the text keys (VIDEO_ID_MAP_UNMATCHED).
    """
    forward = len(text_keys & set(id_map))
    backward = len(text_keys & set(id_map.values()))
    if not forward and not backward:
        raise ValueError(VIDEO_ID_MAP_UNMATCHED.format(path=path))
    return dict(id_map) if forward >= backward else {v: k for k, v in id_map.items()}


def _caption_string(tokens: Any) -> str:
    """A raw caption (a list of tokens, or already a string) as one string, tokens joined by spaces."""
    if isinstance(tokens, str):
        return tokens.strip()
    return " ".join(str(t) for t in tokens).strip()


def default_expert_path(dataset: str, expert: str) -> str:
    """The release-relative file of an expert, or KeyError when there is no known default."""
    name = canonical_dataset_name(dataset)
    if expert in _CUSTOM.get(name, {}):
        return _CUSTOM[name][expert]
    feat_type, model_name, params = _POOLED[expert]
    if name == "YouCook2" and expert in _YOUCOOK2_STRIDE5:
        params = {**params, "stride": 5}
    return feature_path(feat_type, model_name, **params)


class PickleRefusedError(PermissionError):
    """A pickle was about to be read without the organiser's explicit trust."""


class LegacyExpertStore:
    """Stand-in for the reference's `utils.datastructures.ExpertStore` (also pickled as
    `datastructures.ExpertStore`): a key map over one float16 array; only its data is read."""

    keys: Any
    keymap: dict[str, int]
    store: np.ndarray

    def __getitem__(self, key: str) -> np.ndarray:
        row: np.ndarray = self.store[self.keymap[key]]
        return row

    def as_dict(self) -> dict[str, np.ndarray]:
        return {k: self.store[i] for k, i in self.keymap.items()}


class _ReleaseUnpickler(pickle.Unpickler):
    """Only what CE feature pickles hold: numpy arrays and scalars, builtin containers, ExpertStore."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy", "float16"),
        ("numpy", "float32"),
        ("numpy", "float64"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("builtins", "float"),
        ("builtins", "int"),
        ("builtins", "list"),
        ("builtins", "dict"),
        ("builtins", "set"),
        ("builtins", "object"),
        ("copyreg", "_reconstructor"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        # protocol 0-2 pickles name Python 2 modules (`__builtin__.set`): judge the Python 3 names
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if module in ("datastructures", "utils.datastructures") and name == "ExpertStore":
            return LegacyExpertStore
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name}: not part of a CE feature release"
        )


def load_release_pickle(path: str | os.PathLike[str], *, trust_pickles: bool) -> Any:
    """Unpickle a CE release file (latin1, restricted classes) if and only if the caller trusts it.

    Raises:
        PickleRefusedError: `trust_pickles` is False.
        pickle.UnpicklingError: the file holds a class a feature release never contains.
    """
    if not trust_pickles:
        raise PickleRefusedError(PICKLE_REFUSAL.format(path=path))
    with open(path, "rb") as handle:
        data = _ReleaseUnpickler(io.BufferedReader(handle), encoding="latin1").load()
    return data.as_dict() if isinstance(data, LegacyExpertStore) else data


def _is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    array = np.asarray(value, dtype=np.float32)
    return array.size == 0 or bool(np.isnan(array).all())


def _read_list(path: Path, dataset: str) -> list[str]:
    ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if dataset == "DiDeMo":  # the CE loader cuts DiDeMo ids at the first '.'
        ids = [v.split(".")[0] for v in ids]
    return ids


def _find(relative: str, roots: Sequence[Path]) -> Path | None:
    for root in roots:
        if (root / relative).is_file():
            return root / relative
    return None


def _expert_arrays(
    key: str, raw: Mapping[str, Any], videos: list[str], max_tokens: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Features, availability, optional mask and the number of videos absent from the file."""
    available = np.zeros(len(videos), dtype=bool)
    absent = 0
    sample = next((np.asarray(v, np.float32) for v in raw.values() if not _is_missing(v)), None)
    if sample is None:
        raise ValueError(f"expert {key!r}: every video is missing")
    dim = sample.shape[-1]
    variable = key in VARIABLE
    if variable:
        values = [raw.get(v) for v in videos]
        length = min(
            max_tokens,
            max((len(np.asarray(x).reshape(-1, dim)) for x in values if not _is_missing(x)), default=1),
        )
        feats = np.zeros((len(videos), length, dim), dtype=np.float16)
        mask = np.zeros((len(videos), length), dtype=bool)
    else:
        feats = np.zeros((len(videos), dim), dtype=np.float16)
        mask = None
    for i, video in enumerate(videos):
        if video not in raw:
            absent += 1
            continue
        value = raw[video]
        if _is_missing(value):
            continue
        array = np.asarray(value, dtype=np.float32)
        if variable:
            array = array.reshape(-1, dim)[:max_tokens]
            feats[i, : len(array)] = array
            mask[i, : len(array)] = True  # type: ignore[index]
        else:
            array = array.reshape(-1)
            if array.shape != (dim,):
                raise ValueError(
                    f"expert {key!r}, video {video!r}: expected {dim} values, got shape {np.shape(value)}"
                )
            feats[i] = array
        if np.isnan(array).any():
            raise ValueError(f"expert {key!r}, video {video!r}: NaN inside an otherwise present feature")
        available[i] = True
    return feats, available, mask, absent


def _caption_texts(
    name: str, videos: list[str], counts: list[int], raw: Mapping[str, Any], *, fused: bool
) -> list[str] | None:
    """Each caption's raw text in store caption order, or None when the release has none that fits.

    A raw caption is a token list; its tokens are joined with spaces. For fused datasets (DiDeMo,
    ActivityNet) a video's sentences are joined into its one paragraph caption.
    """
    if not raw:
        return None
    texts: list[str] = []
    for video, count in zip(videos, counts, strict=True):
        sentences = [_caption_string(c) for c in raw.get(video) or []]
        if fused and sentences:
            sentences = [" ".join(sentences)]
        if len(sentences) != count:
            log.warning(
                RAW_CAPTIONS_MISMATCH.format(dataset=name, video=video, raw=len(sentences), features=count)
            )
            return None
        texts.extend(sentences)
    return texts


def convert_release(
    *,
    dataset: str,
    release_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    trust_pickles: bool = False,
    test_release_dir: str | os.PathLike[str] | None = None,
    splits: Mapping[str, str] | None = None,
    experts: Sequence[str] | None = None,
    expert_paths: Mapping[str, str] | None = None,
    text_files: Mapping[str, str | Sequence[str]] | None = None,
    video_id_map: str | os.PathLike[str] | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> Path:
    """Convert one dataset's CE release into `<out_dir>/<Dataset>.h5`.

    Args:
        dataset: dataset name (any accepted spelling).
        release_dir: the release folder (e.g. `data/MSRVTT/challenge-release-1`).
        out_dir: the store directory.
        trust_pickles: must be True to read any pickle (see the module docstring).
        test_release_dir: a second release searched after `release_dir` (e.g. challenge-release-2).
        splits: store split name -> list file (relative to a release dir, or absolute); the challenge
            lists by default, skipping those that do not exist.
        experts: experts to convert; the dataset config's (`baselines/configs`) by default.
        expert_paths: expert -> release-relative feature file, overriding the defaults.
        text_files: text encoder -> release-relative pickle, or several (one per split, as MSVD's
            `openai-caption-{train,val,test}.pkl`); by default every encoder found under
            `aggregated_text_feats/` (`release_text_files`).
        video_id_map: optional pickle mapping between the text files' keys and the video ids, either
            way round (MSVD's `dict_youtube_mapping.pkl`: video id -> YouTube id; see
            `orient_video_id_map`).
        max_tokens: longest variable-length sequence kept (the models truncate further).
    Raises:
        PickleRefusedError: `trust_pickles` is False.
        FileNotFoundError: a list or feature file cannot be found; the message names it.
        ValueError: inconsistent contents (dimensions, NaN inside features, videos without captions).
    """
    name = canonical_dataset_name(dataset)
    if not trust_pickles:
        raise PickleRefusedError(PICKLE_REFUSAL.format(path=Path(release_dir)))
    roots = [Path(release_dir)] + ([Path(test_release_dir)] if test_release_dir else [])
    split_ids: dict[str, list[str]] = {}
    for split, relative in (splits or CHALLENGE_SPLITS).items():
        found = Path(relative) if Path(relative).is_absolute() else _find(relative, roots)
        if found is None or not found.is_file():
            if splits is None:
                log.warning(
                    "%s: no %s in %s; split %r skipped", name, relative, ", ".join(map(str, roots)), split
                )
                continue
            raise FileNotFoundError(f"split list {relative!r} not found under {', '.join(map(str, roots))}")
        split_ids[split] = _read_list(found, name)
    if not split_ids:
        raise FileNotFoundError(f"no split list found under {', '.join(map(str, roots))}")
    videos = list(dict.fromkeys(v for ids in split_ids.values() for v in ids))
    raw_id_map = load_release_pickle(video_id_map, trust_pickles=trust_pickles) if video_id_map else None
    # Text: every release's files for each encoder, merged (release-2 adds the test captions).
    encoders = (
        {e: [f] if isinstance(f, str) else list(f) for e, f in text_files.items()}
        if text_files
        else release_text_files(roots)
    )
    if not encoders:
        raise FileNotFoundError(f"no text features under {TEXT_DIR}/ in {', '.join(map(str, roots))}")
    text: dict[str, dict[str, list[np.ndarray]]] = {}
    id_map: dict[str, str] | None = None
    for encoder, relatives in encoders.items():
        merged: dict[str, list[np.ndarray]] = {}
        for root in roots:
            for relative in relatives:
                candidate = Path(relative) if Path(relative).is_absolute() else root / relative
                if candidate.is_file():
                    merged.update(load_release_pickle(candidate, trust_pickles=trust_pickles))
        if not merged:
            raise FileNotFoundError(
                f"no {encoder} text features ({' or '.join(relatives)}) under {', '.join(map(str, roots))}"
            )
        if raw_id_map is not None:
            id_map = id_map or orient_video_id_map(raw_id_map, set(merged), path=video_id_map or "")
            merged = {id_map.get(key, key): value for key, value in merged.items()}
        text[encoder] = merged
        log.info("%s: %s text features from %s", name, encoder, ", ".join(relatives))
    raw_captions: dict[str, Any] = {}
    for root in roots:
        for relative in RAW_CAPTION_FILES:
            if (root / relative).is_file():
                raw_captions.update(load_release_pickle(root / relative, trust_pickles=trust_pickles))
    if raw_captions and id_map is not None and not set(videos) & set(raw_captions):
        raw_captions = {id_map.get(k, k): v for k, v in raw_captions.items()}
    fused = name in ("DiDeMo", "ActivityNet")
    caption_tokens: dict[str, list[list[np.ndarray]]] = {}
    for encoder, merged in text.items():
        per_video = []
        for video in videos:
            captions = merged.get(video)
            if not captions:
                raise ValueError(f"{name}: video {video!r} has no {encoder} text features")
            arrays = [np.asarray(c, dtype=np.float32).reshape(-1, np.shape(c)[-1]) for c in captions]
            per_video.append([np.concatenate(arrays)] if fused else arrays)  # CE fuses paragraphs
        caption_tokens[encoder] = per_video
    counts = {e: [len(c) for c in per_video] for e, per_video in caption_tokens.items()}
    first = next(iter(counts.values()))
    if any(c != first for c in counts.values()):
        raise ValueError(f"{name}: text encoders disagree on the number of captions per video")
    caption_text = _caption_texts(name, videos, first, raw_captions, fused=fused)
    wanted = list(experts) if experts is not None else list(load_config(name)["data"]["experts"])
    with StoreWriter(
        store_path(out_dir, name),
        dataset=name,
        videos=videos,
        splits=split_ids,
        source=f"ce-release:{Path(release_dir).name}",
        fused_captions=fused,
    ) as writer:
        for key in wanted:
            relative = (expert_paths or {}).get(key) or default_expert_path(name, key)
            found = _find(relative, roots[:1])  # video features come from the first release only
            if found is None:
                raise FileNotFoundError(
                    f"expert {key!r}: {relative} not found in {roots[0]}; pass its path "
                    "with --expert KEY=RELATIVE_PATH"
                )
            raw = load_release_pickle(found, trust_pickles=trust_pickles)
            feats, available, mask, absent = _expert_arrays(key, raw, videos, max_tokens)
            if absent:
                log.warning("%s: %d videos absent from %s, marked missing", name, absent, relative)
            writer.add_expert(key, feats, available, flaky=key in FLAKY, mask=mask)
            log.info("%s: %s %s, %.1f%% available", name, key, feats.shape, 100 * available.mean())
        caption_video = np.repeat(np.arange(len(videos)), first)
        writer.set_captions(
            [f"{v}#{k}" for v, n in zip(videos, first, strict=True) for k in range(n)],
            caption_video,
            caption_text,
        )
        for encoder, per_video in caption_tokens.items():
            flat = [c for captions in per_video for c in captions]
            text_writer = writer.text_writer(
                encoder, dim=flat[0].shape[1], lengths=np.array([len(c) for c in flat])
            )
            for lo in range(0, len(flat), 10000):
                text_writer.write(flat[lo : lo + 10000])
    if caption_text is not None:
        # The release's captions are public: the table the caption audit looks a phase's texts up in.
        rows = write_annotations(
            annotations_path(out_dir, name), store_annotations(store_path(out_dir, name))
        )
        log.info("%s: %d public captions written to %s", name, rows, annotations_path(out_dir, name))
    return store_path(out_dir, name)
