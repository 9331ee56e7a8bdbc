"""`pentathlon challenges` and `phases`: what a server runs, as tables."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from cli.commands import ClientFactory, Register
from cli.errors import EXIT_OK
from cli.output import Ui, date, print_json


def cmd_challenges(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    data = client(args).get_json("challenges/")
    if args.json:
        print_json(ui, data)
        return EXIT_OK
    if not data:
        ui.out.print("No challenge is open on this server.")
        return EXIT_OK
    table = Table(title="Challenges")
    for column in ("slug", "title", "summary"):
        table.add_column(column)
    for item in data:
        table.add_row(item.get("slug", ""), item.get("title", ""), item.get("summary", ""))
    ui.out.print(table)
    return EXIT_OK


def _quota(phase: dict[str, Any]) -> str:
    return ", ".join(
        part
        for part in (
            f"{phase['max_submissions_per_day']}/day" if phase.get("max_submissions_per_day") else "",
            f"{phase['max_submissions_total']} total" if phase.get("max_submissions_total") else "",
        )
        if part
    )


def cmd_phases(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    data = client(args).get_json(f"challenges/{args.challenge}/phases/")
    if args.json:
        print_json(ui, data)
        return EXIT_OK
    table = Table(title=f"Phases of {args.challenge}")
    for column in ("id", "slug", "title", "opens", "closes", "formats", "quota", "results", "datasets"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for phase in data:
        datasets = ", ".join(
            f"{d['name']} ({d['num_queries']}x{d['num_videos']})" for d in phase.get("datasets", [])
        )
        table.add_row(
            str(phase["id"]),
            phase.get("slug", ""),
            phase.get("title", ""),
            date(phase.get("starts_at")),
            date(phase.get("ends_at")),
            ", ".join(phase.get("allowed_formats", [])),
            _quota(phase) or "none",
            "public" if phase.get("results_published") else "hidden",
            datasets or "-",
        )
    ui.out.print(table)
    return EXIT_OK


def register(command: Register) -> None:
    command("challenges", cmd_challenges, "list the open challenges").add_argument(
        "--json", action="store_true"
    )
    phases = command("phases", cmd_phases, "list a challenge's phases (ids, dates, formats, datasets)")
    phases.add_argument("challenge", help="the challenge's slug")
    phases.add_argument("--json", action="store_true")
