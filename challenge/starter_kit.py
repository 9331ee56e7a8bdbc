"""The phase's starter kit: what a participant needs to build a submission, never the ground truth.

The kit is a zip holding, per dataset, `{Dataset}/videos.txt` (video ids in column order),
`{Dataset}/queries.txt` (query ids in row order) and `{Dataset}/queries.tsv` (id and text of each
query, in row order; the text column is empty when the phase withholds it, `Phase.publish_query_text`), plus `shapes.json` (the counts that `evaluation.validation.shapes_from_json`
reads, the same the server checks, and the phase's query order), a `README.txt` and
`example_submission.npz`. It is derived from the phase's published view of its hidden ground truth
(`challenge.publication`): in a blind phase (the default) the queries are opaque ids in a secret
order; only as-uploaded phases list the organisers' own ids. Never `query_video` nor `query_masks`.

Building it reads the whole ground truth (34 MB of kit at the 2020 validation scale), so the built
zip is cached in the private storage under `starter_kits/phase-<id>/`, keyed by the ground truth's
sha256, the phase's query order and secret, and its public names (`starter_kit_cache_name`): a new
ground truth, another query order, a renamed phase or a new kit layout gives a new name, and the
older kits of the phase are deleted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.core.files import File

from challenge.code_phases import phase_code_description
from challenge.models import Phase, private_storage
from challenge.publication import published_truth_from_file
from challenge.services.files import local_path
from core.exceptions import NotFoundError

logger = logging.getLogger(__name__)

KIT_NO_GROUND_TRUTH = "The phase {phase!r} has no starter kit yet: its ground truth has not been uploaded."
KIT_UNREADABLE = (
    "The starter kit of the phase {phase!r} cannot be built right now; please contact the organisers."
)

#: Above this many bytes of float32 similarities, the example holds low-dimensional embeddings instead.
EXAMPLE_MAX_SIMILARITY_BYTES = 64 * 1024**2
EXAMPLE_EMBEDDING_DIM = 16
#: Bump when the kit's content or layout changes: every cached kit is then rebuilt on first use.
KIT_LAYOUT_VERSION = 5  # 4: the README uses the challenge's words; 5: it names the gallery-id top-k formats
KIT_CACHE_DIR = "starter_kits"

README_TEMPLATE = """\
Starter kit of {challenge} / {phase_title} (phase id {phase_id}, slug {phase_slug})
{rule}

This kit holds the orderings a submission must follow; it holds no ground truth.

Files
  shapes.json               per dataset: num_queries (Q), num_videos (V), captions_per_video (K);
                            query_order: {query_order}; query_text: {query_text}
  <Dataset>/videos.txt      the V {item} ids, one per line: column j of a matrix is line j+1 (also
                            the ids that top-k lists of gallery ids name)
  <Dataset>/queries.txt     the Q query ids, one per line: row i of a matrix is line i+1
  <Dataset>/queries.tsv     "query_id<TAB>text", a header line then one line per query, same order
                            (text: what the query says, where the organisers provided it)
  example_submission.npz    a valid (random, so badly scoring) submission of the right shapes
{order_note}{text_note}
Datasets of this phase
{table}

Submission formats (one file, any subset of the datasets; names match case-insensitively)
  .npz  arrays "<Dataset>" (a Q x V similarity matrix, higher = more similar), or
        "<Dataset>_text" (Q x D) and "<Dataset>_video" (V x D) embeddings, scored as text @ video.T
        in float32
  .zip  members "<Dataset>.npy" (similarities), or "<Dataset>-{phase_slug}-predictions.csv":
        top-k rank lists, one line per query, k >= 10 distinct 0-based video indices, best first;
        a line may start with its query id ("query_id,index,...", any line order){csv_rule};
        under a header line "query_id,gallery_ids" (or "gallery_ids") the lines list ids of
        <Dataset>/videos.txt instead of indices; or "<Dataset>-{phase_slug}-predictions.json":
        {{"query_id": ["video id", ...], ...}}, every query's k ids of videos.txt, best first
        (at most 32 MiB)
  .h5   groups "/<Dataset>" holding "sims", or "text" and "video"
Arrays are float16, float32 or float64, finite, saved without pickling.
{padded}
Check a submission offline with the very code the server runs, then upload it:
  pentathlon validate --kit <this directory> my_submission.npz
  pentathlon pack <directory of .npy files> -o my_submission.npz --kit <this directory>
  pentathlon submit {phase_id} my_submission.npz --method-name "My method"
"""

BLIND_NOTE = """
This phase is blind: its queries are listed under opaque ids in a secret order, so neither the
ids nor the order say which video a query belongs to. Rows of every matrix follow queries.txt;
the padded videos x captions layout is not accepted.
"""

AS_UPLOADED_NOTE = """
This phase lists its queries exactly as the organisers uploaded them (ids and order).
"""

TEXT_WITHHELD_NOTE = """
The organisers withhold the queries' text in this phase: the text column of queries.tsv is empty.
"""

PADDED_NOTE = """
Datasets with K > 1 also accept the padded layout: V*K rows where row v*K+k holds caption k of
video v; rows of missing captions are ignored whatever they hold.
"""


def starter_kit_filename(*, phase: Phase) -> str:
    return f"{phase.challenge.slug}-{phase.slug}-starter-kit.zip"


def _example_arrays(truth: Any, *, seed: int) -> dict[str, np.ndarray]:
    """Random float32 matrices (or embeddings, when the matrices would be large) of the right shapes."""
    rng = np.random.default_rng(seed)
    total = sum(d.num_queries * d.num_videos * 4 for d in truth.datasets.values())
    arrays: dict[str, np.ndarray] = {}
    for name, d in truth.datasets.items():
        if total <= EXAMPLE_MAX_SIMILARITY_BYTES:
            arrays[name] = rng.standard_normal((d.num_queries, d.num_videos), dtype=np.float32)
        else:
            arrays[f"{name}_text"] = rng.standard_normal(
                (d.num_queries, EXAMPLE_EMBEDDING_DIM), dtype=np.float32
            )
            arrays[f"{name}_video"] = rng.standard_normal(
                (d.num_videos, EXAMPLE_EMBEDDING_DIM), dtype=np.float32
            )
    return arrays


def _readme(*, phase: Phase, shapes: dict[str, dict[str, int]]) -> str:
    header = (
        f"Starter kit of {phase.challenge.title} / {phase.title} (phase id {phase.id}, slug {phase.slug})"
    )
    words = phase.challenge.words  # the challenge's nouns ("audio clips (columns)")
    columns, per_item = f"{words.items} (columns)", f"{words.queries}/{words.item}"
    wide, per = max(18, len(columns) + 2), max(16, len(per_item) + 2)
    lines = [f"  {'dataset':<14}{'queries (rows)':>16}{columns:>{wide}}{per_item:>{per}}"]
    for name, shape in shapes.items():
        lines.append(
            f"  {name:<14}{shape['num_queries']:>16,}{shape['num_videos']:>{wide},}"
            f"{shape['captions_per_video']:>{per}}"
        )
    padded = any(shape["captions_per_video"] > 1 for shape in shapes.values())
    return README_TEMPLATE.format(
        query_order=phase.query_order,
        query_text="published" if phase.publishes_query_text else "withheld",
        text_note="" if phase.publishes_query_text else TEXT_WITHHELD_NOTE,
        order_note=BLIND_NOTE if phase.is_blind else AS_UPLOADED_NOTE,
        csv_rule=" (required in this blind phase)" if phase.is_blind else "",
        challenge=phase.challenge.title,
        phase_title=phase.title,
        phase_id=phase.id,
        phase_slug=phase.slug,
        rule="=" * len(header),
        table="\n".join(lines),
        item=words.item,
        padded=PADDED_NOTE if padded else "",
    )


def starter_kit_readme(*, phase: Phase) -> str:
    """The kit's README.txt, from the phase's splits (counts only; no read of the ground truth).

    Raises:
        NotFoundError: the phase has no ground truth yet (so no kit either).
    """
    if not phase.ground_truth:
        raise NotFoundError(KIT_NO_GROUND_TRUTH.format(phase=phase.title))
    shapes = {
        split.dataset.name: {
            "num_queries": split.num_queries,
            "num_videos": split.num_videos,
            "captions_per_video": split.captions_per_video,
        }
        for split in phase.splits.select_related("dataset").order_by("dataset__order", "dataset__id")
    }
    if phase.is_code:
        return _code_readme(phase=phase, shapes=shapes)
    return _readme(phase=phase, shapes=shapes)


def _kit_write(*, phase: Phase, out: IO[bytes]) -> None:
    """Write the phase's starter kit (a zip) to the seekable binary file `out`.

    Reads the phase's hidden ground truth with the evaluation core and writes only the public
    parts: id orderings, counts, a README and a random example submission. Deterministic for a
    given ground-truth file (the example's seed is the phase id). The example goes through a
    temporary file, so memory holds its arrays once, never the zip.

    Raises:
        NotFoundError: the phase has no ground truth yet, or its stored file cannot be read (the
            message does not leak the ground-truth error; the organisers see it in the admin).
    """
    from evaluation.errors import GroundTruthError

    if not phase.ground_truth:
        raise NotFoundError(KIT_NO_GROUND_TRUTH.format(phase=phase.title))
    try:
        with local_path(phase.ground_truth) as path:
            if not os.path.isfile(path):
                raise OSError(f"{phase.ground_truth.name} is missing")
            truth = published_truth_from_file(phase=phase, path=path)
    except (GroundTruthError, OSError) as exc:
        raise NotFoundError(KIT_UNREADABLE.format(phase=phase.title)) from exc
    shapes = truth.public_shapes()
    manifest = {
        "query_order": phase.query_order,
        "query_text": "published" if phase.publishes_query_text else "withheld",
        "challenge": phase.challenge.slug,
        "phase": phase.slug,
        "phase_id": phase.id,
        "datasets": shapes,
    }
    if phase.is_code:
        _code_kit_write(phase=phase, truth=truth, manifest=manifest, out=out)
        return
    with (
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as kit,
        tempfile.TemporaryDirectory(prefix="pentathlon-kit-") as scratch,
    ):
        kit.writestr(_member("shapes.json"), json.dumps(manifest, indent=2) + "\n")
        kit.writestr(_member("README.txt"), _readme(phase=phase, shapes=shapes))
        for name, dataset in truth.datasets.items():
            kit.writestr(_member(f"{name}/videos.txt"), "".join(f"{video}\n" for video in dataset.videos))
            kit.writestr(_member(f"{name}/queries.txt"), "".join(f"{query}\n" for query in dataset.query_ids))
            kit.writestr(
                _member(f"{name}/queries.tsv"), queries_tsv(dataset, text=phase.publishes_query_text)
            )
        example = os.path.join(scratch, "example_submission.npz")
        arrays: dict[str, Any] = _example_arrays(
            truth, seed=phase.id
        )  # Any: **arrays may not fill allow_pickle
        np.savez(example, **arrays)
        # Random floats do not compress: store them.
        info = _member("example_submission.npz", compress_type=zipfile.ZIP_STORED)
        info.file_size = os.path.getsize(example)  # lets zipfile choose zip64 only when needed
        with open(example, "rb") as source, kit.open(info, "w") as member:
            shutil.copyfileobj(source, member, 1 << 20)


EXAMPLE_PROGRAM = Path(__file__).with_name("kit_files") / "example_main.py"

CODE_README = """\
Starter kit of {challenge} / {phase_title} (phase id {phase_id}, slug {phase_slug}): a code phase
{rule}

In this phase the queries are never published: you upload a program, the server runs it on the
hidden queries in a sandbox and scores what it writes.

Upload a .zip holding main.py at its top (plus any files it reads: code, weights). The server runs
  {command}
in the runtime {runtime!r}: {runtime_description}
Nothing is installed for you (no pip, no network): import only what the runtime has.

/input (read-only)
  <Dataset>/queries.tsv   "query_id<TAB>text", a header line then one line per query; rows of your
                          output follow this order
  <Dataset>/videos.txt    the video ids, one per line: column j of a matrix is line j+1
  shapes.json             the counts per dataset (also in this kit)
  gallery/                the organisers' gallery inputs, when they provide them
/output (writable, at most {output_limit_mb} MiB; /tmp likewise)
  submission.npz (or .h5 or .zip) in any of the usual submission formats (see the README of a
  predictions phase, or docs/design.md)

Limits: {wall_limit_s} s of wall-clock time, {memory_limit_mb} MiB of memory, {cpus} CPU core(s){gpu}.
{visibility}

Files
  shapes.json             per dataset: num_queries, num_videos, captions_per_video
  <Dataset>/videos.txt    the video ids (column order)
  main.py                 a runnable example program (scores near chance; it shows the interface)

Try the example locally on an /input of your own making (queries.tsv and videos.txt per dataset):
  python main.py --input my_input --output out && pentathlon validate --kit . out/submission.npz
then zip it and submit:
  zip program.zip main.py && pentathlon submit {phase_id} program.zip --method-name "My method"

Datasets of this phase
{table}
"""
CODE_SHOWS_OUTPUT = (
    "You see your program's standard output and error, its run time and peak memory, then the scores."
)
CODE_HIDES_OUTPUT = (
    "You see the status, the run time and a failure class (timeout, memory, crash, bad output) only: "
    "never the program's output, so that the hidden queries cannot be printed out."
)


def _code_readme(*, phase: Phase, shapes: dict[str, dict[str, int]]) -> str:
    code = phase_code_description(phase=phase)
    header = (
        f"Starter kit of {phase.challenge.title} / {phase.title} (phase id {phase.id}, slug {phase.slug}): "
        "a code phase"
    )
    table = "\n".join(
        f"  {name:<14}{shape['num_queries']:>10,} queries{shape['num_videos']:>10,} {phase.challenge.words.items}"
        for name, shape in shapes.items()
    )
    keys = (
        "command",
        "runtime",
        "runtime_description",
        "wall_limit_s",
        "memory_limit_mb",
        "cpus",
        "output_limit_mb",
    )
    return CODE_README.format(
        challenge=phase.challenge.title,
        phase_title=phase.title,
        phase_id=phase.id,
        phase_slug=phase.slug,
        rule="=" * len(header),
        table=table,
        gpu=", a GPU" if code["gpu"] else "",
        visibility=CODE_SHOWS_OUTPUT if code["shows_program_output"] else CODE_HIDES_OUTPUT,
        **{key: code[key] for key in keys},
    )


def _code_kit_write(*, phase: Phase, truth: Any, manifest: dict[str, Any], out: IO[bytes]) -> None:
    """A code phase's kit: shapes, video lists, the runtime's description and the example program; no
    query ids, order or text (they reach the program only inside the sandbox)."""
    code = phase_code_description(phase=phase)
    readme = _code_readme(phase=phase, shapes=manifest["datasets"])
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as kit:
        kit.writestr(_member("shapes.json"), json.dumps({**manifest, "code": code}, indent=2) + "\n")
        kit.writestr(_member("README.txt"), readme)
        kit.writestr(_member("main.py"), EXAMPLE_PROGRAM.read_text())
        for name, dataset in truth.datasets.items():
            kit.writestr(_member(f"{name}/videos.txt"), "".join(f"{video}\n" for video in dataset.videos))


def queries_tsv(dataset: Any, *, text: bool = True) -> str:
    """id TAB text per query; tabs and line breaks inside a text become spaces so each query stays one line.
    Without `text` (the phase withholds it) every text is empty."""
    texts = (dataset.query_text if text else None) or ("",) * dataset.num_queries
    lines = ["query_id\ttext\n"]
    lines.extend(
        f"{query}\t{' '.join(text.split())}\n" for query, text in zip(dataset.query_ids, texts, strict=True)
    )
    return "".join(lines)


def _member(name: str, *, compress_type: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    """A zip entry with a fixed date: the same ground truth always gives the same bytes."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = compress_type
    info.external_attr = 0o644 << 16
    return info


def starter_kit_build(*, phase: Phase) -> bytes:
    """The phase's starter kit as zip bytes (tests and small phases; the API streams `starter_kit_open`).

    Raises:
        NotFoundError: see `_kit_write`.
    """
    buffer = io.BytesIO()
    _kit_write(phase=phase, out=buffer)
    return buffer.getvalue()


def starter_kit_cache_name(*, phase: Phase) -> str:
    """The private-storage name of the phase's cached kit: changes with the ground truth (its sha256)
    and with everything else the kit shows (names, titles, the example's settings, the layout)."""
    truth_key = (
        phase.ground_truth_sha256 or hashlib.sha256((phase.ground_truth.name or "").encode()).hexdigest()
    )
    public = json.dumps(
        [
            KIT_LAYOUT_VERSION,
            phase.id,
            phase.slug,
            phase.title,
            phase.challenge.slug,
            phase.challenge.title,
            dataclasses.astuple(phase.challenge.words),  # the README speaks of the challenge's items
            phase.query_order,
            phase.publishes_query_text,
            hashlib.sha256(phase.blinding_secret.encode()).hexdigest(),
            phase.submission_kind,
            json.dumps(phase_code_description(phase=phase), sort_keys=True) if phase.is_code else "",
            EXAMPLE_MAX_SIMILARITY_BYTES,
            EXAMPLE_EMBEDDING_DIM,
        ]
    )
    return (
        f"{KIT_CACHE_DIR}/phase-{phase.id}/{truth_key}-{hashlib.sha256(public.encode()).hexdigest()[:12]}.zip"
    )


def starter_kit_open(*, phase: Phase) -> File[bytes]:
    """The phase's starter kit, opened for reading from the private storage; built and stored on first use.

    The caller closes the file (a `FileResponse` does). Two first requests at once may both build
    the kit; the second copy is discarded. Older kits of the phase (a replaced ground truth) are
    deleted when a new one is stored.

    Raises:
        NotFoundError: no ground truth yet, or the ground truth or the cache cannot be read.
    """
    if not phase.ground_truth:
        raise NotFoundError(KIT_NO_GROUND_TRUTH.format(phase=phase.title))
    storage = private_storage()
    name = starter_kit_cache_name(phase=phase)
    try:
        if not storage.exists(name):
            with tempfile.TemporaryFile(prefix="pentathlon-kit-") as tmp:
                _kit_write(phase=phase, out=tmp)
                tmp.seek(0)
                saved = storage.save(name, File(tmp, name=os.path.basename(name)))
            if saved != name:  # another request stored the same kit meanwhile
                storage.delete(saved)
            _delete_older_kits(storage=storage, phase=phase, keep=name)
        return storage.open(name, "rb")
    except OSError as exc:
        raise NotFoundError(KIT_UNREADABLE.format(phase=phase.title)) from exc


def _delete_older_kits(*, storage: Any, phase: Phase, keep: str) -> None:
    folder = os.path.dirname(keep)
    try:
        _, files = storage.listdir(folder)
        for file_name in files:
            if f"{folder}/{file_name}" != keep:
                storage.delete(f"{folder}/{file_name}")
    except OSError:  # best effort: a leftover kit is only disk space
        logger.warning("could not delete the older starter kits of phase %s", phase.id, exc_info=True)
