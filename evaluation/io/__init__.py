"""Readers for every submission format of docs/design.md section 5, safe against hostile files.

Containers are recognised by their magic bytes, not their extension:

* zip (``.zip`` or ``.npz``): members ``{Dataset}-{phase}-predictions.csv`` (top-k rank lists of
  indices or, under a ``gallery_ids`` header, of gallery ids), ``{Dataset}-{phase}-predictions.json``
  (top-k lists of gallery ids, ``{query_id: [gallery ids, best first]}``),
  ``{Dataset}.npy`` (a similarity matrix) or ``{Dataset}_text.npy`` + ``{Dataset}_video.npy``
  (embeddings);
* HDF5 (``.h5``): groups ``/{Dataset}`` holding ``sims``, or ``text`` and ``video``.

`inspect_submission` reads headers only (zip directory, .npy headers, HDF5 metadata) and checks
the declared sizes against `ReadLimits` before a byte of array data is read. `load_entry` then
reads one dataset's arrays into memory, streaming into preallocated arrays. Nothing is unpickled:
object dtypes are refused from the header, and HDF5 links or storage that point outside the file
are refused.

One concern per module: `formats` (magic bytes), `limits` (`ReadLimits` and the checks of declared
sizes), `manifest` (what headers declare), `archive` (safe zip handling), `npy` (.npy members),
`topk` (top-k CSVs), `topk_bounds` (how far a top-k file is read), `topk_ids` (rows of gallery ids),
`topk_json` (the JSON top-k), `zip_submission` and `hdf5` (the two containers; `h5_chunks` for chunked HDF5
storage) and `reader` (the two entry points). Every public name is importable from `evaluation.io`.
"""

from .archive import ZIP_DIRECTORY_TOO_LARGE, ZIP_TOO_MANY_ENTRIES, ZIP_UNREADABLE
from .formats import HDF5_MAGIC, ZIP_MAGIC
from .h5_chunks import (
    H5_CHUNK_DAMAGED,
    H5_CHUNK_INFLATES,
    H5_CHUNK_STORED_TOO_LARGE,
    H5_CHUNK_TOO_LARGE,
    H5_FILTER_REFUSED,
    H5_TOO_MANY_CHUNKS,
)
from .hdf5 import H5_CHANGED, H5_DAMAGED
from .limits import COMPRESSION_RATIO_TOO_HIGH, DIMENSION_TOO_LARGE, FLOAT_DTYPES, GiB, MiB, ReadLimits
from .manifest import (
    KIND_EMBEDDINGS,
    KIND_SIMILARITY,
    KIND_TOPK,
    ArrayInfo,
    SubmissionEntry,
    SubmissionManifest,
)
from .npy import NPY_CHANGED
from .reader import inspect_submission, load_entry
from .topk import (
    CSV_FIELD_TOO_LONG,
    CSV_ID_LINE_TOO_LONG,
    CSV_LINE_TOO_LONG,
    CSV_TOO_MANY_COLUMNS,
    MIN_TOPK,
    parse_topk_csv,
    parse_topk_table,
)
from .topk_bounds import CSV_TOO_MANY_ROWS, MAX_CSV_QUERY_ID_LENGTH, TopkBounds
from .topk_ids import (
    GALLERY_ID_REPEATED,
    GALLERY_ID_UNKNOWN,
    GALLERY_IDS_NEED_GALLERY,
    GALLERY_IDS_TOO_MANY,
    GALLERY_IDS_WIDTH,
)
from .topk_json import (
    JSON_TOPK_BAD,
    JSON_TOPK_NOT_UTF8,
    JSON_TOPK_TOO_LARGE,
    JSON_TOPK_TOO_MANY_IDS,
    JSON_TOPK_TOO_MANY_QUERIES,
    MAX_JSON_TOPK_BYTES,
    parse_topk_json,
)

__all__ = [
    "COMPRESSION_RATIO_TOO_HIGH",
    "CSV_FIELD_TOO_LONG",
    "CSV_ID_LINE_TOO_LONG",
    "CSV_LINE_TOO_LONG",
    "CSV_TOO_MANY_COLUMNS",
    "CSV_TOO_MANY_ROWS",
    "DIMENSION_TOO_LARGE",
    "FLOAT_DTYPES",
    "GALLERY_IDS_NEED_GALLERY",
    "GALLERY_IDS_TOO_MANY",
    "GALLERY_IDS_WIDTH",
    "GALLERY_ID_REPEATED",
    "GALLERY_ID_UNKNOWN",
    "H5_CHANGED",
    "H5_CHUNK_DAMAGED",
    "H5_CHUNK_INFLATES",
    "H5_CHUNK_STORED_TOO_LARGE",
    "H5_CHUNK_TOO_LARGE",
    "H5_DAMAGED",
    "H5_FILTER_REFUSED",
    "H5_TOO_MANY_CHUNKS",
    "HDF5_MAGIC",
    "JSON_TOPK_BAD",
    "JSON_TOPK_NOT_UTF8",
    "JSON_TOPK_TOO_LARGE",
    "JSON_TOPK_TOO_MANY_IDS",
    "JSON_TOPK_TOO_MANY_QUERIES",
    "KIND_EMBEDDINGS",
    "KIND_SIMILARITY",
    "KIND_TOPK",
    "MAX_CSV_QUERY_ID_LENGTH",
    "MAX_JSON_TOPK_BYTES",
    "MIN_TOPK",
    "NPY_CHANGED",
    "ZIP_DIRECTORY_TOO_LARGE",
    "ZIP_MAGIC",
    "ZIP_TOO_MANY_ENTRIES",
    "ZIP_UNREADABLE",
    "ArrayInfo",
    "GiB",
    "MiB",
    "ReadLimits",
    "SubmissionEntry",
    "SubmissionManifest",
    "TopkBounds",
    "inspect_submission",
    "load_entry",
    "parse_topk_csv",
    "parse_topk_json",
    "parse_topk_table",
]
