"""The runtimes the site offers: a registry built from a setting, plus the embedded default.

An organiser picks one per code phase; a program may import what its runtime has installed and nothing
else (a participant's requirements are never installed). The setting PENTATHLON_SANDBOX_RUNTIMES maps
a name to {"description", "python", "mounts", "image", "packages"}; the built-in `python3-torch`
is the interpreter running the site (its virtual environment with numpy and torch), which is what the
embedded default and the tests use.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .base import Runtime

DEFAULT_RUNTIME = "python3-torch"
UNKNOWN_RUNTIME = "Unknown runtime {name!r}; this site offers {known}."


def builtin_runtime() -> Runtime:
    """The site's own interpreter: its prefix, its base prefix and its site-packages, read-only."""
    prefix = Path(sys.prefix).resolve()
    mounts = list(dict.fromkeys((str(Path(sys.base_prefix).resolve()), str(prefix))))
    return Runtime(
        name=DEFAULT_RUNTIME,
        description=(
            f"Python {sys.version_info.major}.{sys.version_info.minor} with the standard library, numpy, "
            "torch (CPU, or CUDA where the worker has a GPU) and h5py; no network, no pip."
        ),
        python=str(prefix / "bin" / "python"),
        mounts=tuple(mounts),
        image="pentathlon-runtime:latest",
        packages=("numpy", "torch", "h5py"),
    )


def runtimes(configured: dict[str, Any] | None = None) -> dict[str, Runtime]:
    """Every runtime the site knows: the built-in one and those of the setting (which may replace it)."""
    known = {DEFAULT_RUNTIME: builtin_runtime()}
    for name, spec in (configured or {}).items():
        known[name] = Runtime(
            name=name,
            description=str(spec.get("description", "")),
            python=str(spec["python"]),
            mounts=tuple(spec.get("mounts", ())),
            image=str(spec.get("image", "")),
            packages=tuple(spec.get("packages", ())),
        )
    return known


def runtime_get(name: str, configured: dict[str, Any] | None = None) -> Runtime:
    known = runtimes(configured)
    if name not in known:
        raise KeyError(UNKNOWN_RUNTIME.format(name=name, known=", ".join(sorted(known))))
    return known[name]
