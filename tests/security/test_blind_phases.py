"""A participant tries to read the hidden answers off everything public, on a blind and an as-uploaded phase.

The organiser uploads ground truth that gives the answers away, as the 2020 files do: query ids
`{video}#{k}` and queries grouped by video in the video list's order. The participant uses only what
the site serves them: the starter kit, the phase and submission APIs, and the pages. On a blind phase
every attack scores at chance or is refused; on an as-uploaded phase the same attacks score R@1 = 100
and the organisers are warned.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files import File

from challenge.models import Phase
from challenge.services import phase_ground_truth_set
from evaluation.ground_truth import GroundTruth, dataset_truth, write_ground_truth
from evaluation.synthetic import codalab_csv
from evaluation.validation import BLIND_ROWS_HINT, BLIND_TOPK_NEEDS_IDS
from tests.factories import PhaseFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the upload view is non-atomic, as in production

VIDEOS, CAPTIONS = 120, 5  # 600 queries: chance R@1 is 1/120


@pytest.fixture(scope="module")
def telling_truth_path(tmp_path_factory) -> Path:
    """Ids name the video, queries grouped by video in video order, padded layout declared."""
    videos = [f"video{v:04d}" for v in range(VIDEOS)]
    truths = {}
    for name in ("MSRVTT", "DiDeMo"):
        # MSRVTT: every third video lacks its last caption, so the padded layout has more rows.
        counts = np.array([CAPTIONS - (v % 3 == 0) for v in range(VIDEOS)]) if name == "MSRVTT" else None
        counts = counts if counts is not None else np.ones(VIDEOS, dtype=int)
        truths[name] = dataset_truth(
            name=name,
            videos=videos,
            query_ids=[f"{videos[v]}#{k}" for v in range(VIDEOS) for k in range(counts[v])],
            query_video=np.repeat(np.arange(VIDEOS), counts),
            query_masks=np.arange(CAPTIONS)[None, :] < counts[:, None] if name == "MSRVTT" else None,
            query_text=[f"caption {k} of some video" for v in range(VIDEOS) for k in range(counts[v])],
        )
    path = tmp_path_factory.mktemp("telling") / "truth.h5"
    write_ground_truth(path, GroundTruth(challenge="c", phase="test", datasets=truths))
    return path


def _phase(challenge, path: Path, *, query_order: str) -> Phase:
    phase = PhaseFactory(challenge=challenge, slug=query_order.replace("_", ""), query_order=query_order)
    with open(path, "rb") as handle:
        phase_ground_truth_set(phase=phase, file=File(handle))
    phase.refresh_from_db()
    return phase


def _kit(client, phase: Phase) -> dict:
    response = client.get(f"/api/v1/phases/{phase.id}/kit/")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as kit:
        shapes = json.loads(kit.read("shapes.json"))
        out = {"shapes": shapes, "readme": kit.read("README.txt").decode()}
        for name in shapes["datasets"]:
            out[name] = {
                "videos": kit.read(f"{name}/videos.txt").decode().split(),
                "queries": kit.read(f"{name}/queries.txt").decode().split(),
            }
        return out


def _attacks(kit: dict, name: str) -> dict[str, np.ndarray]:
    """Similarity matrices built from the kit alone, each encoding one way to guess the answers."""
    videos, queries = kit[name]["videos"], kit[name]["queries"]
    index = {video: i for i, video in enumerate(videos)}
    by_id = np.zeros((len(queries), len(videos)), dtype=np.float32)
    for row, query in enumerate(queries):  # the query id names its video
        for video, column in index.items():
            if video in query:
                by_id[row, column] = 1.0
    positional = np.zeros_like(by_id)  # grouped by video in video order, equal caption counts
    positional[np.arange(len(queries)), np.arange(len(queries)) * len(videos) // len(queries)] = 1.0
    return {"ids": by_id, "grouped order": positional}


def _submit(client, phase: Phase, path: Path) -> dict:
    with client.capture(execute=True), open(path, "rb") as handle:
        response = client.post(
            "/api/v1/submissions/create/",
            {"phase": phase.id, "method_name": path.stem, "file": handle},
            format="multipart",
        )
    assert response.status_code in (201, 400), response.content
    if response.status_code == 400:
        return {"status": "refused", "error_message": json.dumps(response.json())}
    return client.get(f"/api/v1/submissions/{response.json()['id']}/").json()


def _chance_bound(videos: int, queries: int) -> float:
    """R@1 (%) that random guessing stays below with overwhelming probability (mean + 6 sd)."""
    p = 1 / videos
    return 100 * (p + 6 * math.sqrt(p * (1 - p) / queries))


@pytest.fixture
def attacker(api_client, participant, team, django_capture_on_commit_callbacks):
    """The participant's API client; `capture` runs the evaluation queued on commit (eager in tests)."""
    api_client.force_authenticate(participant)
    api_client.capture = django_capture_on_commit_callbacks
    return api_client


def _run_attacks(client, phase: Phase, kit: dict, tmp_path: Path) -> dict[str, dict]:
    outcomes = {}
    for kind in ("ids", "grouped order"):
        matrices = {name: _attacks(kit, name)[kind] for name in ("MSRVTT", "DiDeMo")}
        path = tmp_path / f"{kind.replace(' ', '-')}-{phase.slug}.npz"
        np.savez(path, **matrices)
        outcomes[kind] = _submit(client, phase, path)
    padded = tmp_path / f"padded-{phase.slug}.npz"
    np.savez(padded, MSRVTT=np.eye(VIDEOS, dtype=np.float32).repeat(CAPTIONS, axis=0))
    outcomes["padded layout"] = _submit(client, phase, padded)
    codalab = tmp_path / f"codalab2020-{phase.slug}.zip"
    rows = len(kit["MSRVTT"]["queries"])
    grouped_topk = np.stack([np.roll(np.arange(VIDEOS), -(i * VIDEOS // rows))[:10] for i in range(rows)])
    with zipfile.ZipFile(codalab, "w") as archive:
        archive.writestr(f"MSRVTT-{phase.slug}-predictions.csv", codalab_csv(grouped_topk))
    outcomes["2020 client zip"] = _submit(client, phase, codalab)
    return outcomes


def test_blind_phase_every_attack_scores_at_chance_or_is_refused(
    attacker, challenge, telling_truth_path, tmp_path, client, organiser
):
    phase = _phase(challenge, telling_truth_path, query_order="blind")
    kit = _kit(attacker, phase)
    # Nothing public names a video or an organiser query id.
    organiser_ids = {f"video{v:04d}#{k}" for v in range(VIDEOS) for k in range(CAPTIONS - 1)}
    phases_json = attacker.get(f"/api/v1/challenges/{challenge.slug}/phases/").content.decode()
    page = client.get(f"/c/{challenge.slug}/").content.decode()
    for name in ("MSRVTT", "DiDeMo"):
        assert not set(kit[name]["queries"]) & organiser_ids
        assert not any("video" in query for query in kit[name]["queries"])
    assert not any(query_id in phases_json or query_id in page for query_id in list(organiser_ids)[:50])
    assert kit["shapes"]["query_order"] == "blind"

    outcomes = _run_attacks(attacker, phase, kit, tmp_path)
    bound = _chance_bound(VIDEOS, len(kit["MSRVTT"]["queries"]))
    for kind in ("ids", "grouped order"):
        outcome = outcomes[kind]
        assert outcome["status"] == "finished", outcome
        r1 = outcome["results"]["datasets"]["MSRVTT"]["t2v"]["R1"]
        print(f"[blind] {kind} attack: MSRVTT R@1 {r1:.2f} (chance {100 / VIDEOS:.2f}, bound {bound:.2f})")
        assert r1 < bound, (kind, r1, bound)
        assert outcome["results"]["datasets"]["DiDeMo"]["t2v"]["R1"] < _chance_bound(VIDEOS, VIDEOS)
    assert outcomes["padded layout"]["status"] == "refused"
    assert BLIND_ROWS_HINT.strip("; ")[:60] in outcomes["padded layout"]["error_message"]
    # Refused at upload, from the phase's shapes alone: not stored, no quota, no worker.
    assert outcomes["2020 client zip"]["status"] == "refused", outcomes["2020 client zip"]
    assert BLIND_TOPK_NEEDS_IDS in outcomes["2020 client zip"]["error_message"]

    # Organisers see that the upload would have leaked, and that the blind phase hides it.
    assert phase.ground_truth_audit["MSRVTT"]["leaks"] and phase.ground_truth_audit["DiDeMo"]["identity"]
    client.force_login(organiser)
    dashboard = client.get(f"/organiser/c/{challenge.slug}/").content.decode()
    assert "published blind" in dashboard and 'data-role="query-order-warning"' not in dashboard


def test_as_uploaded_phase_lets_the_same_attacks_win_and_warns_the_organisers(
    attacker, challenge, telling_truth_path, tmp_path, client, organiser
):
    phase = _phase(challenge, telling_truth_path, query_order="as_uploaded")
    kit = _kit(attacker, phase)
    assert kit["MSRVTT"]["queries"][:2] == ["video0000#0", "video0000#1"]
    outcomes = _run_attacks(attacker, phase, kit, tmp_path)
    msrvtt = {kind: outcome["results"]["datasets"]["MSRVTT"]["t2v"] for kind, outcome in outcomes.items()}
    assert msrvtt["ids"]["R1"] == 100.0
    assert msrvtt["grouped order"]["R1"] > 50  # position alone, without the exact caption counts
    assert msrvtt["padded layout"]["R1"] == 100.0
    assert msrvtt["2020 client zip"]["R10"] > 50

    client.force_login(organiser)
    dashboard = client.get(f"/organiser/c/{challenge.slug}/").content.decode()
    assert 'data-role="query-order-warning"' in dashboard
    assert "query i belongs to video i" in dashboard and "contain their video&#x27;s id" in dashboard


def test_the_2020_client_zip_scores_exactly_on_an_as_uploaded_phase(
    attacker, challenge, telling_truth_path, tmp_path
):
    """Top-10 CSVs in the grouped order, as the 2020 client wrote them: the reference's metrics."""
    from evaluation.ground_truth import read_ground_truth
    from evaluation.metrics.retrieval import topk_metrics

    phase = _phase(challenge, telling_truth_path, query_order="as_uploaded")
    truth = read_ground_truth(telling_truth_path).datasets["MSRVTT"]
    rng = np.random.default_rng(5)
    topk = np.argsort(rng.standard_normal((truth.num_queries, VIDEOS)), axis=1)[:, :10]
    hit = rng.random(truth.num_queries) < 0.4
    topk[hit, rng.integers(0, 10, hit.sum())] = truth.query_video[hit]  # some answers, at varied ranks
    topk = np.stack([np.array(list(dict.fromkeys(row.tolist() + list(range(VIDEOS))))[:10]) for row in topk])
    path = tmp_path / "codalab2020.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"MSRVTT-{phase.slug}-predictions.csv", codalab_csv(topk))
    outcome = _submit(attacker, phase, path)
    assert outcome["status"] == "finished", outcome
    expected = topk_metrics(topk, truth.query_video)
    scored = outcome["results"]["datasets"]["MSRVTT"]["t2v"]
    assert 0 < expected["R1"] < 100
    for key in ("R1", "R5", "R10"):
        assert scored[key] == pytest.approx(expected[key], abs=1e-9), key


def test_admin_shows_the_as_uploaded_warning(client, superuser, challenge, telling_truth_path):
    phase = _phase(challenge, telling_truth_path, query_order="as_uploaded")
    client.force_login(superuser)
    page = client.get(f"/admin/challenge/phase/{phase.id}/change/", follow=True).content.decode()
    assert "publishes its queries as uploaded" in page
    assert "query i belongs to video i" in page
