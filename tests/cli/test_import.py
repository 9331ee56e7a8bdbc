"""The CLI installs with the base dependencies only: importing and running it never imports Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from cli.main import main
code = main(["--help"])
assert code == 0, code
code = main(["validate", "--shapes", sys.argv[1], sys.argv[2]])
bad = [name for name in ("django", "rest_framework", "celery") if name in sys.modules]
print("CODE", code, "IMPORTED", ",".join(bad) or "none")
"""


@pytest.mark.slow
def test_cli_runs_without_django(tmp_path, tiny_truth, make_submission_file):
    import json

    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps({"datasets": tiny_truth.public_shapes()}))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(shapes), str(make_submission_file("npz"))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "CODE 0 IMPORTED none"


def test_python_dash_m_cli_reports_usage_errors_with_exit_1(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "cli", "status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_import_linter_forbids_the_server_in_the_cli():
    """`lint-imports` (run by `make lint`, in CI before the tests) enforces this contract."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert "cli" in config["root_packages"]
    contract = next(c for c in config["contracts"] if c["source_modules"] == ["cli"])
    assert contract["type"] == "forbidden"
    assert set(contract["forbidden_modules"]) >= {
        "django",
        "rest_framework",
        "celery",
        "challenge",
        "leaderboard",
        "workers",
        "config",
    }
