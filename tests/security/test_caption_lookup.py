"""A participant plays the caption attack on a blind predictions phase, then meets withheld text.

The phases are seeded from expert stores (`seed_pentathlon --experts`) whose captions stand for a
public release, as the real datasets' captions are public. The participant downloads the test
phase's starter kit, looks each query's text up in the public annotations (`baselines annotations`:
the stores' captions with their videos) and submits the matches: no model, no feature, yet a
near-perfect score. The caption audit must report exactly the matches the participant found, and
the organiser page and the admin must warn. With the text withheld, the kit and the API carry no
text and the lookup finds nothing to build a submission from. See docs/blind-phases.md.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from challenge.models import Phase
from challenge.publication import phase_published_truth
from evaluation.caption_audit import normalise_caption

pytestmark = pytest.mark.django_db(transaction=True)  # evaluations run on commit, as in production

DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")
WARNING = "Participants can look these captions up; use a code phase or new captions."


@pytest.fixture
def seeded(tmp_path) -> dict:
    """Synthetic stores seeded as the demo's phases; the public annotations written as organisers get them."""
    from baselines.__main__ import main as baselines_main
    from baselines.synthetic import generate

    stores = tmp_path / "stores"
    generate(stores, scale="tiny", seed=0)
    out = io.StringIO()
    call_command("seed_pentathlon", "--experts", str(stores), stdout=out)
    annotations = tmp_path / "public-annotations.tsv"
    assert baselines_main(["annotations", "--store-dir", str(stores), "--out", str(annotations)]) == 0
    return {"phase": Phase.objects.get(slug="test"), "annotations": annotations, "output": out.getvalue()}


def _card(client, slug: str) -> str:
    """The phase's card on the organiser page."""
    page = client.get("/organiser/c/video-pentathlon/").content.decode()
    return re.search(rf'<article class="card" data-phase="{slug}"[^>]*>.*?</article>', page, re.S).group(0)


def _kit(client, phase: Phase) -> tuple[dict, dict[str, bytes]]:
    response = client.get(f"/api/v1/phases/{phase.id}/kit/")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as kit:
        members = {name: kit.read(name) for name in kit.namelist()}
    return json.loads(members["shapes.json"]), members


def _lookup_table(path: Path) -> dict[tuple[str, str], list[str]]:
    """What the participant makes of the public annotations: (dataset, caption) -> videos, in file order."""
    table: dict[tuple[str, str], list[str]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            table.setdefault((row["dataset"], normalise_caption(row["caption"])), []).append(row["video_id"])
    return table


def _attack(shapes: dict, members: dict[str, bytes], table: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Similarity matrices from the kit's queries.tsv and the public annotations alone.

    Returns the matrices and, per dataset, (captions looked up, captions naming exactly one kit video).
    """
    matrices, counts = {}, {}
    for name in shapes["datasets"]:
        videos = members[f"{name}/videos.txt"].decode().split("\n")[:-1]
        column = {video: j for j, video in enumerate(videos)}
        lines = members[f"{name}/queries.tsv"].decode().split("\n")[1:-1]
        sims = np.zeros((len(lines), len(videos)), dtype=np.float32)
        found = unique = 0
        for row, line in enumerate(lines):
            _query, _, text = line.partition("\t")
            named = [column[v] for v in table.get((name, normalise_caption(text)), []) if v in column]
            named = list(dict.fromkeys(named))
            if not text or not named:
                continue
            found += 1
            unique += len(named) == 1
            for rank, j in enumerate(named):
                sims[row, j] = 1.0 - rank / (2 * len(named))
        matrices[name], counts[name] = sims, (found, unique)
    return matrices, counts


def _submit(client, phase: Phase, matrices: dict, path: Path, capture) -> dict:
    np.savez(path, **matrices)
    with capture(execute=True), open(path, "rb") as handle:
        response = client.post(
            "/api/v1/submissions/create/",
            {"phase": phase.id, "method_name": "caption lookup", "file": handle},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.slow
def test_the_caption_lookup_wins_on_published_text_is_reported_and_fails_once_text_is_withheld(
    seeded, api_client, client, tmp_path, django_capture_on_commit_callbacks
):
    phase, users = seeded["phase"], get_user_model().objects
    participant, organiser = users.get(username="participant"), users.get(username="organiser")
    assert phase.is_blind and phase.publish_query_text
    table = _lookup_table(seeded["annotations"])

    # The participant: kit + public annotations -> a submission, no model.
    api_client.force_authenticate(participant)
    shapes, members = _kit(api_client, phase)
    assert shapes["query_order"] == "blind" and shapes["query_text"] == "published"
    matrices, counts = _attack(shapes, members, table)
    created = _submit(
        api_client, phase, matrices, tmp_path / "lookup.npz", django_capture_on_commit_callbacks
    )

    # Scores of the hidden phase, as its organisers see them.
    api_client.force_authenticate(organiser)
    outcome = api_client.get(f"/api/v1/submissions/{created['id']}/").json()
    assert outcome["status"] == "finished", outcome
    phase.refresh_from_db()
    truth = phase_published_truth(phase=phase)
    for name in DATASETS:
        audit, scored = phase.caption_audit[name], outcome["results"]["datasets"][name]["t2v"]
        found, unique = counts[name]
        queries = truth.datasets[name].num_queries
        print(
            f"[caption lookup] {name}: {found}/{queries} captions found, {unique} naming one video;"
            f" R@1 {scored['R1']:.1f} R@5 {scored['R5']:.1f} R@10 {scored['R10']:.1f}"
            f" (audit: lookup R@1 {audit['lookup_r1']:.1f})"
        )
        # The audit reports exactly the matches the participant built from public material.
        assert audit["with_text"] == audit["found"] == found == queries
        assert audit["unique"] == audit["unique_correct"] == unique
        assert scored["R1"] >= audit["lookup_r1"] - 1e-9
        assert scored["R10"] == 100.0  # every caption names its own video among at most ten
    print(f"[caption lookup] overall {outcome['results']['overall_score']:.2f}")
    assert outcome["results"]["overall_score"] > 90, outcome["results"]

    # The organisers are warned, on their page and in the admin.
    assert WARNING in seeded["output"]
    client.force_login(organiser)
    dashboard = _card(client, "test")
    assert 'data-role="caption-warning"' in dashboard and WARNING in dashboard
    assert f"{phase.caption_audit['MSRVTT']['unique']} name exactly one video of the split" in dashboard
    admin_page = client.get(f"/admin/challenge/phase/{phase.id}/change/").content.decode()
    assert WARNING in admin_page and "Caption audit of the query texts" in admin_page

    # The organisers withhold the text (API); the warning goes, the audit stays.
    response = api_client.put(
        f"/api/v1/phases/{phase.id}/query-text/", {"publish_query_text": False}, format="json"
    )
    assert response.status_code == 200 and response.json()["caption_warning"] is None
    assert response.json()["caption_audit"]["MSRVTT"]["unique"] == counts["MSRVTT"][1]
    dashboard = _card(client, "test")
    assert 'data-role="caption-warning"' not in dashboard and "withheld" in dashboard
    assert WARNING not in client.get(f"/admin/challenge/phase/{phase.id}/change/").content.decode()

    # The participant again: no text in the kit or the API, so the lookup has nothing to find.
    api_client.force_authenticate(participant)
    shapes, members = _kit(api_client, phase)
    assert (
        shapes["query_text"] == "withheld" and "withhold the queries' text" in members["README.txt"].decode()
    )
    matrices, counts = _attack(shapes, members, table)
    assert all(found == 0 for found, _ in counts.values()) and not any(m.any() for m in matrices.values())
    everything = b"".join(members.values()).decode("utf-8", errors="replace")
    phases_json = api_client.get("/api/v1/challenges/video-pentathlon/phases/").content.decode()
    assert [p["publish_query_text"] for p in json.loads(phases_json) if p["slug"] == "test"] == [False]
    for name in DATASETS:
        lines = members[f"{name}/queries.tsv"].decode().split("\n")[1:-1]
        assert len(lines) == truth.datasets[name].num_queries and all(line.endswith("\t") for line in lines)
        for text in truth.datasets[name].query_text[:25]:
            assert text not in everything and text not in phases_json
