"""The caption audit: the annotations reader (format, limits, hostile input) and the lookup counts."""

from __future__ import annotations

import io

import pytest

from evaluation.caption_audit import (
    Annotation,
    AnnotationLimits,
    AnnotationsError,
    audit_captions,
    normalise_caption,
    read_annotations,
)
from evaluation.ground_truth import GroundTruth, dataset_truth


def _truth(texts: list[str] | None, *, videos=("v0", "v1", "v2"), query_video=(0, 1, 2)) -> GroundTruth:
    d = dataset_truth(
        name="MSVD",
        videos=list(videos),
        query_ids=[f"q{i}" for i in range(len(query_video))],
        query_video=list(query_video),
        query_text=texts,
    )
    return GroundTruth(challenge="c", phase="test", datasets={"MSVD": d})


def _rows(data: bytes, **limits) -> list[Annotation]:
    return list(read_annotations(io.BytesIO(data), limits=AnnotationLimits(**limits) if limits else None))


def test_normalisation_folds_case_punctuation_and_whitespace():
    assert normalise_caption("A MAN, plays\tthe  guitar.") == "a man plays the guitar"
    assert normalise_caption("Ｆｕｌｌｗｉｄｔｈ") == "fullwidth"  # NFKC
    assert normalise_caption("straße") == normalise_caption("STRASSE")  # casefold, not lower
    assert normalise_caption("...") == ""


def test_reader_accepts_tsv_and_csv_with_any_column_order_and_a_bom():
    tsv = b'\xef\xbb\xbfvideo_id\tcaption\tdataset\nv1\ta dog, "quoted" runs\tMSVD\n\nv2\tcat\t\n'
    assert _rows(tsv) == [
        Annotation(caption='a dog, "quoted" runs', video_id="v1", dataset="MSVD"),
        Annotation(caption="cat", video_id="v2", dataset=None),
    ]
    csv_text = b'Caption,extra,Video_ID\r\n"a dog, running\nfast",x,v1\r\ncat,y,v2\r\n'
    assert _rows(csv_text) == [
        Annotation(caption="a dog, running\nfast", video_id="v1"),
        Annotation(caption="cat", video_id="v2"),
    ]


@pytest.mark.parametrize(
    ("data", "limits", "expected"),
    [
        (b"", {}, "the file is empty; expected a header line"),
        (b"video\ttext\nv1\tx\n", {}, "expected the columns caption and video_id"),
        (b"video_id\tcaption\nv1\n", {}, "line 2 has 1 column(s); expected 2"),
        (b"video_id\tcaption\n\tx\n", {}, "line 2 has an empty video_id"),
        (b"video_id\tcaption\nv1\t\xff\xfe\n", {}, "line 2 is not UTF-8 text"),
        (b"video_id\tcaption\nv1\ta\x00b\n", {}, "line 2 holds a NUL character"),
        (
            b"video_id\tcaption\nv1\t" + b"x" * 200 + b"\n",
            {"max_line_chars": 100},
            "line 2 is longer than 100",
        ),
        (b"video_id\tcaption\nv1\t" + b"x" * 200, {"max_line_chars": 100}, "line 2 is longer than 100"),
        (b"video_id\tcaption\n" + b"v\tx\n" * 50, {"max_bytes": 100}, "larger than 100 bytes"),
        (b"video_id\tcaption\n" + b"v\tx\n" * 5, {"max_rows": 3}, "more than 3 rows"),
        (b'video_id,caption\nv1,"unterminated\n', {}, "expected comma-separated columns"),
    ],
)
def test_reader_refuses_hostile_files_with_a_sentence(data, limits, expected):
    with pytest.raises(AnnotationsError) as info:
        _rows(data, **limits)
    assert expected in str(info.value) and str(info.value).startswith("the public annotations: ")


def test_a_long_line_without_line_breaks_is_refused_before_it_is_held_in_memory():
    class Endless(io.RawIOBase):
        read_bytes = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.read_bytes += size
            return b"x" * size

    stream = Endless()
    with pytest.raises(AnnotationsError, match="longer than 65,536 characters"):
        list(read_annotations(stream))
    assert stream.read_bytes < 1024**2


def test_audit_counts_text_lookups_and_unique_correct_answers():
    truth = _truth(["A dog runs.", "a cat sleeps", "a cat sleeps", ""], query_video=(0, 1, 2, 2))
    # "a dog runs" names v0 (its answer) and a video outside the split; "a cat sleeps" names v1 and v2.
    annotations = [
        Annotation("a DOG runs", "v0"),
        Annotation("a dog runs", "elsewhere"),
        Annotation("a cat sleeps", "v1"),
        Annotation("a cat sleeps", "v2", dataset="msvd"),
        Annotation("a dog runs", "v1", dataset="MSRVTT"),  # another dataset: ignored
        Annotation("unrelated", "v2"),
    ]
    audit = audit_captions(truth, annotations)["MSVD"]
    assert audit["with_text"] == 3 and audit["found"] == 3
    assert (audit["unique"], audit["unique_correct"], audit["lookup_r1"]) == (1, 1, 25.0)
    assert audit["leaks"] and "1 name exactly one video of the split" in audit["findings"][0]


def test_a_unique_match_on_the_wrong_video_is_not_an_answer():
    audit = audit_captions(_truth(["x", "y", "z"]), [Annotation("x", "v1")])["MSVD"]
    assert (audit["found"], audit["unique"], audit["unique_correct"], audit["leaks"]) == (1, 1, 0, False)


def test_without_annotations_the_audit_counts_text_only():
    audit = audit_captions(_truth(["x", "", "z"]))["MSVD"]
    assert (audit["with_text"], audit["annotated"], audit["found"]) == (2, False, 0)
    assert "no public annotations were supplied" in audit["findings"][0]
    assert audit_captions(_truth(None))["MSVD"]["findings"] == []


def test_the_audit_reads_a_file_end_to_end():
    table = b"dataset,video_id,caption\nMSVD,v0,a dog runs\nMSVD,v1,a cat sleeps\nMSVD,v2,rain\n"
    truth = _truth(["a dog runs!", "A cat sleeps", "rain"])
    audit = audit_captions(truth, read_annotations(io.BytesIO(table)))["MSVD"]
    assert (audit["unique"], audit["unique_correct"], audit["lookup_r1"]) == (3, 3, 100.0)
