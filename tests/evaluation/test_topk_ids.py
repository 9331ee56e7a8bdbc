"""Top-k lists that name gallery ids: a CSV under a `gallery_ids` header and the JSON top-k member
(evaluation/io/topk_ids.py, topk_json.py). The same ranking scores the same as indices; hostile files
stop at their first violation, within the phase's bounds."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from evaluation.errors import SubmissionFormatError, SubmissionTooLargeError
from evaluation.io import (
    MAX_JSON_TOPK_BYTES,
    MiB,
    TopkBounds,
    inspect_submission,
    load_entry,
    parse_topk_json,
    parse_topk_table,
)
from evaluation.scoring import score_submission
from evaluation.synthetic import codalab_csv, gallery_id_csv, topk_json, topk_lists
from evaluation.validation import DatasetShape, check_manifest, check_topk_lists

GALLERY = tuple(f"clip_{i:03d}.wav" for i in range(40))
BOUNDS = TopkBounds.for_gallery(rows=3, gallery=GALLERY)
SHAPE = DatasetShape(num_queries=3, num_videos=40)
#: The same gallery with room for megabytes of JSON (the phase bound of 3 queries is ~15 KB).
LARGE = TopkBounds.for_gallery(rows=10_000, gallery=GALLERY)


def make_zip(path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return path


def parse_json(body: bytes, bounds: TopkBounds | None = BOUNDS, max_bytes: int = 64 * MiB):
    return parse_topk_json(
        io.BytesIO(body), bounds, max_bytes=max_bytes, dataset="D", member="D-val-predictions.json"
    )


def rows(n: int = 3, k: int = 10) -> list[list[str]]:
    return [[GALLERY[(row * 7 + col) % 40] for col in range(k)] for row in range(n)]


# ------------------------------------------------------------------------------------ same scores


@pytest.fixture
def didemo(tiny_truth, tiny_matrices):
    truth = tiny_truth.datasets["DiDeMo"]
    return truth, topk_lists(tiny_matrices["DiDeMo"], 10)


@pytest.mark.parametrize("form", ["ids_with_query", "ids", "json", "json_shuffled"])
def test_gallery_ids_score_exactly_as_the_same_ranking_given_as_indices(tmp_path, tiny_truth, didemo, form):
    truth, topk = didemo
    baseline = score_submission(
        ground_truth=tiny_truth,
        submission_path=make_zip(tmp_path / "i.zip", {"DiDeMo-val-predictions.csv": codalab_csv(topk)}),
    )
    if form == "ids_with_query":
        member = {"DiDeMo-val-predictions.csv": gallery_id_csv(topk, truth.videos, truth.query_ids)}
    elif form == "ids":
        member = {"DiDeMo-val-predictions.csv": gallery_id_csv(topk, truth.videos)}
    else:
        order = np.random.default_rng(1).permutation(truth.num_queries) if form == "json_shuffled" else None
        ids = list(truth.query_ids) if order is None else [truth.query_ids[i] for i in order]
        lists = topk if order is None else topk[order]
        member = {"DiDeMo-val-predictions.json": topk_json(lists, truth.videos, ids)}
    path = make_zip(tmp_path / "g.zip", member)
    assert inspect_submission(path).gallery_id_datasets == ("DiDeMo",)
    report = score_submission(ground_truth=tiny_truth, submission_path=path)
    for key in ("t2v", "v2t", "rank_histogram", "score"):
        assert report["datasets"]["DiDeMo"][key] == baseline["datasets"]["DiDeMo"][key]
    assert report["overall_score"] == baseline["overall_score"]


@pytest.mark.parametrize("form", ["json", "csv"])
def test_the_scoring_child_reads_gallery_ids_as_scoring_in_process(tmp_path, tiny_truth, tiny_matrices, form):
    from evaluation.sandbox import Isolation, score_in_child
    from evaluation.synthetic import write_codalab_zip, write_gallery_id_zip

    indices, ids = tmp_path / "submission.zip", tmp_path / "ids" / "submission.zip"
    ids.parent.mkdir()
    write_codalab_zip(indices, tiny_matrices, phase_slug="val")
    write_gallery_id_zip(ids, tiny_truth, tiny_matrices, phase_slug="val", form=form)
    here = score_submission(ground_truth=tiny_truth, submission_path=indices)
    sha = hashlib.sha256(ids.read_bytes()).hexdigest()
    there = score_in_child(
        ground_truth=tiny_truth, submission_path=ids, sha256=sha, isolation=Isolation("env")
    )
    for name, result in here["datasets"].items():
        assert there["datasets"][name]["t2v"] == result["t2v"]
        assert there["datasets"][name]["member"].endswith(f"-predictions.{form}")
    assert there["overall_score"] == here["overall_score"]


def test_an_index_csv_is_not_marked_as_naming_gallery_ids(tmp_path, didemo):
    _, topk = didemo
    path = make_zip(
        tmp_path / "i.zip",
        {"DiDeMo-val-predictions.csv": codalab_csv(topk, [f"q{i}" for i in range(len(topk))])},
    )
    assert inspect_submission(path).gallery_id_datasets == ()


def test_the_upload_check_reads_ids_against_the_gallery_it_is_given(tmp_path):
    body = gallery_id_csv(np.array([[(r + c) % 40 for c in range(10)] for r in range(3)]), GALLERY)
    path = make_zip(tmp_path / "u.zip", {"DiDeMo-val-predictions.csv": body})
    manifest = inspect_submission(path)
    check_manifest(manifest, {"DiDeMo": SHAPE})
    check_topk_lists(path, manifest, {"DiDeMo": SHAPE}, galleries={"DiDeMo": GALLERY})
    topk = load_entry(path, manifest, "DiDeMo", topk_bounds=SHAPE.topk_bounds(GALLERY))["topk"]
    assert topk[2].tolist() == [(2 + c) % 40 for c in range(10)]
    with pytest.raises(
        SubmissionFormatError, match="names gallery ids, which are read against the dataset's gallery"
    ):
        check_topk_lists(path, manifest, {"DiDeMo": SHAPE})


def test_csv_ids_may_be_quoted_and_spaced():
    body = b'query_id,gallery_ids\nqa, "clip_003.wav", clip_001.wav \n"qb",clip_000.wav,clip_002.wav\n'
    ids, topk = parse_topk_table(body, bounds=BOUNDS)
    assert ids.tolist() == ["qa", "qb"] and topk.tolist() == [[3, 1], [0, 2]]


# ---------------------------------------------------------------------------------- hostile CSVs


@pytest.mark.parametrize(
    "body, message",
    [
        (
            b"gallery_ids\nclip_000.wav,clip_999.wav\n",
            "row 1 names the gallery item 'clip_999.wav', which is not in",
        ),
        (
            b"gallery_ids\nclip_000.wav,clip_001.wav\nclip_002.wav,clip_002.wav\n",
            "row 2 lists the gallery item 'clip_002.wav' more than once",
        ),
        (
            b"gallery_ids\n" + b",".join(g.encode() for g in GALLERY) + b",x\n",
            "row 1 lists 41 gallery ids; expected at most 40",
        ),
        (
            b"gallery_ids\nclip_000.wav,clip_001.wav\nclip_002.wav\n",
            "row 2 lists 1 gallery ids; expected 2, as many as the first",
        ),
        (b"query_id,gallery_ids\n,clip_000.wav\n", "row 1 does not start with a query id"),
        (b"gallery_ids\n" + b"a,b\n" * 4, "row 1 names the gallery item 'a'"),
        (b"gallery_ids\nclip_000.wav\n" * 1 + b"clip_001.wav\n" * 3, r"has more than 3 rows; expected 3"),
        (b'gallery_ids\n"clip_000.wav\n', r"row 1 is not valid CSV"),
        (b"gallery_ids\nclip_\xff.wav\n", "is not UTF-8 text"),
        (
            b"gallery_ids\n" + b"clip_000.wav," * 200_000 + b"\n",
            r"line 2 is longer than [\d,]+ bytes; expected a query id and at most 40 gallery ids",
        ),
        (b"gallery_ids\n", "holds no rows"),
    ],
)
def test_hostile_gallery_id_csvs_are_refused_with_the_row(body, message):
    with pytest.raises(SubmissionFormatError, match=message):
        parse_topk_table(body, bounds=BOUNDS)


def test_a_gallery_id_csv_cannot_be_read_without_the_gallery():
    with pytest.raises(SubmissionFormatError, match="names gallery ids"):
        parse_topk_table(b"gallery_ids\nclip_000.wav\n", bounds=TopkBounds(rows=3, videos=40))


# --------------------------------------------------------------------------------- hostile JSON


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"qa": ["clip_000.wav", "nope"]}', r"the list of the query 'qa' names the gallery item 'nope'"),
        (
            b'{"qa": ["clip_001.wav", "clip_001.wav"]}',
            r"the list of the query 'qa' lists the gallery item 'clip_001.wav' more",
        ),
        (
            b'{"qa": ["clip_001.wav", 3]}',
            r"the list of the query 'qa' holds a number; expected gallery ids as strings",
        ),
        (b'{"qa": ["clip_001.wav", null]}', r"holds null"),
        (b'{"qa": [["clip_001.wav"]]}', r"holds a list"),
        (b'{"qa": [{"a": 1}]}', r"holds an object"),
        (
            b'{"qa": "clip_001.wav"}',
            r"expected the list of the query 'qa' to be a list of gallery ids, found a string",
        ),
        (b'{"qa": {"x": ["clip_001.wav"]}}', r"to be a list of gallery ids, found an object"),
        (b'["clip_001.wav"]', r"expected '\{' to open an object of query ids, found a list"),
        (b'{3: ["clip_001.wav"]}', r"expected a query id \(a string\), found a number"),
        (b'{"qa" ["clip_001.wav"]}', r"expected ':' after the query id 'qa'"),
        (b'{"qa": ["clip_001.wav"]} {}', r"expected the end of the file after the object, found an object"),
        (
            b'{"qa": ["clip_001.wav"]',
            r"expected ',' or '\}' after the list of the query 'qa', found the end of the file",
        ),
        (b'{"qa": ["clip_001.wav\x01"]}', r"a gallery id is not a JSON string"),
        (b'{"qa": ["clip_\xff"]}', r"is not UTF-8 text"),
        (b"{}", r"holds no querys|holds no quer"),
        (b'{"' + b"q" * 300 + b'": []}', r"a query id is empty or longer than 256"),
        (
            b'{"qa": ["' + b"x" * 100_000 + b'"]}',
            r"a gallery id is longer than 65,536 characters|names the gallery item 'xxxx",
        ),
        (
            json.dumps({f"q{i}": ["clip_000.wav"] * 0 for i in range(4)}).encode(),
            r"holds more than 3 queries",
        ),
        (
            json.dumps({"qa": list(GALLERY) + ["x"]}).encode(),
            r"lists more than 40 gallery ids; expected at most 40",
        ),
        (
            json.dumps({"qa": ["clip_000.wav"], "qb": []}).encode(),
            r"the list of the query 'qb' lists 0 gallery ids; expected 1",
        ),
    ],
)
def test_hostile_json_top_k_is_refused_with_the_query(body, message):
    with pytest.raises(SubmissionFormatError, match=message):
        parse_json(body, LARGE if len(body) > BOUNDS.json_bytes else BOUNDS)


def test_deep_nesting_is_refused_at_its_first_bracket_without_recursion():
    body = b'{"qa": ' + b"[" * 5_000_000 + b"]" * 5_000_000 + b"}"
    with pytest.raises(
        SubmissionFormatError, match=r"holds a list; expected gallery ids as strings \(character 8\)"
    ):
        parse_json(body, LARGE)


def test_json_beyond_the_phase_bound_stops_reading_there():
    small = TopkBounds.for_gallery(rows=1, gallery=("a", "b"))
    body = b'{"q": ["a"' + b" " * (small.json_bytes + 10) + b"]}"
    with pytest.raises(SubmissionTooLargeError, match=rf"is larger than {small.json_bytes:,} bytes"):
        parse_json(body, small)


def test_a_json_member_declaring_more_than_the_cap_is_refused_from_the_directory(tmp_path):
    body = b'{"qa": [' + b" " * (MAX_JSON_TOPK_BYTES + 1) + b"]}"
    path = make_zip(
        tmp_path / "big.zip", {"DiDeMo-val-predictions.json": body}, compression=zipfile.ZIP_STORED
    )
    with pytest.raises(
        SubmissionTooLargeError, match=rf"expected a JSON top-k of at most {MAX_JSON_TOPK_BYTES:,} bytes"
    ):
        inspect_submission(path)


def test_a_dataset_given_as_csv_and_json_is_refused(tmp_path):
    body = json.dumps({"qa": ["clip_000.wav"]}).encode()
    path = make_zip(
        tmp_path / "two.zip", {"DiDeMo-val-predictions.json": body, "DiDeMo-val-predictions.csv": b"1,2\n"}
    )
    with pytest.raises(SubmissionFormatError, match="the dataset appears more than once"):
        inspect_submission(path)


def test_a_missing_or_unknown_query_is_refused_by_the_scorer(tmp_path, tiny_truth, didemo):
    truth, topk = didemo
    lists = {q: [truth.videos[v] for v in row] for q, row in zip(truth.query_ids, topk.tolist(), strict=True)}
    first = truth.query_ids[0]
    missing = {q: v for q, v in lists.items() if q != first}
    path = make_zip(tmp_path / "m.zip", {"DiDeMo-val-predictions.json": json.dumps(missing).encode()})
    with pytest.raises(
        SubmissionFormatError, match=rf"expected {truth.num_queries}, one per query \(the query '{first}'"
    ):
        score_submission(ground_truth=tiny_truth, submission_path=path)
    unknown = {("nobody" if q == first else q): v for q, v in lists.items()}
    path = make_zip(tmp_path / "u.zip", {"DiDeMo-val-predictions.json": json.dumps(unknown).encode()})
    with pytest.raises(
        SubmissionFormatError, match="names the query 'nobody', which this phase does not have"
    ):
        score_submission(ground_truth=tiny_truth, submission_path=path)


def test_a_json_top_k_is_parsed_a_query_at_a_time():
    """~2 MiB of JSON: the parser holds a block of text and the indices, never the decoded object."""
    gallery = tuple(f"video{i:05d}" for i in range(2000))
    lists = {f"query{q:05d}": [gallery[(q * 31 + c) % 2000] for c in range(50)] for q in range(3_000)}
    body = json.dumps(lists).encode()
    assert len(body) > 2 * MiB
    bounds = TopkBounds.for_gallery(rows=3_000, gallery=gallery)
    tracemalloc.start()
    try:
        ids, topk = parse_json(body, bounds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert topk.shape == (3_000, 50) and ids[5] == "query00005" and topk[1, 0] == 31
    # ~5 MiB: a 1 MiB block as bytes and text, and the indices (1.2 MiB); json.loads of the same bytes
    # peaks at 12 MiB (the dict of lists of str), and grows with the file where this does not
    assert peak < 8 * MiB, f"{peak / MiB:.1f} MiB"


def test_the_json_cap_and_phase_bound_are_named_in_the_message():
    assert re.search(
        "the cap of any JSON top-k", str(_too_large(TopkBounds.for_gallery(rows=10**6, gallery=GALLERY)))
    )


def _too_large(bounds: TopkBounds) -> SubmissionTooLargeError:
    body = b'{"qa": [' + b" " * (MAX_JSON_TOPK_BYTES + 1) + b"]}"
    with pytest.raises(SubmissionTooLargeError) as caught:
        parse_json(body, bounds)
    return caught.value


def test_the_offline_cli_scores_and_validates_gallery_ids(
    tmp_path, tiny_truth, tiny_truth_path, tiny_matrices, capsys
):
    from evaluation.cli import main
    from evaluation.synthetic import write_codalab_zip, write_gallery_id_zip

    write_codalab_zip(tmp_path / "i.zip", tiny_matrices, phase_slug="val")
    write_gallery_id_zip(tmp_path / "g.zip", tiny_truth, tiny_matrices, phase_slug="val")
    reports = []
    for name in ("i.zip", "g.zip"):
        assert (
            main(
                [
                    "score",
                    "--ground-truth",
                    str(tiny_truth_path),
                    "--submission",
                    str(tmp_path / name),
                    "--json",
                ]
            )
            == 0
        )
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[1]["overall_score"] == reports[0]["overall_score"]
    assert [r["t2v"] for r in reports[1]["datasets"].values()] == [
        r["t2v"] for r in reports[0]["datasets"].values()
    ]
    args = ["validate", "--ground-truth", str(tiny_truth_path), "--submission", str(tmp_path / "g.zip")]
    assert main(args) == 0
    assert "ok  DiDeMo       topk        DiDeMo-val-predictions.json" in capsys.readouterr().out
