"""A small client of the server's REST API (/api/v1/), with streamed uploads and downloads.

Every failure becomes a `CliError` whose message is one sentence: the server's own message for
4xx answers, a plain description of network failures.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import requests

from cli.errors import EXIT_AUTH, EXIT_ERROR, EXIT_NO_TEAM, EXIT_REJECTED, CliError

API_PREFIX = "/api/v1/"
TIMEOUT = (10, 120)  # connect, read (seconds)
CHUNK = 256 * 1024
#: A challenge's team page in a server message (a 403 "not in a team" names it).
TEAM_PAGE = re.compile(r"/c/[\w-]+/team/")

Progress = Callable[[int], None]


def _server_message(response: requests.Response) -> str:
    """The readable message of an error answer: DRF's {"detail": ...} or field errors, else the reason."""
    try:
        body = response.json()
    except ValueError:
        return f"the server answered {response.status_code} {response.reason}"
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        parts = []
        for field, errors in body.items():
            text = " ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors)
            parts.append(text if field in ("detail", "non_field_errors") else f"{field}: {text}")
        if parts:
            return "; ".join(parts)
    if isinstance(body, list) and body:
        return " ".join(str(item) for item in body)
    return f"the server answered {response.status_code} {response.reason}"


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text if text.endswith((".", "!", "?")) else f"{text}."


class MultipartBody:
    """A multipart/form-data body streamed from disk, reporting the bytes sent.

    requests sends a file-like body in blocks and sets Content-Length from `len()`, so the upload
    never holds the file in memory and needs no chunked encoding (which WSGI servers may refuse).
    """

    def __init__(
        self,
        fields: dict[str, str],
        *,
        file_field: str,
        path: Path,
        filename: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.boundary = f"pentathlon-{uuid.uuid4().hex}"
        self.path = path
        self.progress = progress or (lambda sent: None)
        head = bytearray()
        for name, value in fields.items():
            head += (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        safe = (filename or path.name).replace('"', "_").replace("\r", "_").replace("\n", "_")
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{file_field}";'
            f' filename="{safe}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        self.head = bytes(head)
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.file_size = path.stat().st_size
        self._length = len(self.head) + self.file_size + len(self.tail)
        self._parts: Iterator[bytes] | None = None
        self._current = b""
        self._offset = 0
        self.sent_file_bytes = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._length

    def _generate(self) -> Iterator[bytes]:
        yield self.head
        with open(self.path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                self.sent_file_bytes += len(chunk)
                yield chunk
                self.progress(self.sent_file_bytes)
        yield self.tail

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left when size is None or negative); b"" at the end.

        Only the bytes returned are copied, so the many small reads of http.client stay linear.
        """
        if self._parts is None:
            self._parts = self._generate()
        out = []
        need = -1 if size is None or size < 0 else size
        while need != 0:
            if self._offset >= len(self._current):
                self._current, self._offset = next(self._parts, b""), 0
                if not self._current:
                    break
            available = len(self._current) - self._offset
            take = available if need < 0 else min(need, available)
            out.append(self._current[self._offset : self._offset + take])
            self._offset += take
            if need > 0:
                need -= take
        return b"".join(out)


class ApiClient:
    """Calls /api/v1/ of one server, with the token when there is one."""

    def __init__(self, server: str, token: str | None = None) -> None:
        self.server = server
        self.token = token
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "pentathlon-cli/0.1"
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def url(self, path: str) -> str:
        return f"{self.server}{API_PREFIX}{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        auth_required: bool = False,
        rejected_on_400: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        if auth_required and not self.token:
            raise CliError(
                f"You are not logged in to {self.server}; run `pentathlon login` first.", EXIT_AUTH
            )
        kwargs.setdefault("timeout", TIMEOUT)
        try:
            response = self.session.request(method, self.url(path), **kwargs)
        except requests.exceptions.ConnectionError as exc:
            raise CliError(
                f"Cannot reach the server at {self.server} ({_reason(exc)}); check the URL"
                " (--server or PENTATHLON_SERVER) and your connection."
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise CliError(f"The server at {self.server} did not answer in time; try again later.") from exc
        except requests.exceptions.RequestException as exc:
            raise CliError(f"The request to {self.server} failed ({_reason(exc)}).") from exc
        if response.status_code < 400:
            return response
        message = _server_message(response)
        if response.status_code == 401:
            hint = " run `pentathlon login` again" if self.token else " run `pentathlon login` first"
            raise CliError(
                _sentence(f"The server refused the credentials ({message.rstrip('.')});{hint}"), EXIT_AUTH
            )
        team_page = TEAM_PAGE.search(message) if response.status_code == 403 else None
        if team_page:
            # not in a team: the next step is the challenge's team page (or `pentathlon team`)
            url = self.server.rstrip("/") + team_page.group(0)
            raise CliError(TEAM_PAGE.sub(url, message), EXIT_NO_TEAM)
        if response.status_code == 403:
            raise CliError(_sentence(f"Not allowed: {message}"), EXIT_AUTH)
        # 409 on an upload: the team already submitted this file (the message names the submission)
        if response.status_code in (400, 409) and rejected_on_400:
            raise CliError(_sentence(f"rejected: {message}"), EXIT_REJECTED)
        if response.status_code in (502, 503, 504):
            raise CliError(
                f"The server at {self.server} is not answering right now ({response.status_code} from its"
                " proxy: the site behind it is down or restarting); try again in a minute."
            )
        if response.status_code >= 500:
            raise CliError(
                f"The server had an internal error ({response.status_code}); try again later or tell"
                " the organisers."
            )
        raise CliError(_sentence(message), EXIT_ERROR)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        response = self.request("GET", path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise CliError(
                f"The server at {self.server} did not answer with JSON; is it a Pentathlon server?"
            ) from exc

    def post_json(self, path: str, data: dict[str, Any], **kwargs: Any) -> Any:
        response = self.request("POST", path, data=data, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise CliError(
                f"The server at {self.server} did not answer with JSON; is it a Pentathlon server?"
            ) from exc

    def upload(
        self, path: str, fields: dict[str, str], *, file_path: Path, progress: Progress | None = None
    ) -> Any:
        body = MultipartBody(fields, file_field="file", path=file_path, progress=progress)
        response = self.request(
            "POST",
            path,
            auth_required=True,
            rejected_on_400=True,
            data=body,
            headers={"Content-Type": body.content_type, "Content-Length": str(len(body))},
        )
        return response.json()

    def upload_chunked(
        self,
        fields: dict[str, str],
        *,
        file_path: Path,
        progress: Progress | None = None,
        state_path: Path | None = None,
    ) -> Any:
        """Resumable upload through /api/v1/uploads/: the file goes in chunks; an interrupted run
        resumes from the offset the server reports (the upload id is kept in `state_path`).

        The sha256 is computed first and declared when the upload starts, so a file the team already
        submitted is refused before any byte is sent; the server checks it again at completion.
        """
        size = file_size(file_path)
        stat = os.stat(file_path)
        key = f"{self.server}|{os.path.abspath(file_path)}|{size}|{stat.st_mtime_ns}|{fields.get('phase')}"
        saved = _load_state(state_path)
        upload = self._upload_in_progress(saved.get(key))
        sha256 = file_sha256(file_path)
        if upload is None:
            body = {**fields, "filename": file_path.name, "size": size, "sha256": sha256}
            upload = self.request(
                "POST", "uploads/", auth_required=True, rejected_on_400=True, json=body
            ).json()
            saved[key] = upload["id"]
            _save_state(state_path, saved)
        self._send_chunks(upload, file_path, size, progress)
        response = self.request(
            "POST",
            f"uploads/{upload['id']}/complete/",
            auth_required=True,
            rejected_on_400=True,
            json={"sha256": sha256},
        )
        saved.pop(key, None)
        _save_state(state_path, saved)
        return response.json()

    def _upload_in_progress(self, upload_id: str | None) -> dict[str, Any] | None:
        """The server's record of a saved upload, when it still takes chunks; None otherwise."""
        if upload_id is None:
            return None
        response = self.session.get(self.url(f"uploads/{upload_id}/"), timeout=TIMEOUT)
        if response.status_code == 200 and response.json().get("status") == "uploading":
            return dict(response.json())
        return None

    def _send_chunks(
        self, upload: dict[str, Any], file_path: Path, size: int, progress: Progress | None
    ) -> None:
        """PUT the file from the server's offset to its end, a chunk of the server's size at a time."""
        chunk = int(upload.get("chunk_size") or 8 * 1024**2)
        offset = int(upload["offset"])
        with open(file_path, "rb") as handle:
            handle.seek(offset)
            if progress:
                progress(offset)
            while offset < size:
                data = handle.read(min(chunk, size - offset))
                response = self.request(
                    "PUT",
                    f"uploads/{upload['id']}/",
                    auth_required=True,
                    rejected_on_400=True,
                    data=data,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"bytes {offset}-{offset + len(data) - 1}/{size}",
                    },
                )
                new_offset = int(response.json()["offset"])
                if new_offset != offset + len(data):
                    raise CliError(
                        f"The server stored {new_offset:,} bytes instead of {offset + len(data):,};"
                        " run the same command again to resume."
                    )
                offset = new_offset
                if progress:
                    progress(offset)

    def download(
        self, path: str, target: IO[bytes], *, progress: Callable[[int, int | None], None] | None = None
    ) -> requests.Response:
        response = self.request("GET", path, stream=True)
        total = response.headers.get("Content-Length")
        size = int(total) if total and total.isdigit() else None
        done = 0
        try:
            for chunk in response.iter_content(CHUNK):
                target.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, size)
        except requests.exceptions.RequestException as exc:
            raise CliError(f"The download from {self.server} was interrupted ({_reason(exc)}).") from exc
        return response


def _load_state(path: Path | None) -> dict[str, str]:
    if path is None or not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _save_state(path: Path | None, data: dict[str, str]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _reason(exc: BaseException) -> str:
    """The readable cause of a requests error, in a few words."""
    text = " ".join(str(exc).split())
    for marker in (
        "Connection refused",
        "Name or service not known",
        "nodename nor servname",
        "timed out",
        "Temporary failure in name resolution",
        "certificate verify failed",
    ):
        if marker in text:
            return marker.lower()
    if len(text) > 160:
        text = text[:157] + "..."
    return text or type(exc).__name__


def file_size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError as exc:
        raise CliError(f"The file {path} cannot be read ({exc.strerror or exc}).") from exc


def file_sha256(path: Path) -> str:
    """The file's sha256 (hex), read in blocks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(CHUNK * 4):
                digest.update(block)
    except OSError as exc:
        raise CliError(f"The file {path} cannot be read ({exc.strerror or exc}).") from exc
    return digest.hexdigest()
