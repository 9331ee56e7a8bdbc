"""Running a participant's program in isolation: one interface, backends chosen by a setting.

Pure Python (no Django): `sandbox.backend_get(name)` gives a backend whose `run(Job)` returns a
`RunResult`. Backends: "bubblewrap" (the embedded default), "docker" (production). See docs/code-phases.md.
"""

from __future__ import annotations

from .base import (
    BAD_OUTPUT,
    CRASH,
    FAILURE_CLASSES,
    MEMORY,
    TIMEOUT,
    Backend,
    Job,
    Limits,
    RunResult,
    Runtime,
    SandboxUnavailable,
    human_size,
)
from .runtimes import DEFAULT_RUNTIME, runtime_get, runtimes

BACKENDS = ("bubblewrap", "docker")
UNKNOWN_BACKEND = "Unknown sandbox backend {name!r}; use one of {known} (PENTATHLON_SANDBOX_BACKEND)."


def backend_get(name: str, **options: object) -> Backend:
    """The backend called `name`, built with its options (e.g. docker's `docker` binary, `network`)."""
    if name == "bubblewrap":
        from .bubblewrap import BubblewrapBackend

        return BubblewrapBackend(**options)  # type: ignore[arg-type]
    if name == "docker":
        from .docker import DockerBackend

        return DockerBackend(**options)  # type: ignore[arg-type]
    raise ValueError(UNKNOWN_BACKEND.format(name=name, known=", ".join(BACKENDS)))


__all__ = [
    "BACKENDS",
    "BAD_OUTPUT",
    "CRASH",
    "DEFAULT_RUNTIME",
    "FAILURE_CLASSES",
    "MEMORY",
    "TIMEOUT",
    "Backend",
    "Job",
    "Limits",
    "RunResult",
    "Runtime",
    "SandboxUnavailable",
    "backend_get",
    "human_size",
    "runtime_get",
    "runtimes",
]
