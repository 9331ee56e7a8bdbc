"""What challenge tells the rest of the site about its writes, as Django signals.

Challenge writes most of what a leaderboard shows (submissions, phases, teams, the challenge's
settings) but owns no board: the board cache lives in `leaderboard.boards`, above challenge, which
receives these signals (`leaderboard.boards.receivers`). Challenge so never imports leaderboard.

Each sender is called after the write, inside its transaction; a receiver that acts on it waits for
the commit itself. Signals are sent synchronously (Django's `Signal.send`), so a receiver's error
reaches the writer as it did when the writer called the cache directly.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.dispatch import Signal

#: What the boards of these phases show changed. Arguments: `phase_ids`.
phase_boards_changed_signal = Signal()
#: What every board of a challenge shows changed (its metric, direction, precision or datasets).
#: Arguments: `challenge_id`.
challenge_boards_changed_signal = Signal()
#: Submissions joined, left or changed on their phases' boards. Arguments: `submission_ids`.
submission_boards_changed_signal = Signal()
#: A phase or a challenge row was written (the catalog a board's URL is looked up in). No arguments.
catalog_changed_signal = Signal()


def phase_boards_changed(*, phase_ids: Iterable[int]) -> None:
    """The boards of these phases show something new (a result, a rule, a visibility)."""
    phase_boards_changed_signal.send(sender=__name__, phase_ids=list(phase_ids))


def challenge_boards_changed(*, challenge_id: int) -> None:
    """Every board of the challenge shows something new (its metric, direction, precision, datasets)."""
    challenge_boards_changed_signal.send(sender=__name__, challenge_id=challenge_id)


def submission_boards_changed(*, submission_ids: Iterable[int]) -> None:
    """These submissions joined, left or changed on their phases' boards."""
    submission_boards_changed_signal.send(sender=__name__, submission_ids=list(submission_ids))


def catalog_changed() -> None:
    """A phase or challenge row was written (a bulk write: saves and deletes reach the receivers
    through Django's model signals)."""
    catalog_changed_signal.send(sender=__name__)
