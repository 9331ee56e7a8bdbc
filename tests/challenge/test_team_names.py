"""Team-name helpers that refuse look-alike names: not wired into team creation yet."""

from __future__ import annotations

import re

import pytest

from challenge.team_names import team_name_key, team_name_normalise
from core.exceptions import ApplicationError


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("Alpha", "Alpha"),
        ("  Alpha   Team ", "Alpha Team"),
        ("Ａｌｐｈａ", "Alpha"),  # full-width letters
        ("ﬁnal", "final"),  # the fi ligature
        ("Tab\tand\nnewline", "Tab and newline"),  # whitespace collapses to one space
        ("Équipe Zürich 東京", "Équipe Zürich 東京"),
    ],
)
def test_names_are_stored_in_nfkc_with_single_spaces(raw, stored):
    assert team_name_normalise(raw) == stored


@pytest.mark.parametrize(
    "raw, codepoint",
    [
        ("Alpha\u202egnp.exe", "U+202E"),  # right-to-left override
        ("\u2067Alpha\u2069", "U+2067"),  # right-to-left isolate
        ("Al\u200bpha", "U+200B"),  # zero-width space
        ("Al\u200dpha", "U+200D"),  # zero-width joiner
        ("\ufeffAlpha", "U+FEFF"),  # byte-order mark
        ("Alpha\x00", "U+0000"),
        ("Alpha\x1b[31m", "U+001B"),  # terminal escape
        ("Alpha\u2028", "U+2028"),  # line separator
        ("Alpha\ue000", "U+E000"),  # private use
    ],
)
def test_control_bidi_and_invisible_characters_are_refused(raw, codepoint):
    with pytest.raises(ApplicationError, match=re.escape(f"found {codepoint}")):
        team_name_normalise(raw)


@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_empty_names_are_refused(raw):
    with pytest.raises(ApplicationError, match="at least one visible character"):
        team_name_normalise(raw)


def test_names_longer_than_the_field_are_refused():
    assert team_name_normalise("x" * 100) == "x" * 100
    with pytest.raises(ApplicationError, match="at most 100 characters; this one has 101"):
        team_name_normalise("x" * 101)


@pytest.mark.parametrize(
    "one, other",
    [("Alpha", "ALPHA"), ("alpha", "Ａｌｐｈａ"), ("Straße", "STRASSE"), ("Alpha  Team", "alpha team")],
)
def test_names_differing_in_case_or_width_share_a_key(one, other):
    assert team_name_key(one) == team_name_key(other)


def test_different_names_keep_different_keys():
    assert team_name_key("Alpha") != team_name_key("Alpha 2")
    # Cyrillic А is another letter, not a case or width variant: refused only by moderation.
    assert team_name_key("\u0410lpha") != team_name_key("Alpha")
