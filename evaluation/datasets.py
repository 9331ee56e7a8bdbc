"""Dataset names: the challenge's own, with the Pentathlon five as a preset and their accepted spellings."""

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
    if not allowed:
        raise SubmissionFormatError(
            f"unknown dataset name {name!r}; no dataset is expected here", member=member
        )
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


#: Longest dataset name a ground-truth file may use.
MAX_DATASET_NAME_LENGTH = 64
BAD_DATASET_NAME_MESSAGE = (
    "dataset name {name!r} is not usable; expected 1 to {limit} printable characters without '/'"
)


def file_dataset_name(name: str) -> str:
    """A dataset's name as a ground-truth file spells it: a Pentathlon name (any accepted spelling)
    becomes its canonical form, any other name stays as it is.

    >>> file_dataset_name("activity-net"), file_dataset_name("MyClips")
    ('ActivityNet', 'MyClips')
    """
    found = _ALIASES.get(name.strip().lower())
    if found is not None:
        return found
    if (
        not name
        or len(name) > MAX_DATASET_NAME_LENGTH
        or not name.isprintable()
        or "/" in name
        or name != name.strip()
    ):
        raise SubmissionFormatError(BAD_DATASET_NAME_MESSAGE.format(name=name, limit=MAX_DATASET_NAME_LENGTH))
    return name
