"""A corpus of malformed submissions and ground-truth files, generated on demand.

Each `Case` writes one hostile or broken file for the tiny Pentathlon ground truth (or, for
ground-truth cases, instead of it) and names the words its rejection must contain. The cases
complement tests/evaluation/test_io.py (which covers the basic ones: NaN, wrong shape, pickled
.npy, "../" members, zip bomb by declared size...): here are archives within archives, 10k
members, NUL and look-alike member names, symlink members, HDF5 compound/string/complex dtypes,
link cycles, chunk bombs, hostile CSVs, hostile .npy headers and ground truth with negative
indices, among others.

Used by tests/security/test_bad_inputs.py (API upload + worker task, in process) and by the
real-worker stream of tests/security/test_faults_postgres.py (through `python -m
tests.security.stack_scenarios`).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from evaluation.ground_truth import GroundTruth, write_ground_truth


@dataclass(frozen=True)
class Case:
    name: str
    filename: str  # the name the participant's upload carries (its extension picks the format)
    build: Callable[[Path, GroundTruth], None]
    expect: str  # a regular expression the rejection message must match (case-insensitive)
    ground_truth: bool = False


def _sims(truth: GroundTruth, name: str = "MSRVTT", dtype=np.float32) -> np.ndarray:
    d = truth.datasets[name]
    rng = np.random.default_rng(0)
    sims = rng.standard_normal((d.num_queries, d.num_videos)).astype(dtype)
    sims[np.arange(d.num_queries), d.query_video] += 1
    return sims


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _raw_npy(header: str, data: bytes = b"", version: int = 1) -> bytes:
    body = header.encode("latin1" if version < 3 else "utf8")
    pad = 64 - (10 + len(body) + 1) % 64
    body += b" " * pad + b"\n"
    size = struct.pack("<H", len(body)) if version == 1 else struct.pack("<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + size + body + data


def _zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _h5(path: Path, fill: Callable[[h5py.File], None]) -> None:
    with h5py.File(path, "w") as handle:
        fill(handle)


# --- submissions: zip ---------------------------------------------------------------------------------


def nested_zip(path: Path, truth: GroundTruth) -> None:
    inner = _npy_bytes(_sims(truth))
    for depth in range(12):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("MSRVTT.npy" if depth == 0 else f"level{depth}.zip", inner)
        inner = buffer.getvalue()
    path.write_bytes(inner)


def many_members(path: Path, truth: GroundTruth) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(10_000):
            archive.writestr(f"junk/{i}.txt", b"")


def nul_member_name(path: Path, truth: GroundTruth) -> None:
    _zip(path, {"payload.sh": _npy_bytes(_sims(truth))})
    raw = path.read_bytes().replace(b"payload.sh", b"evil\x00h.npy")  # same length: headers stay valid
    path.write_bytes(raw)


def unicode_member(name: str) -> Callable[[Path, GroundTruth], None]:
    def build(path: Path, truth: GroundTruth) -> None:
        _zip(path, {name: _npy_bytes(_sims(truth))})

    return build


def symlink_member(path: Path, truth: GroundTruth) -> None:
    info = zipfile.ZipInfo("MSRVTT.npy")
    info.create_system = 3  # unix
    info.external_attr = 0o120777 << 16  # a symbolic link to...
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, "/etc/passwd")


def symlink_dir_member(path: Path, truth: GroundTruth) -> None:
    info = zipfile.ZipInfo("MSRVTT")
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, "/")
        archive.writestr("MSRVTT/../../MSVD.npy", _npy_bytes(_sims(truth, "MSVD")))


def backslash_member(path: Path, truth: GroundTruth) -> None:
    _zip(path, {"..\\..\\MSRVTT.npy": _npy_bytes(_sims(truth))})


def drive_letter_member(path: Path, truth: GroundTruth) -> None:
    _zip(path, {"C:MSRVTT.npy": _npy_bytes(_sims(truth))})


def duplicate_member(path: Path, truth: GroundTruth) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("MSRVTT.npy", _npy_bytes(_sims(truth)))
        archive.writestr("sub/MSRVTT.npy", _npy_bytes(_sims(truth)))


def encrypted_flag(path: Path, truth: GroundTruth) -> None:
    _zip(path, {"MSRVTT.npy": _npy_bytes(_sims(truth))})
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(signature)
        raw[at + offset] |= 0x1
    path.write_bytes(bytes(raw))


def unknown_compression(path: Path, truth: GroundTruth) -> None:
    _zip(path, {"MSRVTT.npy": _npy_bytes(_sims(truth))}, compression=zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = raw.find(signature)
        raw[at + offset : at + offset + 2] = struct.pack("<H", 77)
    path.write_bytes(bytes(raw))


def empty_zip(path: Path, truth: GroundTruth) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.comment = b"\x00" * 1000
    del truth


def sims_and_embeddings(path: Path, truth: GroundTruth) -> None:
    d = truth.datasets["MSRVTT"]
    np.savez(
        path,
        MSRVTT=_sims(truth),
        MSRVTT_text=np.ones((d.num_queries, 4), np.float32),
        MSRVTT_video=np.ones((d.num_videos, 4), np.float32),
    )


def fortran_big_endian_f16_transposed(path: Path, truth: GroundTruth) -> None:
    sims = _sims(truth).T.astype(">f2")  # (V, Q): the transpose of what is expected
    _zip(path, {"MSRVTT.npy": _npy_bytes(np.asfortranarray(sims))})


def npy_header(header: str, data: bytes = b"", version: int = 1) -> Callable[[Path, GroundTruth], None]:
    def build(path: Path, truth: GroundTruth) -> None:
        _zip(path, {"MSRVTT.npy": _raw_npy(header, data, version)})

    return build


def npy_bad_magic(path: Path, truth: GroundTruth) -> None:
    _zip(path, {"MSRVTT.npy": b"\x93NUMPZ" + _npy_bytes(_sims(truth))[6:]})


def npy_truncated_header(path: Path, truth: GroundTruth) -> None:
    _zip(path, {"MSRVTT.npy": _npy_bytes(_sims(truth))[:40]})


def npy_declares_more_than_stored(path: Path, truth: GroundTruth) -> None:
    d = truth.datasets["MSRVTT"]
    _zip(
        path,
        {
            "MSRVTT.npy": _raw_npy(
                f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({d.num_queries}, {d.num_videos}), }}",
                b"\x00" * 100,
            )
        },
    )


def npz_array(**arrays_of_truth: Callable[[GroundTruth], np.ndarray]) -> Callable[[Path, GroundTruth], None]:
    def build(path: Path, truth: GroundTruth) -> None:
        np.savez(path, **{name: make(truth) for name, make in arrays_of_truth.items()})

    return build


def _with(value: float, dtype=np.float32, row: int | None = None):
    def make(truth: GroundTruth) -> np.ndarray:
        sims = _sims(truth, dtype=dtype)
        if row is None:
            sims[3, 2] = value
        else:
            sims[row, :] = value
        return sims

    return make


# --- submissions: CSV (top-k) ---------------------------------------------------------------------


def csv_member(make: Callable[[GroundTruth], bytes], name: str = "MSRVTT-val-predictions.csv"):
    def build(path: Path, truth: GroundTruth) -> None:
        _zip(path, {name: make(truth)}, compression=zipfile.ZIP_DEFLATED)

    return build


def _topk_rows(truth: GroundTruth, k: int = 10) -> list[list[int]]:
    d = truth.datasets["MSRVTT"]
    return [[(int(g) + j) % d.num_videos for j in range(k)] for g in d.query_video]


def _csv(rows: list[list]) -> bytes:
    return "".join(",".join(str(v) for v in row) + "\n" for row in rows).encode()


def huge_csv_line(truth: GroundTruth) -> bytes:
    rows = _topk_rows(truth)
    rows[0] = list(range(1_000_000))
    return _csv(rows)


def csv_with(index: int, value: object) -> Callable[[GroundTruth], bytes]:
    def make(truth: GroundTruth) -> bytes:
        rows = _topk_rows(truth)
        rows[index][4] = value
        return _csv(rows)

    return make


def csv_utf16(truth: GroundTruth) -> bytes:
    return _csv(_topk_rows(truth)).decode().encode("utf-16")


def csv_header_only(truth: GroundTruth) -> bytes:
    return b"query,top1,top2,top3\n\n\n"


def csv_ragged(truth: GroundTruth) -> bytes:
    rows = _topk_rows(truth)
    rows[5] = rows[5][:7]
    return _csv(rows)


# --- submissions: HDF5 ------------------------------------------------------------------------------


def h5_sims(make: Callable[[GroundTruth], np.ndarray], **kwargs):
    def build(path: Path, truth: GroundTruth) -> None:
        _h5(path, lambda f: f.create_group("MSRVTT").create_dataset("sims", data=make(truth), **kwargs))

    return build


def _compound(truth: GroundTruth) -> np.ndarray:
    d = truth.datasets["MSRVTT"]
    out = np.zeros((d.num_queries, d.num_videos), dtype=[("a", "<f4"), ("b", "<i4")])
    return out


def _strings(truth: GroundTruth) -> np.ndarray:
    d = truth.datasets["MSRVTT"]
    return np.full((d.num_queries, d.num_videos), b"0.5", dtype="S3")


def _complex(truth: GroundTruth) -> np.ndarray:
    return _sims(truth).astype(np.complex64)


def h5_soft_link_cycle(path: Path, truth: GroundTruth) -> None:
    def fill(f: h5py.File) -> None:
        group = f.create_group("MSRVTT")
        group["sims"] = h5py.SoftLink("/MSRVTT")  # /MSRVTT/sims -> /MSRVTT -> ...
        group["loop"] = h5py.SoftLink("/MSRVTT/loop")

    _h5(path, fill)


def h5_hard_link_cycle(path: Path, truth: GroundTruth) -> None:
    def fill(f: h5py.File) -> None:
        group = f.create_group("MSRVTT")
        group["self"] = group  # a hard link to itself: a cycle in the group graph
        group["sims"] = group

    _h5(path, fill)


def h5_root_soft_link(path: Path, truth: GroundTruth) -> None:
    _h5(path, lambda f: f.__setitem__("MSRVTT", h5py.SoftLink("/")))


def h5_chunk_bomb(path: Path, truth: GroundTruth) -> None:
    """gzip chunks of zeros: a few KiB on disk, 400 GB declared."""

    def fill(f: h5py.File) -> None:
        f.create_group("MSRVTT").create_dataset(
            "sims",
            shape=(10_000_000, 10_000),
            dtype="f4",
            chunks=(1024, 1024),
            compression="gzip",
            fillvalue=0.0,
        )
        f["MSRVTT/sims"][:1024, :1024] = 0.0

    _h5(path, fill)


def deflated_zeros(nbytes: int, piece: int = 4 * 1024**2) -> bytes:
    """A zlib stream that inflates to `nbytes` zero bytes, made without holding them in memory."""
    compressor = zlib.compressobj(9)
    zeros = bytes(piece)
    parts = [compressor.compress(zeros[: min(piece, nbytes - done)]) for done in range(0, nbytes, piece)]
    return b"".join(parts) + compressor.flush()


def h5_gzip_chunk(chunks: tuple[int, int], inflated: int, name: str = "MSRVTT"):
    """The right shape in one gzip chunk at (0, 0) of shape `chunks`, whose stream inflates to `inflated`."""

    def build(path: Path, truth: GroundTruth) -> None:
        d = truth.datasets[name]
        with h5py.File(path, "w") as handle:
            node = handle.create_group(name).create_dataset(
                "sims",
                shape=(d.num_queries, d.num_videos),
                maxshape=(None, None),
                dtype="f4",
                chunks=chunks,
                compression="gzip",
            )
            node.id.write_direct_chunk((0, 0), deflated_zeros(inflated))

    return build


def zip_zeros_matrix(path: Path, truth: GroundTruth) -> None:
    """4 MiB of zero similarities deflated to a few KiB: within the size limits, not the ratio."""
    _zip(
        path, {"MSRVTT.npy": _npy_bytes(np.zeros((1024, 1024), np.float32))}, compression=zipfile.ZIP_DEFLATED
    )


def h5_chunk_bomb_right_shape(path: Path, truth: GroundTruth) -> None:
    """The declared shape is right, the chunks decompress to all-NaN."""
    d = truth.datasets["MSRVTT"]

    def fill(f: h5py.File) -> None:
        f.create_group("MSRVTT").create_dataset(
            "sims",
            shape=(d.num_queries, d.num_videos),
            dtype="f4",
            chunks=True,
            compression="gzip",
            fillvalue=np.nan,
        )

    _h5(path, fill)


def h5_many_groups(path: Path, truth: GroundTruth) -> None:
    def fill(f: h5py.File) -> None:
        for i in range(500):
            f.create_group(f"g{i}")

    _h5(path, fill)


def h5_top_level_dataset(path: Path, truth: GroundTruth) -> None:
    _h5(path, lambda f: f.create_dataset("MSRVTT", data=_sims(truth)))


def h5_text_only(path: Path, truth: GroundTruth) -> None:
    d = truth.datasets["MSRVTT"]
    _h5(
        path,
        lambda f: f.create_group("MSRVTT").create_dataset("text", data=np.ones((d.num_queries, 8), "f4")),
    )


def h5_truncated_superblock(path: Path, truth: GroundTruth) -> None:
    h5_sims(_sims)(path, truth)
    path.write_bytes(path.read_bytes()[:100])


def h5_zero_dim_embeddings(path: Path, truth: GroundTruth) -> None:
    d = truth.datasets["MSRVTT"]

    def fill(f: h5py.File) -> None:
        group = f.create_group("MSRVTT")
        group.create_dataset("text", data=np.ones((d.num_queries, 0), "f4"))
        group.create_dataset("video", data=np.ones((d.num_videos, 0), "f4"))

    _h5(path, fill)


def raw_bytes(data: bytes) -> Callable[[Path, GroundTruth], None]:
    def build(path: Path, truth: GroundTruth) -> None:
        path.write_bytes(data)

    return build


# --- ground truth -------------------------------------------------------------------------------------


def gt_edit(edit: Callable[[h5py.File, GroundTruth], None]) -> Callable[[Path, GroundTruth], None]:
    def build(path: Path, truth: GroundTruth) -> None:
        write_ground_truth(path, truth)
        with h5py.File(path, "r+") as handle:
            edit(handle, truth)

    return build


def _replace(group: h5py.Group, key: str, data) -> None:
    del group[key]
    group.create_dataset(key, data=data)


def gt_negative_index(f: h5py.File, truth: GroundTruth) -> None:
    qv = f["MSRVTT/query_video"][()]
    qv[0] = -1
    _replace(f["MSRVTT"], "query_video", qv)


def gt_index_out_of_range(f: h5py.File, truth: GroundTruth) -> None:
    qv = f["DiDeMo/query_video"][()]
    qv[-1] = 10**6
    _replace(f["DiDeMo"], "query_video", qv)


def gt_duplicate_video(f: h5py.File, truth: GroundTruth) -> None:
    videos = list(truth.datasets["MSVD"].videos)
    videos[1] = videos[0]
    _replace(f["MSVD"], "videos", np.array(videos, dtype=object).astype(h5py.string_dtype()))


def gt_video_without_query(f: h5py.File, truth: GroundTruth) -> None:
    qv = f["YouCook2/query_video"][()]
    qv[qv == 0] = 1
    _replace(f["YouCook2"], "query_video", qv)


def gt_numeric_ids(f: h5py.File, truth: GroundTruth) -> None:
    _replace(f["MSRVTT"], "query_ids", np.arange(truth.datasets["MSRVTT"].num_queries))


def gt_float_query_video(f: h5py.File, truth: GroundTruth) -> None:
    _replace(f["MSRVTT"], "query_video", f["MSRVTT/query_video"][()].astype(np.float32))


def gt_masks_disagree(f: h5py.File, truth: GroundTruth) -> None:
    masks = f["MSRVTT/query_masks"][()]
    masks[0, :] = 0
    masks[0, 0] = 1
    masks[1, :] = 1
    _replace(f["MSRVTT"], "query_masks", masks)


def gt_missing_videos(f: h5py.File, truth: GroundTruth) -> None:
    del f["ActivityNet/videos"]


def gt_empty_id(f: h5py.File, truth: GroundTruth) -> None:
    ids = list(truth.datasets["DiDeMo"].query_ids)
    ids[3] = ""
    _replace(f["DiDeMo"], "query_ids", np.array(ids, dtype=object).astype(h5py.string_dtype()))


def gt_unknown_dataset(f: h5py.File, truth: GroundTruth) -> None:
    f.move("MSVD", "LSMDC")


def gt_root_link(f: h5py.File, truth: GroundTruth) -> None:
    f["MSRVTT_cycle"] = h5py.SoftLink("/")
    del f["MSRVTT"]
    f.move("MSRVTT_cycle", "MSRVTT")


def gt_huge_declared(f: h5py.File, truth: GroundTruth) -> None:
    del f["MSRVTT/query_ids"]
    f["MSRVTT"].create_dataset("query_ids", shape=(10**9,), dtype=h5py.string_dtype(), chunks=(4096,))


EXPECTED_FLOAT = r"expected float16, float32 or float64"

CASES: list[Case] = [
    # zip containers
    Case("nested-zip-12-levels", "nested.zip", nested_zip, r"not a recognised member|expected"),
    Case(
        "zip-10k-members",
        "many.zip",
        many_members,
        r"holds 10,?000 entries in its directory; at most 1,024",
    ),
    Case("zip-member-name-with-nul", "nul.zip", nul_member_name, r"not a recognised member"),
    Case("zip-member-rtl-override", "rtl.zip", unicode_member("MSRVTT\u202e.npy"), r"dataset|expected"),
    Case(
        "zip-member-fullwidth",
        "fullwidth.zip",
        unicode_member("\uff2d\uff33\uff32\uff36\uff34\uff34.npy"),
        r"dataset|expected",
    ),
    Case(
        "zip-member-cyrillic-homoglyph",
        "homoglyph.zip",
        unicode_member("\u041cSRVTT.npy"),
        r"dataset|expected",
    ),
    Case("zip-member-zero-width", "zwsp.zip", unicode_member("MSR\u200bVTT.npy"), r"dataset|expected"),
    Case("zip-symlink-member", "symlink.zip", symlink_member, r"symbolic link|npy|expected"),
    Case("zip-symlink-dir-traversal", "symlinkdir.zip", symlink_dir_member, r"symbolic link|\.\.|expected"),
    Case("zip-backslash-traversal", "backslash.zip", backslash_member, r"parent|absolute"),
    Case("zip-drive-letter", "drive.zip", drive_letter_member, r"parent|absolute"),
    Case("zip-duplicate-dataset-in-subfolder", "dup.zip", duplicate_member, r"more than once"),
    Case("zip-encrypted-flag", "encrypted.zip", encrypted_flag, r"encrypted"),
    Case("zip-unknown-compression", "compression.zip", unknown_compression, r"compression|cannot be read"),
    Case("zip-empty-with-junk-comment", "empty.zip", empty_zip, r"holds no dataset|not a readable zip"),
    # npy members and npz
    Case("npz-sims-and-embeddings-for-one-dataset", "both.npz", sims_and_embeddings, r"more than once"),
    Case(
        "npy-fortran-big-endian-f16-transposed",
        "fortran.zip",
        fortran_big_endian_f16_transposed,
        r"shape|expected",
    ),
    Case(
        "npy-negative-shape",
        "negshape.zip",
        npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-5, 3), }"),
        r"malformed .npy header",
    ),
    Case(
        "npy-huge-shape-overflow",
        "overflow.zip",
        npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2**62, 2**62), }"),
        r"header|limit",
    ),
    Case(
        "npy-header-code-injection",
        "inject.zip",
        npy_header("{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (2, 2)}"),
        r"malformed .npy header",
    ),
    Case(
        "npy-structured-dtype",
        "structured.zip",
        npy_header(
            "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (2, 2), }", b"\x00" * 32
        ),
        EXPECTED_FLOAT,
    ),
    Case(
        "npy-object-dtype-v3-header",
        "objv3.zip",
        npy_header("{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }", version=3),
        r"pickl|objects",
    ),
    Case(
        "npy-unknown-version",
        "v9.zip",
        npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", version=9),
        r"version",
    ),
    Case("npy-bad-magic", "magic.zip", npy_bad_magic, r"\.npy"),
    Case("npy-truncated-header", "trunchdr.zip", npy_truncated_header, r"truncated|header"),
    Case("npy-declares-more-than-stored", "short.zip", npy_declares_more_than_stored, r"truncated"),
    Case(
        "npy-1d-array",
        "onedim.zip",
        npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", b"\x00" * 16),
        r"2-D",
    ),
    Case("npz-bool-dtype", "bool.npz", npz_array(MSRVTT=lambda t: _sims(t) > 0), EXPECTED_FLOAT),
    Case("npz-minus-infinity", "neginf.npz", npz_array(MSRVTT=_with(-np.inf)), r"NaN|infin|finite"),
    Case(
        "npz-nan-row-float16", "nanrow.npz", npz_array(MSRVTT=_with(np.nan, np.float16, row=0)), r"NaN|finite"
    ),
    Case(
        "npz-zero-rows",
        "zerorows.npz",
        npz_array(MSRVTT=lambda t: np.zeros((0, t.datasets["MSRVTT"].num_videos), np.float32)),
        r"expected",
    ),
    Case(
        "npz-padded-rows-wrong-k",
        "padded.npz",
        npz_array(
            MSRVTT=lambda t: np.zeros(
                (t.datasets["MSRVTT"].num_videos * 7, t.datasets["MSRVTT"].num_videos), np.float32
            )
        ),
        r"expected",
    ),
    # CSV top-k lists
    Case("csv-huge-line", "hugeline.zip", csv_member(huge_csv_line), r"line|expected"),
    Case("csv-index-1e9", "bigindex.zip", csv_member(csv_with(2, 10**9)), r"range|expected"),
    Case("csv-nan-text", "nantext.zip", csv_member(csv_with(1, "NaN")), r"not comma-separated integers"),
    Case("csv-float-index", "floatidx.zip", csv_member(csv_with(1, "3.0")), r"not comma-separated integers"),
    Case(
        "csv-int64-overflow",
        "overflow-csv.zip",
        csv_member(csv_with(0, 2**70)),
        r"not comma-separated integers|range|expected",
    ),
    Case("csv-utf16", "utf16.zip", csv_member(csv_utf16), r"UTF-8|integers"),
    Case("csv-header-only", "hdronly.zip", csv_member(csv_header_only), r"no rows"),
    Case("csv-ragged", "ragged.zip", csv_member(csv_ragged), r"values; expected"),
    # HDF5
    Case("h5-compound-dtype", "compound.h5", h5_sims(_compound), EXPECTED_FLOAT),
    Case("h5-string-dtype", "strings.h5", h5_sims(_strings), EXPECTED_FLOAT),
    Case("h5-complex-dtype", "complex.h5", h5_sims(_complex), EXPECTED_FLOAT),
    Case("h5-soft-link-cycle", "softcycle.h5", h5_soft_link_cycle, r"soft or external link"),
    Case("h5-hard-link-cycle", "hardcycle.h5", h5_hard_link_cycle, r"not an array|expected"),
    Case("h5-root-soft-link", "rootlink.h5", h5_root_soft_link, r"soft or external link"),
    Case("h5-gzip-chunk-bomb", "bomb.h5", h5_chunk_bomb, r"above the limit|expected"),
    # SECURITY.md, finding 8: ~1 MB on disk, one 16384 x 16384 float32 chunk = 1 GiB once inflated
    Case("h5-one-gib-gzip-chunk", "gibchunk.h5", h5_gzip_chunk((16384, 16384), 1024**3), r"above the limit"),
    Case(
        "h5-gzip-chunk-inflates-past-its-size",
        "inflates.h5",
        h5_gzip_chunk((256, 256), 64 * 1024**2),
        r"inflates beyond",
    ),
    Case("zip-member-compression-ratio", "zeros.zip", zip_zeros_matrix, r"uncompressed for .* stored bytes"),
    Case("h5-gzip-nan-chunks", "nanchunks.h5", h5_chunk_bomb_right_shape, r"NaN|finite"),
    Case("h5-500-groups", "groups.h5", h5_many_groups, r"at most 64"),
    Case("h5-top-level-dataset", "toplevel.h5", h5_top_level_dataset, r"not a group"),
    Case("h5-text-without-video", "textonly.h5", h5_text_only, r"expected 'sims', or 'text' and 'video'"),
    Case("h5-truncated-superblock", "truncated.h5", h5_truncated_superblock, r"not a readable HDF5"),
    Case("h5-zero-dim-embeddings", "zerodim.h5", h5_zero_dim_embeddings, r"dimension|expected"),
    # containers that lie about themselves
    Case("empty-file", "empty.npz", raw_bytes(b""), r"empty"),
    Case(
        "pdf-named-zip",
        "paper.zip",
        raw_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"0" * 200),
        r"first bytes|not a zip",
    ),
    Case(
        "zip-named-h5",
        "archive.h5",
        raw_bytes(b"PK\x05\x06" + b"\x00" * 18),
        r"first bytes|not a readable|holds no dataset",
    ),
    Case(
        "pickle-named-npz",
        "model.npz",
        raw_bytes(b"\x80\x04\x95" + b"cos\nsystem\n" + b"\x00" * 64),
        r"first bytes|not a zip",
    ),
    Case("elf-named-h5", "binary.h5", raw_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 200), r"first bytes|HDF5"),
    # ground truth (organiser uploads)
    Case("gt-negative-index", "gt.h5", gt_edit(gt_negative_index), r"outside \[0", ground_truth=True),
    Case("gt-index-out-of-range", "gt.h5", gt_edit(gt_index_out_of_range), r"outside \[0", ground_truth=True),
    Case("gt-duplicate-video", "gt.h5", gt_edit(gt_duplicate_video), r"duplicate ids", ground_truth=True),
    Case(
        "gt-video-without-query",
        "gt.h5",
        gt_edit(gt_video_without_query),
        r"at least one query",
        ground_truth=True,
    ),
    Case("gt-numeric-query-ids", "gt.h5", gt_edit(gt_numeric_ids), r"expected strings", ground_truth=True),
    Case("gt-float-query-video", "gt.h5", gt_edit(gt_float_query_video), r"integer", ground_truth=True),
    Case("gt-masks-disagree", "gt.h5", gt_edit(gt_masks_disagree), r"query_masks", ground_truth=True),
    Case("gt-missing-videos", "gt.h5", gt_edit(gt_missing_videos), r"missing 'videos'", ground_truth=True),
    Case("gt-empty-id", "gt.h5", gt_edit(gt_empty_id), r"empty id", ground_truth=True),
    Case("gt-unknown-dataset", "gt.h5", gt_edit(gt_unknown_dataset), r"LSMDC", ground_truth=True),
    Case("gt-root-soft-link", "gt.h5", gt_edit(gt_root_link), r"missing|expected", ground_truth=True),
    Case("gt-declares-1e9-ids", "gt.h5", gt_edit(gt_huge_declared), r"expected", ground_truth=True),
    Case(
        "gt-zip-bytes",
        "gt.h5",
        raw_bytes(b"PK\x03\x04" + b"\x00" * 100),
        r"not a readable HDF5",
        ground_truth=True,
    ),
]

SUBMISSION_CASES = [case for case in CASES if not case.ground_truth]
GROUND_TRUTH_CASES = [case for case in CASES if case.ground_truth]


def write_case(case: Case, directory: Path, truth: GroundTruth) -> Path:
    """Write the case's file under `directory` (in its own folder: file names repeat) and return it."""
    folder = directory / case.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / case.filename
    case.build(path, truth)
    return path
