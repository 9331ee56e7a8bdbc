"""`pentathlon team`: show your team in a challenge, create one, or join one with its invite code.

It talks to /api/v1/challenges/<slug>/team/ (and .../join/).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from cli.commands import ClientFactory, Register
from cli.errors import EXIT_ERROR, EXIT_OK, CliError
from cli.output import Ui


def _show(team: dict[str, Any], headline: str) -> None:
    print(headline)
    print(
        f"  invite code: {team['invite_code']}  (team mates run: pentathlon team {team['challenge']} "
        f"--join {team['invite_code']})"
    )
    if not team["is_approved"]:
        print("  awaiting the organisers' approval: the team cannot submit until they approve it")
    members = ", ".join(f"{m['username']} ({m['role']})" for m in team["members"])
    print(f"  members: {members}")
    print(f"  team page: {team['team_page']}")


def cmd_team(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    api = client(args, need_token=True)
    path = f"challenges/{args.challenge}/team/"
    if args.create and args.join:
        raise CliError("Use either --create NAME or --join CODE, not both.", EXIT_ERROR)
    if args.create:
        team, headline = api.post_json(path, {"name": args.create}), "Created team {name} in {challenge}."
    elif args.join:
        team, headline = (
            api.post_json(path + "join/", {"invite_code": args.join}),
            "Joined team {name} in {challenge}.",
        )
    else:
        team, headline = api.get_json(path), "Team {name} in {challenge}."
    if args.json:
        print(json.dumps(team, indent=2))
    else:
        _show(team, headline.format(name=team["name"], challenge=team["challenge"]))
    return EXIT_OK


def register(command: Register) -> None:
    team = command("team", cmd_team, "show your team in a challenge, or create or join one")
    team.add_argument("challenge", help="the challenge's slug")
    action = team.add_mutually_exclusive_group()
    action.add_argument("--create", metavar="NAME", help="create a team with this name (you own it)")
    action.add_argument("--join", metavar="CODE", help="join the team whose invite code this is")
    team.add_argument("--json", action="store_true")
