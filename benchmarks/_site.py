"""Shared by the leaderboard benchmark and the screenshot script: a throw-away site (SQLite file in a
temporary directory), filled with a challenge, and served by gunicorn on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def configure(
    var_dir: str | None = None, *, database_url: str | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Point Django at a fresh database (default: a SQLite file under a temporary directory); returns
    the environment to share. `extra`: more environment (REDIS_URL, throttles)."""
    var_dir = var_dir or tempfile.mkdtemp(prefix="pentathlon-bench-")
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "DJANGO_DEBUG": "false",
        "PENTATHLON_VAR_DIR": var_dir,
        "DATABASE_URL": database_url or f"sqlite:///{var_dir}/db.sqlite3",
        **(extra or {}),
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn serving config.wsgi on 127.0.0.1 with the shared environment."""

    def __init__(self, env: dict[str, str], *, workers: int = 2, threads: int = 4) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        # The server's log goes to a file, never a pipe: an unread pipe fills (64 KiB) and blocks gunicorn.
        self.log_path = (
            Path(env.get("PENTATHLON_VAR_DIR", tempfile.gettempdir())) / f"gunicorn-{self.port}.log"
        )
        self.log = open(self.log_path, "wb")  # closed in stop()
        self.process = subprocess.Popen(
            [
                gunicorn,
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.url + "/", timeout=2).read()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = self.log_path.read_bytes()[-2000:].decode(errors="replace")
                    raise RuntimeError("gunicorn did not start: " + tail) from None
                time.sleep(0.3)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
