"""`pentathlon leaderboard`: a phase's board, overall or one dataset's, as its web page shows it."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from cli.commands import ClientFactory, Register
from cli.errors import EXIT_OK
from cli.output import Ui, date, fmt, print_json


def _board_table(data: dict[str, Any]) -> tuple[Table, list[str]]:
    """The empty table of a board, and the keys of its score cells (a dataset's board only)."""
    datasets = data.get("datasets") or []
    dataset = data.get("dataset")
    title = f"Leaderboard of {data.get('challenge', '')} / {data.get('phase_slug', '')}"
    if not dataset:
        table = Table(title=title)
        for column in ("#", "team", "method", "overall", *datasets, "submitted"):
            table.add_column(column, justify="right" if column in ("#", "overall", *datasets) else "left")
        return table, []
    # a dataset's board: that dataset's metrics, as its page shows them
    labels = {m.get("key"): m.get("label") or m.get("key") for m in data.get("metrics") or []}
    # "score" (the primary metric), then every registered metric with a column of its own
    keys = ["score"] + [k for k in labels if not k.startswith("geometric_mean")]
    headings = ["score"] + [labels[k] for k in keys[1:]]
    table = Table(title=f"{title} / {dataset}")
    for column in ("#", "team", "method", *headings, "submitted"):
        table.add_column(column, justify="right" if column in ("#", *headings) else "left")
    return table, keys


def _board_row(data: dict[str, Any], entry: dict[str, Any], keys: list[str]) -> list[str]:
    decimals = int(data.get("decimals", 2))  # the challenge's, as on its pages and CSV
    method = entry.get("method_name", "")
    if entry.get("is_baseline") and "(baseline)" not in method:  # organisers often name it so already
        method += " (baseline)"
    dataset = data.get("dataset")
    if dataset:
        values = (entry.get("metrics") or {}).get(dataset) or {}
        cells = [fmt(values.get(k), decimals) for k in keys]
    else:
        scores = entry.get("scores") or {}
        cells = [
            fmt(entry.get("primary_score"), decimals),
            *(fmt(scores.get(name), decimals) for name in data.get("datasets") or []),
        ]
    return [
        str(entry.get("rank") or "–"),
        entry.get("team", ""),
        method,
        *cells,
        date(entry.get("submitted_at")),
    ]


def cmd_leaderboard(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    params = {key: value for key, value in (("dataset", args.dataset), ("sort", args.sort)) if value}
    data = client(args).get_json(f"phases/{args.phase_id}/leaderboard/", params=params)
    if args.json:
        print_json(ui, data)
        return EXIT_OK
    if data.get("detail"):
        ui.out.print(data["detail"])
        return EXIT_OK
    table, keys = _board_table(data)
    for entry in data.get("entries", []):
        table.add_row(*_board_row(data, entry, keys))
    if not data.get("entries"):
        table.caption = "no scored public submission yet"
    ui.out.print(table)
    return EXIT_OK


def register(command: Register) -> None:
    board = command("leaderboard", cmd_leaderboard, "show a phase's leaderboard")
    board.add_argument("phase_id", type=int)
    board.add_argument("--dataset", help="one dataset's board (e.g. MSVD) instead of the overall one")
    board.add_argument(
        "--sort",
        help='a column key, e.g. "overall", "MSVD:score" or "MSVD:MedR" (as in the web page\'s links)',
    )
    board.add_argument("--json", action="store_true")
