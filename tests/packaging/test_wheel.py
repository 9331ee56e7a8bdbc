"""The built wheel ships every package of the project: `pip install .` gives a complete server."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Every top-level package of the project; a new app must be added here and to the packaging list.
PACKAGES = (
    "accounts",
    "baselines",
    "challenge",
    "cli",
    "config",
    "core",
    "evaluation",
    "leaderboard",
    "sandbox",
    "workers",
)


def _packages_on_disk() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in ("tests", "docker")}


def test_the_list_names_every_package_of_the_checkout():
    assert _packages_on_disk() == set(PACKAGES)


@pytest.mark.slow
def test_the_wheel_contains_every_app_with_its_migrations_and_commands(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in PACKAGES:  # a copy, so the build leaves no build/ or egg-info in the checkout
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", "dist"],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (source / "dist").glob("pentathlon-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, package
    expected = {
        "accounts/services.py",
        "challenge/services/submissions.py",
        "challenge/migrations/0001_initial.py",
        "challenge/management/commands/seed_pentathlon.py",
        "leaderboard/services/evaluate.py",
        "workers/tasks.py",
        "config/settings/base.py",
        "challenge/kit_files/example_main.py",
        "baselines/program/main.py",  # what train_baseline packages for a code phase
    }
    assert expected <= names, sorted(expected - names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "pentathlon = cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == "pentathlon"
