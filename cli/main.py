"""`pentathlon`: log in, get a phase's starter kit, validate and pack a submission, submit it, read results.

Exit codes: 0 success; 1 usage, network, server or local file error; 2 rejected submission
(offline validation, upload refused, or scoring failed); 3 authentication (not logged in, bad
credentials or token, not allowed); 4 not in a team of the challenge (the message gives its team
page). Errors are one sentence on stderr, never a traceback
(set PENTATHLON_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from cli import config
from cli import team as team_command
from cli.client import ApiClient, file_size
from cli.errors import EXIT_AUTH, EXIT_ERROR, EXIT_OK, EXIT_REJECTED, CliError
from evaluation.errors import EvaluationError
from evaluation.metrics.registry import METRIC_KEYS, format_number, metric

FINAL_STATES = ("finished", "failed", "cancelled")
PLAIN_WIDTH = 160  # table width when stdout is not a terminal (pipes, tests)


class _Ui:
    """The consoles of one run: results on stdout, progress bars on stderr (only on a terminal)."""

    def __init__(self) -> None:
        self.out = Console(highlight=False, soft_wrap=False)
        if not self.out.is_terminal:
            self.out = Console(highlight=False, width=PLAIN_WIDTH)
        self.err = Console(stderr=True, highlight=False)

    def progress(self, *, transfer: bool = False) -> Progress:
        columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
        columns += (
            [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
            if transfer
            else [TaskProgressColumn()]
        )
        return Progress(*columns, console=self.err, transient=True, disable=not self.err.is_terminal)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one sentence and exit code 1 (argparse's own is 2, ours means 'rejected')."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`).\n")
        raise SystemExit(EXIT_ERROR)


# ------------------------------------------------------------------------------------------- helpers


def _client(args: argparse.Namespace, *, need_token: bool = False) -> ApiClient:
    server = config.resolve_server(getattr(args, "server", None))
    token = config.resolve_token(server, getattr(args, "token", None))
    if need_token and not token:
        raise CliError(f"You are not logged in to {server}; run `pentathlon login` first.", EXIT_AUTH)
    return ApiClient(server, token)


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return format_number(value, digits, missing="-")
    return "-" if value is None else str(value)


def _print_json(ui: _Ui, data: Any) -> None:
    ui.out.print_json(json.dumps(data), highlight=False) if ui.out.is_terminal else print(
        json.dumps(data, indent=2)
    )


def _date(value: str | None) -> str:
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


# ------------------------------------------------------------------------------------------ commands


def cmd_login(args: argparse.Namespace, ui: _Ui) -> int:
    server = config.resolve_server(args.server)
    if args.token:
        client = ApiClient(server, args.token.strip())
        client.get_json("submissions/", auth_required=True)  # 401 if the token is wrong
        username = args.username or ""
        token = args.token.strip()
    else:
        username = args.username or input("Username: ").strip()
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = args.password if args.password is not None else getpass.getpass("Password: ")
        if not username or not password:
            raise CliError("A username and a password are needed to log in.", EXIT_AUTH)
        client = ApiClient(server)
        try:
            data = client.post_json("auth/token/", {"username": username, "password": password})
        except CliError as exc:
            if exc.exit_code == EXIT_ERROR and "credentials" in exc.message.lower():
                raise CliError(f"Logging in to {server} failed: {exc.message}", EXIT_AUTH) from exc
            raise
        token = data.get("token") if isinstance(data, dict) else None
        if not token:
            raise CliError(f"The server at {server} did not return a token; is it a Pentathlon server?")
    path = config.store_token(server=server, token=token, username=username)
    who = f" as {username}" if username else ""
    ui.out.print(f"Logged in to {server}{who}; the token is saved in {path} (readable by you only).")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace, ui: _Ui) -> int:
    server = config.resolve_server(args.server)
    removed = config.forget_token(server=server)
    ui.out.print(f"Logged out of {server}." if removed else f"No token was stored for {server}.")
    return EXIT_OK


def cmd_challenges(args: argparse.Namespace, ui: _Ui) -> int:
    data = _client(args).get_json("challenges/")
    if args.json:
        _print_json(ui, data)
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


def cmd_phases(args: argparse.Namespace, ui: _Ui) -> int:
    data = _client(args).get_json(f"challenges/{args.challenge}/phases/")
    if args.json:
        _print_json(ui, data)
        return EXIT_OK
    table = Table(title=f"Phases of {args.challenge}")
    for column in ("id", "slug", "title", "opens", "closes", "formats", "quota", "results", "datasets"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for phase in data:
        quota = ", ".join(
            part
            for part in (
                f"{phase['max_submissions_per_day']}/day" if phase.get("max_submissions_per_day") else "",
                f"{phase['max_submissions_total']} total" if phase.get("max_submissions_total") else "",
            )
            if part
        )
        datasets = ", ".join(
            f"{d['name']} ({d['num_queries']}x{d['num_videos']})" for d in phase.get("datasets", [])
        )
        table.add_row(
            str(phase["id"]),
            phase.get("slug", ""),
            phase.get("title", ""),
            _date(phase.get("starts_at")),
            _date(phase.get("ends_at")),
            ", ".join(phase.get("allowed_formats", [])),
            quota or "none",
            "public" if phase.get("results_published") else "hidden",
            datasets or "-",
        )
    ui.out.print(table)
    return EXIT_OK


def _safe_extract(archive: zipfile.ZipFile, target: Path) -> list[str]:
    names = []
    for info in archive.infolist():
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if (
            not parts
            or info.filename.startswith("/")
            or ".." in parts
            or re.match(r"^[A-Za-z]:", info.filename)
        ):
            raise CliError(f"The starter kit holds an unsafe path {info.filename!r}; it was not unpacked.")
        if info.is_dir():
            continue
        destination = target.joinpath(*parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, open(destination, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
        names.append("/".join(parts))
    return names


def cmd_kit(args: argparse.Namespace, ui: _Ui) -> int:
    client = _client(args)
    with tempfile.TemporaryFile() as buffer:
        with ui.progress(transfer=True) as bar:
            task = bar.add_task("downloading the starter kit", total=None)
            response = client.download(
                f"phases/{args.phase_id}/kit/",
                buffer,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        match = re.search(r'filename="?([^";]+)"?', response.headers.get("Content-Disposition", ""))
        default = (
            Path(match.group(1)).stem.replace("-starter-kit", "-kit")
            if match
            else f"phase-{args.phase_id}-kit"
        )
        target = Path(args.output) if args.output else Path(default)
        buffer.seek(0)
        try:
            with zipfile.ZipFile(buffer) as archive:
                target.mkdir(parents=True, exist_ok=True)
                names = _safe_extract(archive, target)
        except zipfile.BadZipFile as exc:
            raise CliError(
                f"The server's starter kit for phase {args.phase_id} is not a valid zip file."
            ) from exc
        except OSError as exc:
            raise CliError(
                f"The starter kit cannot be unpacked into {target} ({exc.strerror or exc})."
            ) from exc
    from cli.offline import load_kit

    kit = load_kit(kit_dir=target)
    table = Table(title=f"Starter kit of phase {args.phase_id} in {target}")
    for column in ("dataset", "queries (rows)", "videos (columns)", "captions/video"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for name, shape in kit.shapes.items():
        table.add_row(
            name, f"{shape.num_queries:,}", f"{shape.num_videos:,}", str(shape.captions_per_video or 1)
        )
    ui.out.print(table)
    ui.out.print(
        f"{len(names)} files unpacked; read {target / 'README.txt'}, then"
        f" `pentathlon validate --kit {target} SUBMISSION`."
    )
    return EXIT_OK


def _kit_from_args(args: argparse.Namespace, *, required: bool) -> Any:
    from cli.offline import load_kit

    if getattr(args, "kit", None):
        return load_kit(kit_dir=Path(args.kit))
    if getattr(args, "shapes", None):
        return load_kit(shapes_file=Path(args.shapes))
    if required:
        raise CliError("Say what to check against: --kit DIR (an unpacked starter kit) or --shapes FILE.")
    return None


def _run_validation(ui: _Ui, path: Path, kit: Any, *, deep: bool) -> list[dict[str, Any]]:
    from cli.offline import validate_submission

    with ui.progress() as bar:
        task = bar.add_task(f"validating {path.name}", total=1)
        return validate_submission(
            path,
            kit,
            deep=deep,
            progress=lambda description, done, total: bar.update(
                task, description=description, completed=done, total=total
            ),
        )


def _print_validation(ui: _Ui, path: Path, kit: Any, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{path.name}: valid")
    for column in ("dataset", "format", "arrays", "checked"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["dataset"], row["format"], row["arrays"], row["checked"])
    ui.out.print(table)
    missing = [name for name in kit.shapes if name not in {row["dataset"] for row in rows}]
    if missing:
        ui.out.print(
            f"note: no entry for {', '.join(missing)}; the submission will get per-dataset results"
            " but no overall score."
        )


def cmd_validate(args: argparse.Namespace, ui: _Ui) -> int:
    kit = _kit_from_args(args, required=True)
    path = Path(args.submission)
    rows = _run_validation(ui, path, kit, deep=not args.quick)
    if args.json:
        _print_json(
            ui,
            {
                "valid": True,
                "datasets": rows,
                "missing_datasets": [n for n in kit.shapes if n not in {r["dataset"] for r in rows}],
            },
        )
    else:
        _print_validation(ui, path, kit, rows)
    return EXIT_OK


def cmd_pack(args: argparse.Namespace, ui: _Ui) -> int:
    from cli.offline import find_inputs, known_datasets, pack_npz, pack_topk

    kit = _kit_from_args(args, required=False)
    inputs = find_inputs(Path(args.directory), known_datasets(kit))
    suffix = ".zip" if args.topk else ".npz"
    output = Path(args.output) if args.output else Path(f"submission{suffix}")
    if output.suffix.lower() != suffix:
        raise CliError(
            f"The output {output} must end in {suffix} for this format"
            f" ({'top-k CSVs in a zip' if args.topk else 'an uncompressed .npz'})."
        )
    if output.exists() and not args.force:
        raise CliError(f"The output {output} already exists; pass --force to overwrite it.")
    with ui.progress(transfer=not args.topk) as bar:
        task = bar.add_task(f"writing {output.name}", total=None)

        def report(description: str, done: float, total: float) -> None:
            bar.update(task, description=description, completed=done, total=total)

        if args.topk:
            phase_slug = args.phase_slug or (kit.phase_slug if kit is not None else None)
            if not phase_slug:
                raise CliError(
                    "Top-k CSV names include the phase: pass --phase-slug (e.g. val) or --kit DIR."
                )
            query_ids = None
            if kit is not None and kit.blind:
                if not set(inputs) <= set(kit.query_ids):
                    raise CliError(
                        "This phase is blind: every top-k row must start with its query's id, read from"
                        " the kit's <Dataset>/queries.txt, and the kit given lacks some of them."
                    )
                query_ids = kit.query_ids
            rows = pack_topk(
                inputs, output, k=args.topk, phase_slug=phase_slug, progress=report, query_ids=query_ids
            )
        else:
            rows = pack_npz(inputs, output, progress=report)
    table = Table(title=f"{output} ({file_size(output):,} bytes)")
    for column in ("dataset", "format", "member", "shape", "dtype"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["dataset"], row["format"], row["array"], row["shape"], row["dtype"])
    ui.out.print(table)
    if kit is not None:
        try:
            _print_validation(ui, output, kit, _run_validation(ui, output, kit, deep=True))
        except EvaluationError as exc:
            raise CliError(f"rejected: {exc} (the file {output} was kept)", EXIT_REJECTED) from exc
    return EXIT_OK


def _results_table(data: dict[str, Any]) -> Table:
    results = data["results"]
    title = (
        f"Submission #{data['id']} ({data.get('method_name', '')}) on {data.get('challenge', '')}"
        f" / {data.get('phase_slug', '')}"
    )
    table = Table(title=title)
    for column in ("dataset", "dir", "format"):
        table.add_column(column)
    for key in METRIC_KEYS:
        table.add_column(metric(key).label, justify="right")
    for name, result in (results.get("datasets") or {}).items():
        for direction in ("t2v", "v2t"):
            metrics = result.get(direction)
            cells = [_fmt(None if metrics is None else metrics.get(key)) for key in METRIC_KEYS]
            table.add_row(name, direction, result.get("format", ""), *cells)
    overall = results.get("overall_score")
    missing = results.get("missing_datasets") or []
    caption = f"overall score ({results.get('aggregation', 'mean')} of per-dataset t2v Geom): {_fmt(overall)}"
    overall_interval = (results.get("intervals") or {}).get("overall_score")
    if overall_interval:
        caption += f" {_interval_text(overall_interval)}"
    if missing:
        caption += f"; missing datasets: {', '.join(missing)} (no overall score)"
    table.caption = caption
    return table


def _interval_text(interval: dict[str, Any] | None) -> str:
    """An interval dict of the API as "[low, high]" at the CLI's precision ("" when missing)."""
    if not interval or interval.get("low") is None or interval.get("high") is None:
        return ""
    return f"[{_fmt(interval['low'])}, {_fmt(interval['high'])}]"


def _intervals_table(data: dict[str, Any]) -> Table | None:
    """Every metric's bootstrap interval, per dataset and direction; None when the phase shows none."""
    intervals = (data.get("results") or {}).get("intervals")
    if not intervals:
        return None
    level = float(intervals.get("level") or 0.95)
    table = Table(title=f"{100 * level:g} % confidence intervals ({intervals.get('method', 'bootstrap')})")
    for column in ("dataset", "dir"):
        table.add_column(column)
    for key in METRIC_KEYS:
        table.add_column(metric(key).label, justify="right")
    for name, entry in (intervals.get("datasets") or {}).items():
        for direction in ("t2v", "v2t"):
            bounds = entry.get(direction)
            if bounds is None:
                continue
            table.add_row(name, direction, *[_interval_text(bounds.get(key)) for key in METRIC_KEYS])
    table.caption = f"overall score: {_interval_text(intervals.get('overall_score')) or '-'}"
    return table


def _report_final(ui: _Ui, data: dict[str, Any], *, as_json: bool = False) -> int:
    status = data.get("status")
    if as_json:
        _print_json(ui, data)
    if status == "failed":
        raise CliError(f"rejected: {data.get('error_message') or 'the scorer gave no reason'}", EXIT_REJECTED)
    if status == "cancelled":
        raise CliError(f"Submission #{data['id']} was cancelled.")
    if status != "finished":
        raise CliError(
            f"Submission #{data['id']} is still {status}; see `pentathlon status {data['id']} --wait`."
        )
    if as_json:
        return EXIT_OK
    if not data.get("results_visible"):
        ui.out.print(
            f"Submission #{data['id']} is scored; its results stay hidden until the organisers publish"
            " the phase's results."
        )
    elif data.get("results"):
        ui.out.print(_results_table(data))
        intervals = _intervals_table(data)
        if intervals is not None:
            ui.out.print(intervals)
    else:
        ui.out.print(f"Submission #{data['id']} is finished but has no stored result.")
    return EXIT_OK


def _follow(
    ui: _Ui, client: ApiClient, submission: dict[str, Any], *, timeout: float, interval: float
) -> dict[str, Any]:
    """Poll submissions/<id>/ until a final state, with a progress bar of the scorer's stages."""
    data = submission
    deadline = time.monotonic() + timeout
    with ui.progress() as bar:
        task = bar.add_task(f"#{data['id']} {data.get('status', '')}", total=1.0)
        while data.get("status") not in FINAL_STATES:
            if time.monotonic() > deadline:
                raise CliError(
                    f"Submission #{data['id']} is still {data.get('status')} after {timeout:.0f} s;"
                    f" check later with `pentathlon status {data['id']}`."
                )
            time.sleep(interval)
            data = client.get_json(f"submissions/{data['id']}/", auth_required=True)
            progress = data.get("progress") or {}
            stage = progress.get("stage") or data.get("status", "")
            bar.update(
                task,
                description=f"#{data['id']} {data.get('status')}: {stage}",
                completed=float(progress.get("fraction") or 0.0),
            )
    return data


def cmd_submit(args: argparse.Namespace, ui: _Ui) -> int:
    path = Path(args.file)
    size = file_size(path)
    kit = _kit_from_args(args, required=False)
    if kit is not None:
        _run_validation(ui, path, kit, deep=True)
    client = _client(args, need_token=True)
    fields = {
        "phase": str(args.phase_id),
        "method_name": args.method_name,
        "description": args.description,
        "paper_url": args.paper_url,
        "code_url": args.code_url,
        "is_public": "false" if args.private else "true",
    }
    with ui.progress(transfer=True) as bar:
        task = bar.add_task(f"uploading {path.name}", total=size)
        if size > args.chunked_above:
            # Big files: resumable chunked upload; running the same command again resumes it.
            submission = client.upload_chunked(
                fields,
                file_path=path,
                state_path=config.config_dir() / "uploads.json",
                progress=lambda sent: bar.update(task, completed=sent),
            )
        else:
            submission = client.upload(
                "submissions/create/",
                fields,
                file_path=path,
                progress=lambda sent: bar.update(task, completed=sent),
            )
    ui.err.print(
        f"Uploaded {path.name} ({size:,} bytes) as submission #{submission['id']}"
        f" ({submission.get('status')})."
    )
    if args.no_wait:
        ui.out.print(
            f"Submission #{submission['id']} is {submission.get('status')}; follow it with"
            f" `pentathlon status {submission['id']} --wait`."
        )
        return EXIT_OK
    final = _follow(ui, client, submission, timeout=args.timeout, interval=args.interval)
    return _report_final(ui, final, as_json=args.json)


def cmd_status(args: argparse.Namespace, ui: _Ui) -> int:
    client = _client(args, need_token=True)
    data = client.get_json(f"submissions/{args.submission_id}/", auth_required=True)
    if args.wait:
        data = _follow(ui, client, data, timeout=args.timeout, interval=args.interval)
    if args.json:
        _print_json(ui, data)
        return EXIT_OK
    progress = data.get("progress") or {}
    table = Table(title=f"Submission #{data['id']}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    rows = [
        (
            "challenge / phase",
            f"{data.get('challenge')} / {data.get('phase_slug')} (phase id {data.get('phase')})",
        ),
        ("team", data.get("team", "")),
        ("method", data.get("method_name", "")),
        (
            "file",
            f"{data.get('original_filename', '')} ({data.get('file_format')}, {data.get('file_size', 0):,} bytes)",
        ),
        ("status", str(data.get("status"))),
        (
            "progress",
            f"{progress.get('stage', '-')} {100 * float(progress.get('fraction') or 0):.0f}%"
            if data.get("status") not in FINAL_STATES
            else "-",
        ),
        ("submitted", _date(data.get("created_at"))),
        ("finished", _date(data.get("finished_at"))),
        (
            "public / final",
            f"{'yes' if data.get('is_public') else 'no'} / {'yes' if data.get('is_final') else 'no'}",
        ),
    ]
    if data.get("results") and data["results"].get("overall_score") is not None:
        rows.append(("overall score", _fmt(data["results"]["overall_score"])))
    if data.get("error_message"):
        rows.append(("error", data["error_message"]))
    for field, value in rows:
        table.add_row(field, value)
    ui.out.print(table)
    return EXIT_OK


def cmd_results(args: argparse.Namespace, ui: _Ui) -> int:
    data = _client(args, need_token=True).get_json(f"submissions/{args.submission_id}/", auth_required=True)
    return _report_final(ui, data, as_json=args.json)


def cmd_cancel(args: argparse.Namespace, ui: _Ui) -> int:
    """Cancel a submission that is not running yet (the server refuses once a worker took it)."""
    client = _client(args, need_token=True)
    data = client.post_json(f"submissions/{args.submission_id}/cancel/", {}, auth_required=True)
    if args.json:
        _print_json(ui, data)
        return EXIT_OK
    ui.out.print(
        f"Submission #{data.get('id', args.submission_id)} is {data.get('status', 'cancelled')};"
        " it does not count towards the quota."
    )
    return EXIT_OK


def cmd_leaderboard(args: argparse.Namespace, ui: _Ui) -> int:
    params = {key: value for key, value in (("dataset", args.dataset), ("sort", args.sort)) if value}
    data = _client(args).get_json(f"phases/{args.phase_id}/leaderboard/", params=params)
    if args.json:
        _print_json(ui, data)
        return EXIT_OK
    if data.get("detail"):
        ui.out.print(data["detail"])
        return EXIT_OK
    datasets = data.get("datasets") or []
    dataset = data.get("dataset")
    decimals = int(data.get("decimals", 2))  # the challenge's, as on its pages and CSV
    title = f"Leaderboard of {data.get('challenge', '')} / {data.get('phase_slug', '')}"
    if dataset:  # a dataset's board: that dataset's metrics, as its page shows them
        labels = {m.get("key"): m.get("label") or m.get("key") for m in data.get("metrics") or []}
        # "score" (the primary metric), then every registered metric with a column of its own
        keys = ["score"] + [k for k in labels if not k.startswith("geometric_mean")]
        headings = ["score"] + [labels[k] for k in keys[1:]]
        table = Table(title=f"{title} / {dataset}")
        for column in ("#", "team", "method", *headings, "submitted"):
            table.add_column(column, justify="right" if column in ("#", *headings) else "left")
    else:
        table = Table(title=title)
        for column in ("#", "team", "method", "overall", *datasets, "submitted"):
            table.add_column(column, justify="right" if column in ("#", "overall", *datasets) else "left")
    for entry in data.get("entries", []):
        method = entry.get("method_name", "")
        if entry.get("is_baseline") and "(baseline)" not in method:  # organisers often name it so already
            method += " (baseline)"
        if dataset:
            values = (entry.get("metrics") or {}).get(dataset) or {}
            cells = [_fmt(values.get(k), decimals) for k in keys]
        else:
            scores = entry.get("scores") or {}
            cells = [
                _fmt(entry.get("primary_score"), decimals),
                *(_fmt(scores.get(name), decimals) for name in datasets),
            ]
        table.add_row(
            str(entry.get("rank") or "–"),
            entry.get("team", ""),
            method,
            *cells,
            _date(entry.get("submitted_at")),
        )
    if not data.get("entries"):
        table.caption = "no scored public submission yet"
    ui.out.print(table)
    return EXIT_OK


# -------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server",
        default=argparse.SUPPRESS,
        help=f"server URL (default: $PENTATHLON_SERVER, the stored one, or {config.DEFAULT_SERVER})",
    )
    common.add_argument(
        "--token", default=argparse.SUPPRESS, help="API token (default: $PENTATHLON_TOKEN or the stored one)"
    )
    parser = _Parser(
        prog="pentathlon",
        description=__doc__.split("\n\n")[0],
        epilog="Exit codes: 0 ok, 1 usage/network/server error, 2 rejected submission, 3 auth, 4 not in a team.",
    )
    parser.add_argument("--server", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--token", default=None, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        cmd.set_defaults(handler=handler)
        return cmd

    login = command("login", cmd_login, "log in and store the API token (0600) for this server")
    login.add_argument("--username", "-u")
    secret = login.add_mutually_exclusive_group()
    secret.add_argument("--password", "-p", help="the password (default: asked for, not echoed)")
    secret.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    command("logout", cmd_logout, "forget the token stored for this server")

    command("challenges", cmd_challenges, "list the open challenges").add_argument(
        "--json", action="store_true"
    )
    phases = command("phases", cmd_phases, "list a challenge's phases (ids, dates, formats, datasets)")
    phases.add_argument("challenge", help="the challenge's slug")
    phases.add_argument("--json", action="store_true")

    kit = command("kit", cmd_kit, "download and unpack a phase's starter kit")
    kit.add_argument("phase_id", type=int)
    kit.add_argument("-o", "--output", help="directory to unpack into (default: <challenge>-<phase>-kit)")

    def kit_source(cmd: argparse.ArgumentParser, *, required: bool) -> None:
        group = cmd.add_mutually_exclusive_group(required=required)
        group.add_argument("--kit", help="an unpacked starter kit directory (its shapes.json)")
        group.add_argument("--shapes", help="a shapes.json file")

    validate = command("validate", cmd_validate, "check a submission offline with the server's own checks")
    kit_source(validate, required=True)
    validate.add_argument("submission", help=".npz, .zip or .h5 submission")
    validate.add_argument("--quick", action="store_true", help="check headers only (no values)")
    validate.add_argument("--json", action="store_true")

    pack = command("pack", cmd_pack, "build a submission from per-dataset .npy files (dtype kept)")
    pack.add_argument(
        "directory",
        help="holds <Dataset>.npy similarity matrices and/or"
        " <Dataset>_text.npy + <Dataset>_video.npy embeddings",
    )
    pack.add_argument(
        "-o", "--output", help="output file (default: submission.npz, or submission.zip with --topk)"
    )
    pack.add_argument(
        "--topk", type=int, metavar="K", help="write a zip of top-K rank-list CSVs (K >= 10) instead"
    )
    pack.add_argument("--phase-slug", help="phase part of the CSV names (default: the kit's phase)")
    pack.add_argument("--force", action="store_true", help="overwrite the output")
    kit_source(pack, required=False)

    submit = command("submit", cmd_submit, "upload a submission and follow its scoring")
    submit.add_argument("phase_id", type=int)
    submit.add_argument("file", help=".npz, .zip or .h5 submission")
    submit.add_argument("--method-name", "-m", required=True)
    submit.add_argument("--description", default="")
    submit.add_argument("--paper-url", default="")
    submit.add_argument("--code-url", default="")
    submit.add_argument("--private", action="store_true", help="keep it off the public leaderboard")
    submit.add_argument("--no-wait", action="store_true", help="return after the upload")
    submit.add_argument(
        "--chunked-above",
        type=int,
        metavar="BYTES",
        default=int(os.environ.get("PENTATHLON_CHUNKED_ABOVE", 64 * 1024**2)),
        help="files larger than this go through the resumable chunked upload (default 64 MiB);"
        " after an interruption, run the same command again to resume",
    )
    submit.add_argument("--kit", help="validate against this unpacked starter kit before uploading")
    submit.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds to follow the scoring (default 3600)"
    )
    submit.add_argument(
        "--interval", type=float, default=2.0, help="seconds between status polls (default 2)"
    )
    submit.add_argument("--json", action="store_true", help="print the final submission as JSON")

    status = command("status", cmd_status, "show a submission's status and progress")
    status.add_argument("submission_id", type=int)
    status.add_argument("--wait", action="store_true", help="follow it until it is finished or failed")
    status.add_argument("--timeout", type=float, default=3600.0)
    status.add_argument("--interval", type=float, default=2.0)
    status.add_argument("--json", action="store_true")

    results = command("results", cmd_results, "show a scored submission's per-dataset results")
    results.add_argument("submission_id", type=int)
    results.add_argument("--json", action="store_true")

    cancel = command("cancel", cmd_cancel, "cancel a submission that has not started running")
    cancel.add_argument("submission_id", type=int)
    cancel.add_argument("--json", action="store_true", help="print the cancelled submission as JSON")

    board = command("leaderboard", cmd_leaderboard, "show a phase's leaderboard")
    board.add_argument("phase_id", type=int)
    board.add_argument("--dataset", help="one dataset's board (e.g. MSVD) instead of the overall one")
    board.add_argument(
        "--sort",
        help='a column key, e.g. "overall", "MSVD:score" or "MSVD:MedR" (as in the web page\'s links)',
    )
    board.add_argument("--json", action="store_true")
    team_command.register(command, _client)
    return parser


@contextmanager
def _interrupts() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        sys.stderr.write("interrupted.\n")
        raise SystemExit(130) from None


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (see the module docstring)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) and usage errors (1) from argparse
        return int(exc.code or 0)
    ui = _Ui()
    try:
        with _interrupts():
            return int(args.handler(args, ui))
    except CliError as exc:
        message = exc.message
        prefix = "" if message.startswith("rejected: ") else "error: "
        sys.stderr.write(f"{prefix}{message}\n")
        return exc.exit_code
    except EvaluationError as exc:
        sys.stderr.write(f"rejected: {exc}\n")
        return EXIT_REJECTED
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
        if os.environ.get("PENTATHLON_DEBUG"):
            raise
        text = " ".join(str(exc).split()) or "no details"
        sys.stderr.write(
            f"error: unexpected {type(exc).__name__} ({text}); rerun with PENTATHLON_DEBUG=1 to see where.\n"
        )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
