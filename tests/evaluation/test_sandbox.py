"""The scoring child (evaluation.sandbox): the same report and ranks as scoring in-process, an
environment without secrets, the sha256 check, messages without server paths, and a stop that ends it."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from evaluation import synthetic
from evaluation.errors import SubmissionError
from evaluation.ground_truth import GroundTruth, dataset_truth
from evaluation.sandbox import (
    Isolation,
    SandboxError,
    StoredFileChangedError,
    bwrap_works,
    score_in_child,
    scrubbed_environment,
)
from evaluation.scoring import score_submission

# each case scores or runs in a child process (make test-fast leaves them to make test)
pytestmark = pytest.mark.slow

ISOLATIONS = ([Isolation("bwrap")] if bwrap_works() else []) + [
    Isolation("env", uid=65534, gid=65534) if os.geteuid() == 0 else Isolation("env")
]
SECRET_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "OMP_NUM_THREADS": "2",
    "DJANGO_SECRET_KEY": "k",
    "DATABASE_URL": "postgres://u:p@db/x",
    "REDIS_URL": "redis://r:6379/0",
    "AWS_SECRET_ACCESS_KEY": "s",
    "AWS_ACCESS_KEY_ID": "a",
    "EMAIL_HOST_PASSWORD": "p",
    "GITHUB_TOKEN": "t",
    "SENTRY_DSN": "https://x@y/1",
    "LC_SECRET_TOKEN": "sneaky",  # an allowed prefix does not let a secret's name through
}


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_the_environment_keeps_the_allow_list_and_no_secret():
    env = scrubbed_environment(SECRET_ENV, HOME="/tmp")
    assert env == {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "2", "HOME": "/tmp"}


@pytest.mark.parametrize("isolation", ISOLATIONS, ids=lambda i: i.kind)
@pytest.mark.parametrize("kind", ["npz", "h5", "codalab"])
def test_the_child_gives_the_same_report_and_ranks_as_scoring_in_process(
    tmp_path, tiny_truth, tiny_matrices, isolation, kind
):
    # the child sees its file as "submission.<ext>": so does scoring in-process here
    path = tmp_path / f"submission.{'zip' if kind == 'codalab' else kind}"
    if kind == "npz":
        synthetic.write_npz_submission(path, tiny_matrices)
    elif kind == "h5":
        synthetic.write_h5_submission(path, tiny_matrices)
    else:
        synthetic.write_codalab_zip(path, tiny_matrices, phase_slug="val")
    here_ranks: dict = {}
    here = score_submission(ground_truth=tiny_truth, submission_path=path, ranks_out=here_ranks)
    there_ranks: dict = {}
    stages = []
    there = score_in_child(
        ground_truth=tiny_truth,
        submission_path=path,
        sha256=_sha(path),
        isolation=isolation,
        ranks_out=there_ranks,
        progress=lambda stage, dataset, fraction: stages.append(stage),
        environ=SECRET_ENV,
    )
    assert there == here
    assert {"validating", "reading", "scoring", "done"} <= set(stages)
    assert there_ranks.keys() == here_ranks.keys()
    for name, kept in here_ranks.items():
        for key in ("t2v", "v2t", "groups"):
            if kept[key] is None:
                assert there_ranks[name][key] is None
            else:
                np.testing.assert_array_equal(there_ranks[name][key], kept[key])
        assert there_ranks[name]["topk"] == kept["topk"]


@pytest.mark.parametrize("isolation", ISOLATIONS, ids=lambda i: i.kind)
def test_a_file_whose_sha256_differs_is_refused_before_it_is_read(
    tmp_path, tiny_truth, tiny_matrices, isolation
):
    path = tmp_path / "s.npz"
    synthetic.write_npz_submission(path, tiny_matrices)
    with pytest.raises(StoredFileChangedError, match="the stored file changed"):
        score_in_child(ground_truth=tiny_truth, submission_path=path, sha256="0" * 64, isolation=isolation)


@pytest.mark.parametrize("isolation", ISOLATIONS, ids=lambda i: i.kind)
def test_a_rejection_names_no_server_path(tmp_path, tiny_truth, isolation):
    path = tmp_path / "9f8e7d6c5b4a-generated-name.npz"
    path.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(SubmissionError) as caught:
        score_in_child(ground_truth=tiny_truth, submission_path=path, sha256=_sha(path), isolation=isolation)
    message = str(caught.value)
    assert message and str(tmp_path) not in message and "generated-name" not in message
    assert "/job" not in message and "pentathlon-scoring" not in message


def test_a_stop_request_ends_the_child(tmp_path, tiny_truth, tiny_matrices, monkeypatch):
    """`should_stop` raising (a lost lease, a cancellation) ends the child: nothing is left running."""
    import subprocess

    import evaluation.sandbox as sandbox

    started = []

    class Recorded(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(sandbox.subprocess, "Popen", Recorded)
    path = tmp_path / "s.npz"
    synthetic.write_npz_submission(path, tiny_matrices)
    calls = []

    class Stop(Exception):
        pass

    def should_stop():
        calls.append(1)
        if len(calls) > 1:
            raise Stop

    with pytest.raises(Stop):
        score_in_child(
            ground_truth=tiny_truth,
            submission_path=path,
            sha256=_sha(path),
            isolation=ISOLATIONS[0],
            should_stop=should_stop,
        )
    assert len(started) == 1 and started[0].poll() is not None


def test_a_child_that_cannot_start_is_an_internal_error(tmp_path, tiny_truth, tiny_matrices, monkeypatch):
    import evaluation.sandbox as sandbox

    path = tmp_path / "s.npz"
    synthetic.write_npz_submission(path, tiny_matrices)
    monkeypatch.setattr(sandbox, "_python", lambda: str(tmp_path / "no-python-here"))
    with pytest.raises((SandboxError, OSError)):
        score_in_child(
            ground_truth=tiny_truth, submission_path=path, sha256=_sha(path), isolation=Isolation("env")
        )


def _sets_truth(*, graded: bool) -> GroundTruth:
    """Two datasets of the challenge's own names, 1 to 4 relevant clips per caption (graded or not),
    and distractor clips that no caption asks for."""
    rng = np.random.default_rng(7)
    datasets = {}
    for name, (queries, items) in {"Clotho": (24, 30), "AudioCaps": (18, 22)}.items():
        pairs = [
            (q, int(i))
            for q in range(queries)
            for i in rng.choice(items - 4, rng.integers(1, 5), replace=False)
        ]
        query, item = np.array(pairs).T
        datasets[name] = dataset_truth(
            name=name,
            videos=[f"{name}-clip{i}" for i in range(items)],
            query_ids=[f"{name}-cap{q}" for q in range(queries)],
            rel_query=query,
            rel_item=item,
            rel_grade=rng.choice([0.25, 0.5, 1.0], size=query.size) if graded else None,
        )
    return GroundTruth("Audio retrieval", "val", datasets)


def _sets_matrices(truth: GroundTruth) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    out = {}
    for name, d in truth.datasets.items():
        # rounded scores: ties among relevant and other clips, where the tie rule matters
        sims = np.round(rng.standard_normal((d.num_queries, d.num_videos)), 1).astype(np.float32)
        query, item, grade = d.relevance.triples()
        sims[query, item] += np.round(grade, 1).astype(np.float32)
        out[name] = sims
    return out


@pytest.mark.parametrize("isolation", ISOLATIONS, ids=lambda i: i.kind)
@pytest.mark.parametrize(
    ("graded", "query_order"), [(False, "as_uploaded"), (True, "blind")], ids=["sets", "graded-blind"]
)
def test_sets_of_relevant_items_score_in_the_child_as_in_process(tmp_path, isolation, graded, query_order):
    """The child scores the relevance table, the asked metrics and the challenge's names exactly as
    `score_submission` does in-process (the worker's path)."""
    from evaluation.blinding import publish_ground_truth

    truth = publish_ground_truth(_sets_truth(graded=graded), query_order=query_order, secret=b"k" * 32)
    path = tmp_path / "submission.npz"
    synthetic.write_npz_submission(path, _sets_matrices(truth))
    asked = {
        "metrics": ["mAP@10", "nDCG@5", "Recall@5", "RPrec"],
        "datasets": ["Clotho", "AudioCaps", "Epic"],
    }
    here_ranks: dict = {}
    here = score_submission(ground_truth=truth, submission_path=path, ranks_out=here_ranks, **asked)
    there_ranks: dict = {}
    there = score_in_child(
        ground_truth=truth,
        submission_path=path,
        sha256=_sha(path),
        isolation=isolation,
        ranks_out=there_ranks,
        environ=SECRET_ENV,
        **asked,
    )
    assert there == here
    for name in ("Clotho", "AudioCaps"):
        t2v = there["datasets"][name]["t2v"]
        assert {"mAP@10", "nDCG@5", "Recall@5", "RPrec", "R1", "MedR"} <= set(t2v)
        assert 0.0 < t2v["nDCG@5"] < 100.0
        for key in ("t2v", "v2t"):
            np.testing.assert_array_equal(there_ranks[name][key], here_ranks[name][key])
            there_values, here_values = there_ranks[name][f"{key}_values"], here_ranks[name][f"{key}_values"]
            assert list(there_values) == list(here_values) == asked["metrics"]
            for metric_key, values in here_values.items():  # float64, bit for bit: the means stay exact
                np.testing.assert_array_equal(there_values[metric_key], values)
                assert there_values[metric_key].dtype == np.float64
    # a dataset of the challenge outside this phase: the challenge's names make it "not part of this
    # phase" rather than an unknown name, in the child as in-process
    other = tmp_path / "other.npz"
    synthetic.write_npz_submission(other, {"Epic": np.zeros((3, 4), dtype=np.float32)})
    with pytest.raises(SubmissionError, match="not part of this phase") as in_process:
        score_submission(ground_truth=truth, submission_path=other, file_name="submission.npz", **asked)
    with pytest.raises(SubmissionError) as in_child:
        score_in_child(
            ground_truth=truth, submission_path=other, sha256=_sha(other), isolation=isolation, **asked
        )
    assert str(in_child.value) == str(in_process.value)
