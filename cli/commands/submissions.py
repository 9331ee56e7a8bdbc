"""`pentathlon submit`, `status`, `results` and `cancel`: a submission's upload, scoring and results."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from cli import config
from cli.client import ApiClient, file_size
from cli.commands import ClientFactory, Register
from cli.commands.kit import kit_from_args, run_validation
from cli.errors import EXIT_OK, EXIT_REJECTED, CliError
from cli.output import Ui, date, fmt, print_json
from evaluation.metrics.registry import metric, reported_metric_keys

FINAL_STATES = ("finished", "failed", "cancelled")


def _results_table(data: dict[str, Any]) -> Table:
    results = data["results"]
    title = (
        f"Submission #{data['id']} ({data.get('method_name', '')}) on {data.get('challenge', '')}"
        f" / {data.get('phase_slug', '')}"
    )
    table = Table(title=title)
    for column in ("dataset", "dir", "format"):
        table.add_column(column)
    datasets = results.get("datasets") or {}
    keys = reported_metric_keys(entry.get(d) for entry in datasets.values() for d in ("t2v", "v2t"))
    for key in keys:
        table.add_column(metric(key).label, justify="right")
    for name, result in datasets.items():
        for direction in ("t2v", "v2t"):
            metrics = result.get(direction)
            cells = [fmt(None if metrics is None else metrics.get(key)) for key in keys]
            table.add_row(name, direction, result.get("format", ""), *cells)
    overall = results.get("overall_score")
    missing = results.get("missing_datasets") or []
    caption = f"overall score ({results.get('aggregation', 'mean')} of per-dataset t2v Geom): {fmt(overall)}"
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
    return f"[{fmt(interval['low'])}, {fmt(interval['high'])}]"


def _intervals_table(data: dict[str, Any]) -> Table | None:
    """Every metric's bootstrap interval, per dataset and direction; None when the phase shows none."""
    intervals = (data.get("results") or {}).get("intervals")
    if not intervals:
        return None
    level = float(intervals.get("level") or 0.95)
    table = Table(title=f"{100 * level:g} % confidence intervals ({intervals.get('method', 'bootstrap')})")
    for column in ("dataset", "dir"):
        table.add_column(column)
    datasets = intervals.get("datasets") or {}
    keys = reported_metric_keys(entry.get(d) for entry in datasets.values() for d in ("t2v", "v2t"))
    for key in keys:
        table.add_column(metric(key).label, justify="right")
    for name, entry in datasets.items():
        for direction in ("t2v", "v2t"):
            bounds = entry.get(direction)
            if bounds is None:
                continue
            table.add_row(name, direction, *[_interval_text(bounds.get(key)) for key in keys])
    table.caption = f"overall score: {_interval_text(intervals.get('overall_score')) or '-'}"
    return table


def _report_final(ui: Ui, data: dict[str, Any], *, as_json: bool = False) -> int:
    status = data.get("status")
    if as_json:
        print_json(ui, data)
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
    ui: Ui, api: ApiClient, submission: dict[str, Any], *, timeout: float, interval: float
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
            data = api.get_json(f"submissions/{data['id']}/", auth_required=True)
            progress = data.get("progress") or {}
            stage = progress.get("stage") or data.get("status", "")
            bar.update(
                task,
                description=f"#{data['id']} {data.get('status')}: {stage}",
                completed=float(progress.get("fraction") or 0.0),
            )
    return data


def _upload(args: argparse.Namespace, ui: Ui, api: ApiClient, path: Path, size: int) -> dict[str, Any]:
    """Upload the file with the submission's fields; returns the server's new submission."""
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
            submission: dict[str, Any] = api.upload_chunked(
                fields,
                file_path=path,
                state_path=config.config_dir() / "uploads.json",
                progress=lambda sent: bar.update(task, completed=sent),
            )
        else:
            submission = api.upload(
                "submissions/create/",
                fields,
                file_path=path,
                progress=lambda sent: bar.update(task, completed=sent),
            )
    ui.err.print(
        f"Uploaded {path.name} ({size:,} bytes) as submission #{submission['id']}"
        f" ({submission.get('status')})."
    )
    return submission


def cmd_submit(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    path = Path(args.file)
    size = file_size(path)
    kit = kit_from_args(args)
    if kit is not None:
        run_validation(ui, path, kit, deep=True)
    api = client(args, need_token=True)
    submission = _upload(args, ui, api, path, size)
    if args.no_wait:
        ui.out.print(
            f"Submission #{submission['id']} is {submission.get('status')}; follow it with"
            f" `pentathlon status {submission['id']} --wait`."
        )
        return EXIT_OK
    final = _follow(ui, api, submission, timeout=args.timeout, interval=args.interval)
    return _report_final(ui, final, as_json=args.json)


def _status_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    progress = data.get("progress") or {}
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
        ("submitted", date(data.get("created_at"))),
        ("finished", date(data.get("finished_at"))),
        (
            "public / final",
            f"{'yes' if data.get('is_public') else 'no'} / {'yes' if data.get('is_final') else 'no'}",
        ),
    ]
    if data.get("results") and data["results"].get("overall_score") is not None:
        rows.append(("overall score", fmt(data["results"]["overall_score"])))
    if data.get("error_message"):
        rows.append(("error", data["error_message"]))
    return rows


def cmd_status(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    api = client(args, need_token=True)
    data = api.get_json(f"submissions/{args.submission_id}/", auth_required=True)
    if args.wait:
        data = _follow(ui, api, data, timeout=args.timeout, interval=args.interval)
    if args.json:
        print_json(ui, data)
        return EXIT_OK
    table = Table(title=f"Submission #{data['id']}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for field, value in _status_rows(data):
        table.add_row(field, value)
    ui.out.print(table)
    return EXIT_OK


def cmd_results(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    data = client(args, need_token=True).get_json(f"submissions/{args.submission_id}/", auth_required=True)
    return _report_final(ui, data, as_json=args.json)


def cmd_cancel(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    """Cancel a submission that is not running yet (the server refuses once a worker took it)."""
    data = client(args, need_token=True).post_json(
        f"submissions/{args.submission_id}/cancel/", {}, auth_required=True
    )
    if args.json:
        print_json(ui, data)
        return EXIT_OK
    ui.out.print(
        f"Submission #{data.get('id', args.submission_id)} is {data.get('status', 'cancelled')};"
        " it does not count towards the quota."
    )
    return EXIT_OK


def _register_submit(command: Register) -> None:
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


def register(command: Register) -> None:
    _register_submit(command)
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
