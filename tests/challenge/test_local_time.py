"""Moments in running text show in the visitor's zone with UTC beside them (templates/_time.html and
static/js/localtime.js); without script the page still says UTC. Tables keep compact UTC cells."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.html import local_time

pytestmark = pytest.mark.django_db


def test_a_submission_page_gives_the_upload_time_to_the_second_as_a_local_time(upload, participant):
    submission = upload("npz", seed=3)
    client = Client()
    client.force_login(participant)
    page = client.get(f"/submissions/{submission.id}/").content.decode()
    assert f"<dt>Uploaded</dt><dd>{local_time(submission.created_at, seconds=True)}</dd>" in page


def test_the_organiser_console_gives_phase_dates_and_ground_truth_upload_as_local_times(phase, organiser):
    client = Client()
    client.force_login(organiser)
    page = client.get(f"/organiser/c/{phase.challenge.slug}/").content.decode()
    assert local_time(phase.starts_at) in page
    assert local_time(phase.ground_truth_uploaded_at) in page


def test_no_template_writes_a_moment_by_hand():
    """A hand-written `{{ x|date:"Y-m-d ..." }}` never reaches the visitor's zone: every moment goes
    through _time.html (running text) or _time_cell.html (table cells); the live countdowns, which
    are <time> elements of their own, are the exception."""
    found = []
    for template in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        if template.name in ("_time.html", "_time_cell.html"):
            continue
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if '|date:"Y-m-d' in line and "data-countdown" not in line:
                found.append(f"{template.name}:{number}")
    assert not found, found


def test_table_cells_give_compact_local_times(upload, participant, organiser, phase):
    submission = upload("npz", seed=4)
    member = Client()
    member.force_login(participant)
    listed = member.get(f"/c/{phase.challenge.slug}/submissions/").content.decode()
    stamp = submission.created_at.astimezone(datetime.UTC)
    cell = (
        f'<time datetime="{local_time(submission.created_at).split(chr(34))[1]}" data-local-time="cell">'
        f'<span class="nowrap">{stamp:%Y-%m-%d}</span> <span class="nowrap">{stamp:%H:%M} UTC</span></time>'
    )
    assert cell in listed
    org = Client()
    org.force_login(organiser)
    assert cell in org.get(f"/organiser/c/{phase.challenge.slug}/submissions/").content.decode()
