"""Code phases (docs/code-phases.md): the runtime, limits and inputs of a phase whose programs the
server runs, and what a team may see of a run. Reads only; the writes are in `challenge.services.code`."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from challenge.models import Phase, Submission

#: Shown on a phase whose program output is hidden, in place of the output and the detailed reason.
FAILURE_CLASS_MESSAGES = {
    "timeout": "Your program ran out of time (wall-clock or CPU limit).",
    "memory": "Your program used more memory than the phase allows.",
    "crash": "Your program failed (it exited with an error, was killed, or hit the process limit).",
    "bad_output": "Your program's output could not be scored (missing, too large or invalid).",
}
#: The progress stages of a code submission.
STAGE_WAITING = "waiting for a sandbox"
STAGE_RUNNING = "running your program"
STAGE_SCORING = "scoring your program's output"


def phase_runtime(*, phase: Phase) -> Any:
    """The phase's `sandbox.Runtime` (its own choice, else the site's default).

    Raises:
        KeyError: the phase names a runtime the site does not know (the message says which exist).
    """
    from sandbox import runtime_get

    name = phase.runtime or settings.PENTATHLON_SANDBOX_DEFAULT_RUNTIME
    return runtime_get(name, settings.PENTATHLON_SANDBOX_RUNTIMES)


def runtime_choices() -> list[tuple[str, str]]:
    from sandbox import runtimes

    return [
        (name, f"{name}: {rt.description}")
        for name, rt in runtimes(settings.PENTATHLON_SANDBOX_RUNTIMES).items()
    ]


def phase_limits(*, phase: Phase) -> Any:
    """The `sandbox.Limits` of the phase's runs."""
    from sandbox import Limits

    mib = 1024**2
    return Limits(
        wall_s=float(phase.code_wall_limit_s),
        memory_bytes=phase.code_memory_limit_mb * mib,
        cpus=phase.code_cpus,
        output_bytes=phase.code_output_limit_mb * mib,
        tmp_bytes=phase.code_output_limit_mb * mib,
    )


def phase_code_description(*, phase: Phase) -> dict[str, Any]:
    """What a participant is told of a code phase: runtime, limits, hardware and the interface."""
    try:
        runtime = phase_runtime(phase=phase)
        runtime_name, runtime_text, packages = runtime.name, runtime.description, list(runtime.packages)
    except KeyError:
        runtime_name, runtime_text, packages = phase.runtime, "unknown runtime", []
    return {
        "runtime": runtime_name,
        "runtime_description": runtime_text,
        "packages": packages,
        "command": "python main.py --input /input --output /output",
        "wall_limit_s": phase.code_wall_limit_s,
        "memory_limit_mb": phase.code_memory_limit_mb,
        "cpus": phase.code_cpus,
        "output_limit_mb": phase.code_output_limit_mb,
        "gpu": phase.code_gpu,
        "shows_program_output": phase.code_show_output,
        "failures_count": phase.code_failures_count,
    }


def submission_program_run_visible(*, submission: Submission, organiser: bool = False) -> dict[str, Any]:
    """The part of a program run its team may see: everything on a phase that shows output (and to the
    organisers); else the status, run time, failure class and hardware only, never the output."""
    run = dict(submission.program_run or {})
    if not run:
        return {}
    if organiser or submission.phase.code_show_output:
        return run
    failure = run.get("failure_class", "")
    return {
        "ok": run.get("ok"),
        "wall_s": run.get("wall_s"),
        "failure_class": failure,
        "message": FAILURE_CLASS_MESSAGES.get(failure, "") if failure else "",
        "hardware": run.get("hardware", ""),
    }
