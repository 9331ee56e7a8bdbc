"""The per-query ranks (and the relevance metrics' per-query values) a result keeps privately beside
its scores, packed small and unpacked with every field checked.

Layout (a compressed ``.npz``, read with ``allow_pickle=False``; docs/design.md section 5):
``format_version`` (int32 [2]; blobs of version 1, ranks only, still read), ``datasets`` (the names),
and per dataset i: ``t2v_i``, ``v2t_i`` (optional), ``groups_i`` (optional), ``topk_i`` as in
version 1, and, new in version 2, for each direction d with relevance metrics: ``d_metrics_i`` (the
metric keys), ``d_values_i`` ((metrics, rows) float32 per-row values in [0, 1]) and ``d_means_i``
(float64: each metric as the scorer reported it, exact, since the float32 values' mean need not be).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from .checks import MISSING_RANKS_MESSAGE, _check_topk
from .values import per_query_values

#: Version of the `pack_ranks` layout, stored in the blob: 2 adds the relevance metrics' values.
RANKS_FORMAT_VERSION = 2
#: The versions `unpack_ranks` reads.
READABLE_VERSIONS = (1, 2)
_DIRECTIONS = ("t2v", "v2t")


HALF_RANKS_MESSAGE = (
    "Ranks of dataset {dataset} ({direction}) are not whole or half numbers; expected tie-averaged ranks,"
    " which are multiples of 0.5."
)


RANKS_TOO_LARGE_MESSAGE = "Ranks of dataset {dataset} ({direction}) exceed 2**31; expected ranks below that."


PACKED_GROUPS_MESSAGE = "Groups of dataset {dataset} must be whole numbers from 0 below 2**32; got others."


UNREADABLE_RANKS_MESSAGE = (
    "The stored ranks could not be read ({reason}); expected a blob written by pack_ranks."
)


def _encode_ranks(ranks: Any, dataset: str, direction: str) -> np.ndarray:
    """Twice each rank as the smallest unsigned integer type, its largest value marking ``inf``."""
    ranks = np.asarray(ranks, dtype=np.float64)
    twice = ranks * 2.0
    finite = np.isfinite(twice)
    if np.isnan(twice).any() or (twice < 0).any() or (twice[finite] != np.rint(twice[finite])).any():
        raise ValueError(HALF_RANKS_MESSAGE.format(dataset=dataset, direction=direction))
    largest = float(twice[finite].max()) if finite.any() else 0.0
    for dtype in (np.uint16, np.uint32):
        infinite_code = np.iinfo(dtype).max
        if largest < infinite_code:
            return np.where(finite, twice, infinite_code).astype(dtype)
    raise ValueError(RANKS_TOO_LARGE_MESSAGE.format(dataset=dataset, direction=direction))


def _decode_ranks(codes: np.ndarray) -> np.ndarray:
    if codes.ndim != 1 or codes.dtype not in (np.uint16, np.uint32):
        raise ValueError(
            UNREADABLE_RANKS_MESSAGE.format(reason=f"ranks stored as {codes.dtype} {codes.shape}")
        )
    ranks = codes.astype(np.float64) / 2.0
    ranks[codes == np.iinfo(codes.dtype).max] = np.inf
    return ranks


def _pack_values(
    arrays: dict[str, np.ndarray], index: int, entry: Mapping[str, Any], rows: dict[str, int]
) -> None:
    """The version 2 members of one dataset: each direction's relevance metrics, values and exact means."""
    for direction in _DIRECTIONS:
        values = entry.get(f"{direction}_values")
        if not values or direction not in rows:
            continue
        found = per_query_values(
            values, entry.get(f"{direction}_means"), rows[direction], direction=direction
        )
        arrays[f"{direction}_metrics_{index}"] = np.array(found.keys, dtype=np.str_)
        arrays[f"{direction}_values_{index}"] = np.ascontiguousarray(found.matrix.T, dtype=np.float32)
        arrays[f"{direction}_means_{index}"] = np.array(
            [found.means[k] for k in found.keys], dtype=np.float64
        )


def pack_ranks(ranks: Mapping[str, Mapping[str, Any]]) -> bytes:
    """A submission's per-query ranks as a small compressed ``.npz`` blob, to store beside its result.

    Ranks are tie-averaged, so twice a rank is a whole number: it is stored as uint16 (uint32 for
    ranks of 32767.5 and more), the type's largest value standing for ``inf`` (not in a top-k list).
    Groups are stored as uint16 or uint32. float16 would not do: it holds halves exactly only up to
    1024, and MSRVTT's test ranks reach 2989. The MSRVTT test phase packs to about 150 KB.

    The relevance metrics' per-row values ("t2v_values", "v2t_values") are stored as float32 (half
    the bytes of float64; the intervals resample the float32 values whether they come from here or
    straight from the scorer, so they are the same either way) with each metric's exact mean in
    percent beside them (the reported number: "t2v_means", or ``100 * np.mean`` of the float64
    values), which is every interval's and test's point estimate. A Clotho-shaped dataset (5,225
    queries, 1,045 clips, six relevance metrics both ways) packs to about 75 KiB (float64 values:
    about 120 KiB; `benchmarks/bench_relevance_intervals.py`).

    Args:
        ranks: the layout `score_submission(ranks_out=...)` fills: {dataset: {"t2v", "v2t" or None,
            "groups" or None, "topk" or None, and optionally "t2v_values", "v2t_values"}}.
    Returns:
        The blob (`RANKS_FORMAT_VERSION`); `unpack_ranks` reads the ranks back exactly, the values
        as float32 and their means exactly.
    Raises:
        ValueError: ranks that are not multiples of 0.5, or negative; values outside [0, 1] or of
            another length than their ranks.

    >>> ranks = {"D": {"t2v": np.array([0.0, 2.5, np.inf]), "v2t": None, "groups": None, "topk": 10}}
    >>> blob = pack_ranks(ranks)
    >>> unpack_ranks(blob)["D"]["t2v"].tolist(), unpack_ranks(blob)["D"]["topk"]
    ([0.0, 2.5, inf], 10)
    >>> ranks["D"]["t2v_values"] = {"mAP@10": np.array([1.0, 0.1, 0.0])}
    >>> unpack_ranks(pack_ranks(ranks))["D"]["t2v_means"]
    {'mAP@10': 36.66666666666667}
    """
    names = list(ranks)
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array([RANKS_FORMAT_VERSION], dtype=np.int32),
        "datasets": np.array(names, dtype=np.str_),
    }
    for index, name in enumerate(names):
        entry = ranks[name]
        if entry.get("t2v") is None:
            raise ValueError(MISSING_RANKS_MESSAGE.format(dataset=name))
        arrays[f"t2v_{index}"] = _encode_ranks(entry["t2v"], name, "t2v")
        rows = {"t2v": arrays[f"t2v_{index}"].size}
        if entry.get("v2t") is not None:
            arrays[f"v2t_{index}"] = _encode_ranks(entry["v2t"], name, "v2t")
            rows["v2t"] = arrays[f"v2t_{index}"].size
        if entry.get("groups") is not None:
            groups = np.asarray(entry["groups"])
            if groups.size and (groups.min() < 0 or groups.max() >= 2**32 or groups.dtype.kind not in "iu"):
                raise ValueError(PACKED_GROUPS_MESSAGE.format(dataset=name))
            small = groups.size == 0 or groups.max() <= np.iinfo(np.uint16).max
            arrays[f"groups_{index}"] = groups.astype(np.uint16 if small else np.uint32)
        arrays[f"topk_{index}"] = np.array([_check_topk(entry.get("topk")) or 0], dtype=np.int32)
        _pack_values(arrays, index, entry, rows)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _unpack_values(members: Mapping[str, np.ndarray], index: int, name: str, out: dict[str, Any]) -> None:
    """Add a version 2 dataset's "t2v_values"/"t2v_means" (and v2t's) to its unpacked entry `out`."""
    for direction in _DIRECTIONS:
        keys = members.get(f"{direction}_metrics_{index}")
        if keys is None or out.get(direction) is None:
            continue
        values = members.get(f"{direction}_values_{index}")
        means = members.get(f"{direction}_means_{index}")
        shape = (keys.size, out[direction].size)
        if (
            keys.dtype.kind != "U"
            or keys.ndim != 1
            or values is None
            or values.dtype != np.float32
            or values.shape != shape
            or means is None
            or means.dtype != np.float64
            or means.shape != (keys.size,)
        ):
            raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason=f"dataset {name} values do not match"))
        found = dict(zip(keys.tolist(), values.astype(np.float64), strict=True))
        try:
            per_query_values(found, dict(zip(keys.tolist(), means.tolist(), strict=True)), shape[1])
        except ValueError as error:
            raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason=f"dataset {name}: {error}")) from None
        out[f"{direction}_values"] = found
        out[f"{direction}_means"] = dict(zip(keys.tolist(), means.tolist(), strict=True))


def unpack_ranks(blob: bytes) -> dict[str, dict[str, Any]]:
    """Read a `pack_ranks` blob (with ``allow_pickle=False``), of version 1 or 2: {dataset: {"t2v":
    float64 ranks, "v2t": float64 or None, "groups": int32 or None, "topk": int or None}}, plus, in a
    version 2 blob with relevance metrics, "t2v_values" ({key: float64 copies of the float32
    values}) and "t2v_means" ({key: the reported value, exact}), and the same for v2t.

    Raises:
        ValueError: the blob is not one `pack_ranks` wrote.
    """
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as stored:
            members = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason=type(error).__name__)) from None
    version = members.get("format_version")
    if version is None or version.shape != (1,) or int(version[0]) not in READABLE_VERSIONS:
        raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason="unknown format version"))
    names = members.get("datasets")
    if names is None or names.dtype.kind != "U" or names.ndim != 1:
        raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason="no dataset names"))
    out: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(names.tolist()):
        if f"t2v_{index}" not in members or f"topk_{index}" not in members:
            raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason=f"dataset {name} incomplete"))
        t2v = _decode_ranks(members[f"t2v_{index}"])
        v2t = members.get(f"v2t_{index}")
        groups = members.get(f"groups_{index}")
        if groups is not None and (groups.shape != t2v.shape or groups.dtype not in (np.uint16, np.uint32)):
            raise ValueError(UNREADABLE_RANKS_MESSAGE.format(reason=f"dataset {name} groups do not match"))
        topk = int(members[f"topk_{index}"].reshape(-1)[0])
        out[name] = {
            "t2v": t2v,
            "v2t": None if v2t is None else _decode_ranks(v2t),
            "groups": None if groups is None else groups.astype(np.int32),
            "topk": topk or None,
        }
        _unpack_values(members, index, name, out[name])
    return out
