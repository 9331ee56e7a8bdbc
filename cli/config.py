"""Where the CLI keeps its token: `~/.config/pentathlon/credentials.json`, readable by its owner only.

The file maps each server URL to its token, so a token is only ever sent to the server that issued
it::

    {"server": "http://127.0.0.1:8000",
     "servers": {"http://127.0.0.1:8000": {"token": "...", "username": "alice"}}}

The server used is, first found: `--server`, `$PENTATHLON_SERVER`, the stored default, then
`DEFAULT_SERVER`. The token is `--token`, `$PENTATHLON_TOKEN`, then the stored one for that server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cli.errors import CliError

DEFAULT_SERVER = "http://127.0.0.1:8000"
CREDENTIALS_NAME = "credentials.json"


def config_dir() -> Path:
    """`$PENTATHLON_CONFIG_DIR`, else `$XDG_CONFIG_HOME/pentathlon`, else `~/.config/pentathlon`."""
    explicit = os.environ.get("PENTATHLON_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "pentathlon"


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_NAME


def normalise_server(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    if not url.startswith(("http://", "https://")):
        raise CliError(f"The server URL {url!r} must start with http:// or https://.")
    return url


def load_credentials() -> dict[str, Any]:
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CliError(
            f"The credentials file {path} cannot be read ({exc}); delete it and log in again."
        ) from exc
    return data if isinstance(data, dict) else {}


def save_credentials(data: dict[str, Any]) -> Path:
    """Write the credentials atomically with mode 0600 (directory 0700); returns the file's path."""
    path = credentials_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)  # the umask cannot widen it; an old file cannot either
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise CliError(f"The credentials cannot be saved to {path} ({exc.strerror or exc}).") from exc
    return path


def resolve_server(explicit: str | None) -> str:
    if explicit:
        return normalise_server(explicit)
    if os.environ.get("PENTATHLON_SERVER"):
        return normalise_server(os.environ["PENTATHLON_SERVER"])
    stored = load_credentials().get("server")
    return normalise_server(stored) if isinstance(stored, str) and stored else DEFAULT_SERVER


def resolve_token(server: str, explicit: str | None = None) -> str | None:
    if explicit:
        return explicit.strip()
    if os.environ.get("PENTATHLON_TOKEN"):
        return os.environ["PENTATHLON_TOKEN"].strip()
    entry = load_credentials().get("servers", {}).get(server, {})
    token = entry.get("token") if isinstance(entry, dict) else None
    return token or None


def _stored_servers(data: dict[str, Any]) -> dict[str, Any]:
    servers = data.get("servers")
    return servers if isinstance(servers, dict) else {}


def store_token(*, server: str, token: str, username: str | None) -> Path:
    data = load_credentials()
    servers = _stored_servers(data)
    servers[server] = {"token": token, "username": username or ""}
    return save_credentials({"server": server, "servers": servers})


def forget_token(*, server: str) -> bool:
    data = load_credentials()
    servers = _stored_servers(data)
    if server not in servers:
        return False
    del servers[server]
    save_credentials({**data, "servers": servers})
    return True
