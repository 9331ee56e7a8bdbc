"""Dataset names of the Pentathlon and the spellings accepted for them."""

from __future__ import annotations

from .errors import SubmissionFormatError

PENTATHLON_DATASETS: tuple[str, ...] = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")

_ALIASES = {name.lower(): name for name in PENTATHLON_DATASETS}
_ALIASES.update({"activity-net": "ActivityNet", "activity_net": "ActivityNet"})


def canonical_dataset_name(
    name: str, *, known: tuple[str, ...] | list[str] | None = None, member: str | None = None
) -> str:
    """Map a user spelling to the canonical dataset name (case-insensitive; `activity-net` allowed).

    Args:
        name: the name as found in the submission.
        known: the names allowed here (the ground truth's datasets); the Pentathlon five by default.
        member: the archive member or array the name came from, for the error message.
    Raises:
        SubmissionFormatError: the name is not one of `known`.

    >>> canonical_dataset_name("activity-net")
    'ActivityNet'
    """
    allowed = tuple(known) if known is not None else PENTATHLON_DATASETS
    lookup = {n.lower(): n for n in allowed}
    for alias, target in _ALIASES.items():
        if target in allowed:
            lookup.setdefault(alias, target)
    found = lookup.get(name.strip().lower())
    if found is None:
        raise SubmissionFormatError(
            f"unknown dataset name {name!r}; expected one of {', '.join(allowed)}"
            " (case-insensitive, 'activity-net' accepted)",
            member=member,
        )
    return found
