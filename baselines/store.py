"""The expert-feature store: one HDF5 file per dataset, the only input the baselines train on.

Layout (every array is indexed by the store's own video or caption order)::

    /                           attrs: format, version, dataset, source, max_captions, fused_captions
    /videos                     (N,) str   video ids
    /splits/<name>              (n,) str   video ids of a split, in the split's order
    /experts/<key>/features     (N, D) float16 pooled features, or (N, T, D) variable-length ones
    /experts/<key>/mask         (N, T) uint8, variable-length experts only: 1 for real tokens (a prefix)
    /experts/<key>/available    (N,) uint8  0 where the expert is missing for the video (features are 0 there)
                                attrs: dim, kind ("fixed" | "variable"), flaky
    /captions/ids               (C,) str   caption ids; they are the query ids of the ground truth
    /captions/video             (C,) int32 index into /videos; a video's captions are contiguous, in order
    /captions/text              (C,) str   optional: what each caption says (UTF-8), for phases that publish it
    /text/<encoder>/tokens      (T_total, D) float16 word-level text features of all captions, concatenated
    /text/<encoder>/offsets     (C + 1,) int64 caption c owns tokens[offsets[c]:offsets[c + 1]]
                                attrs: dim
    /hidden/<name>              (N, ...) optional, synthetic stores only: the generator's hidden per-video
                                variables (category, recording condition, ...), for analysis; never a model input

Missing experts are explicit: `available == 0` and zero features, never NaN (the converter turns the CE
release's NaN markers into this). For DiDeMo and ActivityNet (`fused_captions`) a caption is the whole
paragraph of a video, as the CE code feeds it to the model.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np

from evaluation import h5safe
from evaluation.caption_audit import Annotation
from evaluation.datasets import canonical_dataset_name
from evaluation.ground_truth import DatasetTruth, dataset_truth

STORE_FORMAT = "pentathlon-expert-store"
STORE_VERSION = 1
_STR = h5py.string_dtype("utf-8")
CAPTION_TEXT_COUNT = (
    "The store got {texts} caption texts for {captions} captions; expected exactly one text per caption."
)


class StoreFormatError(ValueError):
    """The file is not a valid expert store (or lacks what the caller asked for)."""


@dataclass(frozen=True)
class ExpertInfo:
    """What the store holds for one expert.

    Attributes:
        key: expert name, e.g. ``imagenet.senet154.0`` or ``ocr``.
        dim: feature dimension D.
        variable: True for (T, D) token sequences (ocr, audio, speech), False for pooled (D,) vectors.
        flaky: True when the expert can be missing for a video (face, ocr, audio, speech).
        max_len: T of the stored padded sequences (1 for pooled experts).
    """

    key: str
    dim: int
    variable: bool
    flaky: bool
    max_len: int = 1


def store_path(store_dir: str | os.PathLike[str], dataset: str) -> Path:
    """Path of a dataset's store inside a store directory (``<dir>/<Dataset>.h5``)."""
    return Path(store_dir) / f"{canonical_dataset_name(dataset)}.h5"


def _strings(values: list[str] | tuple[str, ...] | np.ndarray) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=object)


class StoreWriter:
    """Writes a store file. Used by the synthetic generator and the CE-release converter.

    Text features can be written in chunks (`text_writer`), so a full-scale store never has to sit
    in memory at once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        dataset: str,
        videos: list[str] | tuple[str, ...],
        splits: Mapping[str, list[str] | tuple[str, ...]],
        source: str,
        fused_captions: bool = False,
    ) -> None:
        self.path = Path(path)
        self.dataset = canonical_dataset_name(dataset)
        self.num_videos = len(videos)
        if len(set(videos)) != len(videos):
            raise StoreFormatError("video ids must be unique")
        known = set(videos)
        for name, ids in splits.items():
            missing = [v for v in ids if v not in known]
            if missing:
                raise StoreFormatError(
                    f"split {name!r} names {len(missing)} unknown videos, e.g. {missing[0]!r}"
                )
            if len(set(ids)) != len(ids):
                raise StoreFormatError(f"split {name!r} lists a video twice")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed on close: a killed writer never leaves a store that
        # looks complete, and readers of an older store at the same path keep theirs.
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._h5 = h5py.File(self._partial, "w")
        attrs = self._h5.attrs
        attrs["format"] = STORE_FORMAT
        attrs["version"] = STORE_VERSION
        attrs["dataset"] = self.dataset
        attrs["source"] = source
        attrs["fused_captions"] = bool(fused_captions)
        self._h5.create_dataset("videos", data=_strings(videos), dtype=_STR)
        group = self._h5.create_group("splits")
        for name, ids in splits.items():
            group.create_dataset(name, data=_strings(ids), dtype=_STR)
        self._h5.create_group("experts")
        self._h5.create_group("text")
        self.num_captions: int | None = None

    def add_expert(
        self,
        key: str,
        features: np.ndarray,
        available: np.ndarray,
        *,
        flaky: bool,
        mask: np.ndarray | None = None,
    ) -> None:
        """Add one expert.

        Args:
            key: expert name.
            features: (N, D) pooled or (N, T, D) variable-length features; rows of missing videos are
                ignored and stored as zeros.
            available: (N,) bool, False where the expert is missing for the video.
            flaky: whether the expert may be missing (informational; `available` is authoritative).
            mask: (N, T) bool token mask for variable-length features, a prefix per row.
        Raises:
            StoreFormatError: shapes disagree, NaN or infinite values in available rows, bad mask.
        """
        features = np.asarray(features)
        available = np.asarray(available, dtype=bool)
        if features.shape[0] != self.num_videos or available.shape != (self.num_videos,):
            raise StoreFormatError(
                f"expert {key!r}: expected {self.num_videos} rows, got features "
                f"{features.shape} and availability {available.shape}"
            )
        variable = features.ndim == 3
        if not variable and features.ndim != 2:
            raise StoreFormatError(
                f"expert {key!r}: features must be (N, D) or (N, T, D), got {features.shape}"
            )
        if variable:
            if mask is None or np.asarray(mask).shape != features.shape[:2]:
                raise StoreFormatError(f"expert {key!r}: variable-length features need a (N, T) mask")
            mask = np.asarray(mask, dtype=bool)
            lengths = mask.sum(axis=1)
            if not np.array_equal(mask, np.arange(mask.shape[1])[None, :] < lengths[:, None]):
                raise StoreFormatError(f"expert {key!r}: each mask row must be a prefix of ones")
        elif mask is not None:
            raise StoreFormatError(f"expert {key!r}: a mask only applies to variable-length features")
        stored = np.where(available.reshape((-1,) + (1,) * (features.ndim - 1)), features, 0).astype(
            np.float16
        )
        if not np.isfinite(stored).all():
            raise StoreFormatError(
                f"expert {key!r}: non-finite values in available rows (or float16 overflow)"
            )
        group = self._h5["experts"].create_group(key)
        group.attrs["dim"] = int(features.shape[-1])
        group.attrs["kind"] = "variable" if variable else "fixed"
        group.attrs["flaky"] = bool(flaky)
        # Padded token sequences are mostly zeros: lzf (fast, always available in h5py) shrinks them a lot.
        group.create_dataset(
            "features",
            data=stored,
            compression="lzf" if variable else None,
            chunks=(min(64, len(stored)),) + stored.shape[1:] if variable and len(stored) else None,
        )
        group.create_dataset("available", data=available.astype(np.uint8))
        if variable and mask is not None:  # a variable-length expert's mask was checked above
            group.create_dataset("mask", data=mask.astype(np.uint8))

    def set_captions(
        self,
        ids: list[str] | tuple[str, ...],
        video: np.ndarray,
        text: list[str] | tuple[str, ...] | None = None,
    ) -> None:
        """Declare the captions: ids, the index of each caption's video (grouped, in order) and,
        optionally, each caption's raw text (stored as UTF-8 under /captions/text)."""
        video = np.asarray(video, dtype=np.int64)
        if len(ids) != len(video) or len(set(ids)) != len(ids):
            raise StoreFormatError("caption ids must be unique and one per caption")
        if text is not None and len(text) != len(ids):
            raise StoreFormatError(CAPTION_TEXT_COUNT.format(texts=len(text), captions=len(ids)))
        if video.size and (video.min() < 0 or video.max() >= self.num_videos or np.any(np.diff(video) < 0)):
            raise StoreFormatError(
                "caption videos must be valid indices, sorted so a video's captions are contiguous"
            )
        counts = np.bincount(video, minlength=self.num_videos)
        group = self._h5.create_group("captions")
        group.create_dataset("ids", data=_strings(ids), dtype=_STR)
        group.create_dataset("video", data=video.astype(np.int32))
        if text is not None:
            group.create_dataset("text", data=_strings(text), dtype=_STR)
        self._h5.attrs["max_captions"] = int(counts.max()) if counts.size else 0
        self.num_captions = len(ids)

    def add_hidden(self, **arrays: np.ndarray) -> None:
        """Per-video variables of a synthetic generator under /hidden (for analysis; models never read them)."""
        group = self._h5.require_group("hidden")
        for key, values in arrays.items():
            values = np.asarray(values)
            if values.shape[:1] != (self.num_videos,):
                raise StoreFormatError(f"hidden variable {key!r} needs one value per video")
            group.create_dataset(key, data=values)

    def text_writer(self, encoder: str, *, dim: int, lengths: np.ndarray) -> TextWriter:
        """Start the word-level features of one text encoder; `lengths` = tokens per caption (>= 1)."""
        if self.num_captions is None:
            raise StoreFormatError("call set_captions before adding text features")
        lengths = np.asarray(lengths, dtype=np.int64)
        if lengths.shape != (self.num_captions,) or (lengths < 1).any():
            raise StoreFormatError("every caption needs at least one token vector")
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        group = self._h5["text"].create_group(encoder)
        group.attrs["dim"] = int(dim)
        group.create_dataset("offsets", data=offsets)
        tokens = group.create_dataset(
            "tokens",
            shape=(int(offsets[-1]), dim),
            dtype=np.float16,
            chunks=(min(max(int(offsets[-1]), 1), 4096), dim),
        )
        return TextWriter(tokens, offsets)

    def close(self) -> None:
        """Finish the store: it appears at `path` only now."""
        self._h5.close()
        if self._partial.exists():
            os.replace(self._partial, self.path)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
            return
        self._h5.close()  # never publish a half-written store
        self._partial.unlink(missing_ok=True)


class TextWriter:
    """Sequential writer of one encoder's token features, caption range by caption range."""

    def __init__(self, tokens: h5py.Dataset, offsets: np.ndarray) -> None:
        self._tokens = tokens
        self._offsets = offsets
        self._next = 0

    def write(self, features: list[np.ndarray]) -> None:
        """Append the (n_tokens, D) features of the next captions, in caption order."""
        if not features:
            return
        start, stop = self._next, self._next + len(features)
        expected = np.diff(self._offsets[start : stop + 1])
        got = np.array([len(f) for f in features])
        if stop >= len(self._offsets) or not np.array_equal(expected, got):
            raise StoreFormatError("text features disagree with the declared token counts")
        block = np.concatenate(features).astype(np.float16)
        if not np.isfinite(block).all():
            raise StoreFormatError("non-finite text features")
        self._tokens[self._offsets[start] : self._offsets[stop]] = block
        self._next = stop

    @property
    def done(self) -> bool:
        return self._next == len(self._offsets) - 1


class ExpertStore:
    """Read-only view of a store file. Use as a context manager or call `close()`.

    Feature reads return float16 numpy arrays (the stored precision); callers cast per batch.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._safe = h5safe.SafeFile(self.path)
        except h5safe.HDF5RuleError:
            raise StoreFormatError(f"{self.path}: not a readable HDF5 store") from None
        self._h5 = self._safe.root
        try:
            # The HDF5 rule (docs/design.md, section 5) on every object, once: later reads go through
            # this handle, to objects checked here.
            for _ in h5safe.walk(self._h5):
                pass
            self._load_index()
        except h5safe.HDF5RuleError as exc:
            self._safe.close()
            raise StoreFormatError(f"{self.path}: {exc.detail}") from None
        except Exception:
            self._safe.close()
            raise

    def _load_index(self) -> None:
        h5 = self._h5
        if h5.attrs.get("format") != STORE_FORMAT:
            raise StoreFormatError(f"{self.path}: not a {STORE_FORMAT} file")
        if int(h5.attrs.get("version", -1)) != STORE_VERSION:
            raise StoreFormatError(
                f"{self.path}: store version {h5.attrs.get('version')} is not {STORE_VERSION}"
            )
        for key in ("videos", "splits", "experts", "captions", "text"):
            if key not in h5:
                raise StoreFormatError(f"{self.path}: missing /{key}")
        self.dataset: str = str(h5.attrs["dataset"])
        self.source: str = str(h5.attrs.get("source", ""))
        self.fused_captions = bool(h5.attrs.get("fused_captions", False))
        self.video_ids: tuple[str, ...] = tuple(h5["videos"].asstr()[()])
        self._video_index = {v: i for i, v in enumerate(self.video_ids)}
        self.caption_ids: tuple[str, ...] = tuple(h5["captions/ids"].asstr()[()])
        self.caption_video = h5["captions/video"][()].astype(np.int64)
        # what each caption says, aligned with caption_ids; None for stores written without it
        self.caption_text: tuple[str, ...] | None = (
            tuple(h5["captions/text"].asstr()[()]) if "text" in h5["captions"] else None
        )
        counts = np.bincount(self.caption_video, minlength=len(self.video_ids))
        self.caption_start = np.concatenate([[0], np.cumsum(counts)])[:-1]
        self.caption_count = counts
        self.max_captions = int(h5.attrs.get("max_captions", counts.max(initial=0)))
        self.experts: dict[str, ExpertInfo] = {}
        for key, group in h5["experts"].items():
            feats = group["features"]
            variable = group.attrs["kind"] == "variable"
            self.experts[key] = ExpertInfo(
                key=key,
                dim=int(group.attrs["dim"]),
                variable=variable,
                flaky=bool(group.attrs["flaky"]),
                max_len=int(feats.shape[1]) if variable else 1,
            )
        self.text_dims: dict[str, int] = {k: int(g.attrs["dim"]) for k, g in h5["text"].items()}
        self._text_offsets: dict[str, np.ndarray] = {}

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self._h5["splits"].keys())

    def split_videos(self, split: str) -> np.ndarray:
        """Store indices of a split's videos, in the split's order."""
        if split not in self._h5["splits"]:
            raise StoreFormatError(f"{self.path}: no split {split!r}; the store has {', '.join(self.splits)}")
        ids = self._h5["splits"][split].asstr()[()]
        try:
            return np.array([self._video_index[v] for v in ids], dtype=np.int64)
        except KeyError as exc:
            raise StoreFormatError(
                f"{self.path}: split {split!r} names unknown video {exc.args[0]!r}"
            ) from None

    def split_captions(
        self, split: str, *, max_per_video: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Captions of a split in the canonical query order: video-major (split order), then caption order.

        Args:
            split: split name.
            max_per_video: keep only each video's first captions (CE validates MSRVTT on caption 0).
        Returns:
            (caption indices into the store, index of each caption's video within the split).
        """
        videos = self.split_videos(split)
        counts = self.caption_count[videos]
        if max_per_video is not None:
            counts = np.minimum(counts, max_per_video)
        if (counts == 0).any():
            raise StoreFormatError(f"{self.path}: split {split!r} has a video without captions")
        owner = np.repeat(np.arange(len(videos)), counts)
        first = np.repeat(self.caption_start[videos], counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return first + within, owner

    def read_expert(self, key: str, videos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features and availability of one expert for the given store video indices.

        Returns:
            features: (n, D) or (n, T, D) float16, zero where the expert is missing.
            available: (n,) bool.
        """
        if key not in self.experts:
            raise StoreFormatError(
                f"{self.path}: no expert {key!r}; the store has {', '.join(sorted(self.experts))}"
            )
        group = self._h5["experts"][key]
        return _take(group["features"], videos), _take(group["available"], videos).astype(bool)

    def read_text(self, encoder: str, captions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Word-level features of the given captions, concatenated.

        Returns:
            tokens: (sum of lengths, D) float16; offsets: (n + 1,) int64 into `tokens`.
        """
        if encoder not in self.text_dims:
            raise StoreFormatError(
                f"{self.path}: no text encoder {encoder!r}; the store has {', '.join(sorted(self.text_dims))}"
            )
        offsets = self._text_offsets.get(encoder)
        if offsets is None:
            offsets = self._text_offsets[encoder] = self._h5["text"][encoder]["offsets"][()]
        captions = np.asarray(captions, dtype=np.int64)
        starts, stops = offsets[captions], offsets[captions + 1]
        lengths = stops - starts
        new_offsets = np.concatenate([[0], np.cumsum(lengths)])
        data = self._h5["text"][encoder]["tokens"]
        if captions.size == 0:
            return np.zeros((0, data.shape[1]), np.float16), new_offsets
        if np.all(np.diff(captions) == 1):  # contiguous: one slice read
            return data[starts[0] : stops[-1]], new_offsets
        lo, hi = int(starts.min()), int(stops.max())
        if hi - lo <= 4 * int(lengths.sum()) + 65536:  # dense enough: read the span once, gather in memory
            span = data[lo:hi]
            rows = np.concatenate([np.arange(s, e) for s, e in zip(starts - lo, stops - lo, strict=True)])
            return span[rows], new_offsets
        return np.concatenate([data[s:e] for s, e in zip(starts, stops, strict=True)]), new_offsets

    def hidden(self, name: str, videos: np.ndarray) -> np.ndarray | None:
        """A synthetic generator's hidden per-video variable (e.g. ``condition``) for store video indices;
        None when the store has none (real stores never do). For analysis only, never a model input."""
        group = self._h5.get("hidden")
        if group is None or name not in group:
            return None
        return _take(group[name], np.asarray(videos, dtype=np.int64))

    def close(self) -> None:
        self._safe.close()

    def __enter__(self) -> ExpertStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _take(node: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """Rows of an HDF5 dataset in any order (h5py wants sorted, unique fancy indices)."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return np.zeros((0,) + node.shape[1:], node.dtype)
    taken: np.ndarray  # h5py ships no types: its reads are numpy arrays
    if np.all(np.diff(rows) == 1):
        taken = node[rows[0] : rows[-1] + 1]
        return taken
    lo, hi = int(rows.min()), int(rows.max()) + 1
    if hi - lo <= 4 * rows.size + 1024:
        taken = node[lo:hi][rows - lo]
        return taken
    unique, inverse = np.unique(rows, return_inverse=True)
    taken = node[unique][inverse]
    return taken


def split_truth(store_path: str | os.PathLike[str], split: str) -> DatasetTruth:
    """The hidden ground truth of a split, derived from the store the baselines train on.

    Videos are in the split's order; query ids are caption ids in the canonical order (video-major,
    then caption). When the dataset has several captions per video, the grouped layout is declared
    with `query_masks` of shape (V, K), K being the dataset's largest caption count. When the store
    holds the captions' text, the truth carries it as `query_text` (what each query says).

    Args:
        store_path: a store file (``<store_dir>/<Dataset>.h5``).
        split: split name, e.g. ``"val"`` or ``"test"``.
    Raises:
        StoreFormatError: the store or the split is missing or malformed.
    """
    with ExpertStore(store_path) as store:
        videos = store.split_videos(split)
        captions, owner = store.split_captions(split)
        masks = None
        if store.max_captions > 1:
            counts = store.caption_count[videos]
            masks = np.arange(store.max_captions)[None, :] < counts[:, None]
        text = store.caption_text
        return dataset_truth(
            name=store.dataset,
            videos=[store.video_ids[v] for v in videos],
            query_ids=[store.caption_ids[c] for c in captions],
            query_video=owner,
            query_masks=masks,
            query_text=None if text is None else [text[c] for c in captions],
        )


# ------------------------------------------------------------------------------------------ public annotations

#: Beside a converted store: its caption -> video table, what the release publishes of the captions.
ANNOTATIONS_SUFFIX = ".annotations.tsv"


def annotations_path(store_dir: str | os.PathLike[str], dataset: str) -> Path:
    """Path of a dataset's public-annotations table beside its store (``<dir>/<Dataset>.annotations.tsv``)."""
    return Path(store_dir) / f"{canonical_dataset_name(dataset)}{ANNOTATIONS_SUFFIX}"


def store_annotations(store_path: str | os.PathLike[str]) -> Iterator[Annotation]:
    """Every caption of a store (all splits) with its video: the public annotations the store's captions
    stand for, for the caption audit (`evaluation.caption_audit`). Nothing for a store without text."""
    with ExpertStore(store_path) as store:
        if store.caption_text is None:
            return
        for text, video in zip(store.caption_text, store.caption_video.tolist(), strict=True):
            yield Annotation(caption=text, video_id=store.video_ids[video], dataset=store.dataset)


def write_annotations(path: str | os.PathLike[str], rows: Iterable[Annotation]) -> int:
    """Write a caption -> video table in the TSV format `evaluation.caption_audit.read_annotations`
    reads (header ``dataset<TAB>video_id<TAB>caption``; tabs and line breaks inside a caption become
    spaces). Returns the number of rows."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("dataset\tvideo_id\tcaption\n")
        for row in rows:
            out.write(f"{row.dataset or ''}\t{row.video_id}\t{' '.join(row.caption.split())}\n")
            count += 1
    return count
