"""Team names that cannot impersonate another team (not wired in yet).

`team_name_normalise` is what a name is stored as: NFKC (full-width and compatibility forms become
their plain letters), surrounding whitespace dropped and inner runs of whitespace made one space.
Control characters, bidirectional overrides and isolates (which can reverse how a name displays),
zero-width and other invisible format characters, and line or paragraph separators are refused.
`team_name_key` is what two names must not share within a challenge: the normalised name,
case-folded (so "Alpha", "ALPHA" and "ａｌｐｈａ" are one name), for a unique constraint.
"""

from __future__ import annotations

import re
import unicodedata

from core.exceptions import ApplicationError

TEAM_NAME_EMPTY = "A team name needs at least one visible character; choose a name."
TEAM_NAME_TOO_LONG = (
    "A team name has at most {limit} characters; this one has {length}. Choose a shorter name."
)
TEAM_NAME_INVISIBLE_CHARACTER = (
    "A team name may not contain control, bidirectional or invisible characters (found {codepoint});"
    " use letters, digits, spaces and punctuation."
)
TEAM_NAME_MAX_LENGTH = 100  # Team.name's max_length
# Unicode categories that display as nothing or reorder what follows: Cc controls, Cf format characters
# (bidi overrides and isolates, zero-width joiners and spaces, BOM, soft hyphen...), Co private use,
# Cs surrogates, Cn unassigned, Zl and Zp line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_WHITESPACE = re.compile(r"\s+")


def team_name_normalise(name: str) -> str:
    """The form a team name is stored and shown in.

    >>> team_name_normalise("  Ｔｅａｍ   Ａ ")
    'Team A'

    Raises:
        ApplicationError: empty once normalised, longer than the field, or holding a refused character.
    """
    text = unicodedata.normalize("NFKC", name)
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES and char not in "\t\n\r":
            raise ApplicationError(TEAM_NAME_INVISIBLE_CHARACTER.format(codepoint=f"U+{ord(char):04X}"))
    text = _WHITESPACE.sub(" ", text).strip()
    if not text:
        raise ApplicationError(TEAM_NAME_EMPTY)
    if len(text) > TEAM_NAME_MAX_LENGTH:
        raise ApplicationError(TEAM_NAME_TOO_LONG.format(limit=TEAM_NAME_MAX_LENGTH, length=len(text)))
    return text


def team_name_key(name: str) -> str:
    """The key two teams of one challenge may not share: the normalised name, case-folded.

    >>> team_name_key("Straße") == team_name_key("STRASSE") == team_name_key("strasse")
    True
    """
    return unicodedata.normalize("NFKC", team_name_normalise(name).casefold())
