"""`pentathlon kit`, `validate` and `pack`: the starter kit, and a submission checked and built offline.

`cli.offline` (numpy, h5py and the evaluation core) is imported when a command needs it, so the
other commands start without it.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from rich.table import Table

from cli.client import file_size
from cli.commands import ClientFactory, Register
from cli.errors import EXIT_OK, EXIT_REJECTED, CliError
from cli.output import Ui, print_json
from evaluation.errors import EvaluationError

if TYPE_CHECKING:
    from cli.offline import Kit, PackInput


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


def _download_kit(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> tuple[Path, list[str]]:
    """Download the phase's kit and unpack it; returns the directory and the files unpacked."""
    api = client(args)
    with tempfile.TemporaryFile() as buffer:
        with ui.progress(transfer=True) as bar:
            task = bar.add_task("downloading the starter kit", total=None)
            response = api.download(
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
                return target, _safe_extract(archive, target)
        except zipfile.BadZipFile as exc:
            raise CliError(
                f"The server's starter kit for phase {args.phase_id} is not a valid zip file."
            ) from exc
        except OSError as exc:
            raise CliError(
                f"The starter kit cannot be unpacked into {target} ({exc.strerror or exc})."
            ) from exc


def cmd_kit(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    target, names = _download_kit(args, ui, client)
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


def kit_from_args(args: argparse.Namespace) -> Kit | None:
    """The kit named by --kit DIR or --shapes FILE; None when neither is given."""
    from cli.offline import load_kit

    if getattr(args, "kit", None):
        return load_kit(kit_dir=Path(args.kit))
    if getattr(args, "shapes", None):
        return load_kit(shapes_file=Path(args.shapes))
    return None


def _required_kit(args: argparse.Namespace) -> Kit:
    kit = kit_from_args(args)
    if kit is None:
        raise CliError("Say what to check against: --kit DIR (an unpacked starter kit) or --shapes FILE.")
    return kit


def run_validation(ui: Ui, path: Path, kit: Kit, *, deep: bool) -> list[dict[str, Any]]:
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


def _missing(kit: Kit, rows: list[dict[str, Any]]) -> list[str]:
    """The kit's datasets that the submission has no entry for."""
    found = {row["dataset"] for row in rows}
    return [name for name in kit.shapes if name not in found]


def _print_validation(ui: Ui, path: Path, kit: Kit, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{path.name}: valid")
    for column in ("dataset", "format", "arrays", "checked"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["dataset"], row["format"], row["arrays"], row["checked"])
    ui.out.print(table)
    missing = _missing(kit, rows)
    if missing:
        ui.out.print(
            f"note: no entry for {', '.join(missing)}; the submission will get per-dataset results"
            " but no overall score."
        )


def cmd_validate(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    kit = _required_kit(args)
    path = Path(args.submission)
    rows = run_validation(ui, path, kit, deep=not args.quick)
    if args.json:
        print_json(ui, {"valid": True, "datasets": rows, "missing_datasets": _missing(kit, rows)})
    else:
        _print_validation(ui, path, kit, rows)
    return EXIT_OK


def _pack_output(args: argparse.Namespace) -> Path:
    suffix = ".zip" if args.topk else ".npz"
    output = Path(args.output) if args.output else Path(f"submission{suffix}")
    if output.suffix.lower() != suffix:
        raise CliError(
            f"The output {output} must end in {suffix} for this format"
            f" ({'top-k CSVs in a zip' if args.topk else 'an uncompressed .npz'})."
        )
    if output.exists() and not args.force:
        raise CliError(f"The output {output} already exists; pass --force to overwrite it.")
    return output


def _topk_query_ids(kit: Kit | None, inputs: dict[str, PackInput]) -> dict[str, tuple[str, ...]] | None:
    """A blind phase's query ids (each top-k row starts with one), from the kit; None otherwise."""
    if kit is None or not kit.blind:
        return None
    if not set(inputs) <= set(kit.query_ids):
        raise CliError(
            "This phase is blind: every top-k row must start with its query's id, read from"
            " the kit's <Dataset>/queries.txt, and the kit given lacks some of them."
        )
    return kit.query_ids


def cmd_pack(args: argparse.Namespace, ui: Ui, client: ClientFactory) -> int:
    from cli.offline import find_inputs, known_datasets, pack_npz, pack_topk

    kit = kit_from_args(args)
    inputs = find_inputs(Path(args.directory), known_datasets(kit))
    output = _pack_output(args)
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
            query_ids = _topk_query_ids(kit, inputs)
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
            _print_validation(ui, output, kit, run_validation(ui, output, kit, deep=True))
        except EvaluationError as exc:
            raise CliError(f"rejected: {exc} (the file {output} was kept)", EXIT_REJECTED) from exc
    return EXIT_OK


def _kit_source(cmd: argparse.ArgumentParser, *, required: bool) -> None:
    group = cmd.add_mutually_exclusive_group(required=required)
    group.add_argument("--kit", help="an unpacked starter kit directory (its shapes.json)")
    group.add_argument("--shapes", help="a shapes.json file")


def register(command: Register) -> None:
    kit = command("kit", cmd_kit, "download and unpack a phase's starter kit")
    kit.add_argument("phase_id", type=int)
    kit.add_argument("-o", "--output", help="directory to unpack into (default: <challenge>-<phase>-kit)")

    validate = command("validate", cmd_validate, "check a submission offline with the server's own checks")
    _kit_source(validate, required=True)
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
    _kit_source(pack, required=False)
