"""A code phase's run, between the claim and the scorer: build /input, run the program in the sandbox,
hand its /output to the usual scorer (docs/code-phases.md).

/input holds, per dataset of the phase, `<Dataset>/queries.tsv` (opaque id and text, in the phase's
published order) and `<Dataset>/videos.txt`, the phase's `shapes.json`, and the organisers' gallery
inputs under `gallery/`. The program writes /output/submission.npz (or .h5 or .zip).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from challenge.code_phases import (
    FAILURE_CLASS_MESSAGES,
    STAGE_RUNNING,
    STAGE_WAITING,
    phase_limits,
    phase_runtime,
)
from challenge.models import Phase
from challenge.services.code import submission_program_run_record
from challenge.services.files import local_path
from challenge.starter_kit import queries_tsv
from core.exceptions import TransientEvaluationError

if TYPE_CHECKING:
    from sandbox import RunResult

logger = logging.getLogger(__name__)

OUTPUT_NAMES = ("submission.npz", "submission.h5", "submission.zip")
NO_OUTPUT = (
    "Your program finished but wrote none of /output/submission.npz, /output/submission.h5 or "
    "/output/submission.zip."
)
BAD_PROGRAM = "The program archive could not be unpacked: {error}"
SANDBOX_DOWN = "The sandbox could not run the program ({error}); it will be tried again."
RUNTIME_UNKNOWN = "The phase's runtime is not available on this site: {error}"


class SandboxDown(TransientEvaluationError):
    """The sandbox could not run the program (the site's fault): retried, and never counted."""


class ProgramFailed(Exception):  # noqa: N818 - how a run ended, not a server error
    """The program's own failure: `message` is what its team sees (already filtered for the phase)."""

    def __init__(self, message: str, *, failure_class: str) -> None:
        super().__init__(message)
        self.message, self.failure_class = message, failure_class


def visible_message(*, phase: Phase, failure_class: str, detail: str) -> str:
    """The detailed sentence where the phase shows program output, else the failure class's only."""
    if phase.code_show_output:
        return detail
    return FAILURE_CLASS_MESSAGES.get(failure_class, FAILURE_CLASS_MESSAGES["crash"])


def input_build(*, phase: Phase, truth: Any, dest: Path) -> None:
    """Write the phase's /input into `dest`: per dataset queries.tsv and videos.txt, shapes.json, gallery/."""
    from sandbox.archive import ArchiveLimits, extract

    dest.mkdir(parents=True, exist_ok=True)
    for name, dataset in truth.datasets.items():
        folder = dest / name
        folder.mkdir()
        (folder / "queries.tsv").write_text(queries_tsv(dataset), encoding="utf-8")
        (folder / "videos.txt").write_text(
            "".join(f"{video}\n" for video in dataset.videos), encoding="utf-8"
        )
    shapes = {"query_order": phase.query_order, "datasets": truth.public_shapes()}
    (dest / "shapes.json").write_text(json.dumps(shapes, indent=2) + "\n")
    if phase.gallery_inputs:
        with local_path(phase.gallery_inputs) as path:
            extract(
                path,
                dest / "gallery",
                limits=ArchiveLimits(
                    max_members=100_000, max_bytes=settings.PENTATHLON_GALLERY_INPUTS_MAX_BYTES
                ),
            )
    for item in [dest, *dest.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)


def _program_unpack(*, row: dict[str, Any], program_path: str, dest: Path) -> None:
    """Extract the submitted archive into `dest`; a bad archive is recorded as the run and fails it."""
    from sandbox.archive import ArchiveError, ArchiveLimits, program_extract

    try:
        program_extract(
            program_path, dest, limits=ArchiveLimits(max_bytes=settings.PENTATHLON_PROGRAM_MAX_BYTES)
        )
    except ArchiveError as exc:
        detail = BAD_PROGRAM.format(error=exc)
        submission_program_run_record(row=row, run={"ok": False, "failure_class": "crash", "message": detail})
        raise ProgramFailed(detail, failure_class="crash") from exc


def _run_output(*, row: dict[str, Any], phase: Phase, result: RunResult, output_dir: Path) -> str:
    """Record the sandbox's `result` as the submission's run; the path of the output file it left.

    Raises ProgramFailed when the program failed or wrote none of OUTPUT_NAMES."""
    run = {**result.as_dict(), "stdout": result.stdout, "stderr": result.stderr}
    found = [name for name in OUTPUT_NAMES if (output_dir / name).is_file()]
    if result.ok and not found:
        run.update(ok=False, failure_class="bad_output", message=NO_OUTPUT)
    submission_program_run_record(row=row, run=run)
    if not run["ok"]:
        raise ProgramFailed(
            visible_message(phase=phase, failure_class=run["failure_class"], detail=run["message"]),
            failure_class=run["failure_class"],
        )
    return str(output_dir / found[0])


@contextmanager
def program_output(
    *,
    row: dict[str, Any],
    phase: Phase,
    truth: Any,
    program_path: str,
    progress: Callable[[str, str | None, float], None],
) -> Iterator[str]:
    """Run the submitted program on the phase's inputs; yield the path of the file it wrote for scoring.

    Records the run on the submission (`program_run`) whatever its end.

    Raises:
        ProgramFailed: the program failed (a limit, a crash, no output): its team's fault.
        SandboxDown: the sandbox could not run it (the site's fault): retried, not counted.
    """
    from sandbox import Job, SandboxUnavailable, backend_get

    progress(STAGE_WAITING, None, 0.0)
    try:
        runtime = phase_runtime(phase=phase)
    except KeyError as exc:
        raise SandboxDown(RUNTIME_UNKNOWN.format(error=exc.args[0])) from exc
    backend = backend_get(settings.PENTATHLON_SANDBOX_BACKEND, **settings.PENTATHLON_SANDBOX_OPTIONS)
    with tempfile.TemporaryDirectory(prefix="pentathlon-run-") as scratch:
        root = Path(scratch)
        root.chmod(0o755)
        _program_unpack(row=row, program_path=program_path, dest=root / "program")
        input_build(phase=phase, truth=truth, dest=root / "input")
        (root / "output").mkdir()
        job = Job(
            program_dir=root / "program",
            input_dir=root / "input",
            output_dir=root / "output",
            runtime=runtime,
            limits=phase_limits(phase=phase),
            gpu=phase.code_gpu,
        )
        progress(STAGE_RUNNING, None, 0.0)
        try:
            result = backend.run(job)
        except SandboxUnavailable as exc:
            logger.error("phase %s: the sandbox is unavailable: %s", phase.id, exc)
            raise SandboxDown(SANDBOX_DOWN.format(error=exc)) from exc
        yield _run_output(row=row, phase=phase, result=result, output_dir=root / "output")
