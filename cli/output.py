"""What the CLI prints: the consoles of one run and the formatting every command shares."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from evaluation.metrics.registry import format_number

PLAIN_WIDTH = 160  # table width when stdout is not a terminal (pipes, tests)


class Ui:
    """The consoles of one run: results on stdout, progress bars on stderr (only on a terminal)."""

    def __init__(self) -> None:
        self.out = Console(highlight=False, soft_wrap=False)
        if not self.out.is_terminal:
            self.out = Console(highlight=False, width=PLAIN_WIDTH)
        self.err = Console(stderr=True, highlight=False)

    def progress(self, *, transfer: bool = False) -> Progress:
        columns: list[str | ProgressColumn] = [TextColumn("{task.description}"), BarColumn()]
        columns += (
            [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
            if transfer
            else [TaskProgressColumn()]
        )
        return Progress(*columns, console=self.err, transient=True, disable=not self.err.is_terminal)


def fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return format_number(value, digits, missing="-")
    return "-" if value is None else str(value)


def print_json(ui: Ui, data: Any) -> None:
    if ui.out.is_terminal:
        ui.out.print_json(json.dumps(data), highlight=False)
    else:
        print(json.dumps(data, indent=2))


def date(value: str | None) -> str:
    """An API timestamp as "YYYY-MM-DD HH:MM UTC" (the server's times carry their zone)."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value.replace("T", " ")[:16]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
