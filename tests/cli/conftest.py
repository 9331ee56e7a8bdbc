"""Fixtures for the `pentathlon` CLI: an isolated home, an in-process runner and a logged-in session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def cli_home(tmp_path, monkeypatch) -> Path:
    """HOME and the working directory in tmp; no PENTATHLON_* or XDG variables leak in."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in (
        "XDG_CONFIG_HOME",
        "PENTATHLON_CONFIG_DIR",
        "PENTATHLON_SERVER",
        "PENTATHLON_TOKEN",
        "PENTATHLON_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def run_cli(cli_home, capsys):
    """run_cli(*argv) -> CliResult, running `pentathlon` in-process."""
    from cli.main import main

    def run(*argv: object) -> CliResult:
        capsys.readouterr()
        code = main([str(arg) for arg in argv])
        captured = capsys.readouterr()
        return CliResult(code=code, out=captured.out, err=captured.err)

    return run


@pytest.fixture
def server_url(live_server) -> str:
    return live_server.url


@pytest.fixture
def logged_in(run_cli, server_url, participant, password, phase) -> str:
    result = run_cli(
        "login", "--server", server_url, "--username", participant.username, "--password", password
    )
    assert result.code == 0, result.err
    return server_url


@pytest.fixture
def kit_dir(run_cli, logged_in, phase, tmp_path) -> Path:
    target = tmp_path / "kit"
    result = run_cli("kit", phase.id, "-o", target)
    assert result.code == 0, result.err
    return target
