"""Boards served from the cache until something they show changes, with conditional GET.

Two levels, both keyed by the phase's board version (`leaderboard.boards.versions`), so one bump makes
every board of the phase current on its next read, in every process:

* the ranked rows of a board (phase, dataset, sort, direction): the expensive SQL, done once per
  version and shared by every page, viewer and format;
* a finished response body (a page of HTML or JSON) per board, page and viewer class.

What a viewer may see decides the viewer class in the key: "organiser" (sees unpublished boards) or
"public" (everyone else; the rows themselves hold only public, unmoderated entries for anyone). A
phase whose teams each see only their own scores has no board for teams at all
(`leaderboard.selectors.leaderboard_visible`), so no team's view is ever cached. A whole HTML page is
cached only for a request without cookies: a signed-in page names its user and may carry messages.

Responses carry an ETag (from the key, which holds the version) and Last-Modified, and answer 304
to a client whose If-None-Match names the current version; Cache-Control is `public, max-age=...` for what anyone may see
and `private, no-cache` otherwise.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.http import http_date

from challenge.models import Phase
from challenge.selectors import challenge_is_organiser
from leaderboard.boards.versions import board_cache, phase_board_identity, phase_board_version
from leaderboard.selectors import Board, leaderboard_rows

#: Seconds a rendered board stays in the cache; a version bump makes it unreachable long before.
ENTRY_TIMEOUT = 3600
ORGANISER, PUBLIC = "organiser", "public"
#: Query parameters that change what a board shows (anything else, e.g. a tracking tag, does not).
BOARD_PARAMETERS = ("dataset", "sort", "dir", "page", "page_size", "limit", "offset", "ci")


def viewer_class(*, phase: Phase, user: Any) -> str:
    """Which version of the phase's boards this viewer may see: organiser or public."""
    return ORGANISER if challenge_is_organiser(user=user, challenge=phase.challenge_id) else PUBLIC


def _settings(phase: Phase) -> tuple[Any, ...]:
    """The phase's and challenge's settings a board depends on, part of every key: a phase kept by the
    process (`phase_board_brief`) carries the settings it was read with, under the catalog version."""
    challenge = phase.challenge
    return (
        phase.leaderboard_visibility,
        phase.final_submission,
        phase.aggregation,
        phase.intervals_enabled,
        phase.interval_level,
        challenge.primary_metric,  # which also fixes the direction (`Challenge.higher_is_better`)
        challenge.score_decimals,
    )


def board_key(
    *,
    phase: Phase,
    kind: str,
    params: Mapping[str, str],
    viewer: str,
    extra: str = "",
    version: str | None = None,
) -> str:
    """The cache key (and ETag) of one rendered board: the phase's current version is part of it
    (`version`, when the caller has just read it with the phase: `phase_board_brief`)."""
    version = version or phase_board_version(phase=phase)
    chosen = sorted((k, str(params[k])) for k in BOARD_PARAMETERS if params.get(k))
    digest = hashlib.sha256(repr((kind, chosen, viewer, extra, _settings(phase))).encode()).hexdigest()[:24]
    return f"board:{phase_board_identity(phase=phase)}:{version}:{digest}"


def board_rows_cached(*, board: Board) -> list[dict[str, Any]]:
    """`leaderboard_rows(board=...)`, computed once per version of the phase's boards."""
    phase = board.phase
    key = (
        f"rows:{phase_board_identity(phase=phase)}:{phase_board_version(phase=phase)}:"
        f"{board.dataset}:{board.sort}:{int(board.descending)}:"
        + hashlib.sha256(repr(_settings(phase)).encode()).hexdigest()[:12]
    )
    cache = board_cache()
    rows: list[dict[str, Any]] | None = cache.get(key)
    if rows is None:
        rows = leaderboard_rows(board=board)
        cache.set(key, rows, ENTRY_TIMEOUT)
    return rows


class _KeptBodies:
    """Rendered boards this process has served, by key, least recently used first out past a byte
    budget. Safe to keep: a key holds the phase's board version, so a bump makes it unreachable; what
    it saves is the second cache read (and the copy of the body) of every request."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        size = len(entry["body"])
        if size > self.budget // 4:  # one huge page must not flush everything else
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.budget:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped["body"])


_kept_bodies = _KeptBodies(settings.PENTATHLON_BOARD_KEPT_BYTES)


def _etag(key: str) -> str:
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def cache_headers(response: HttpResponseBase, *, shared: bool) -> HttpResponseBase:
    """Cache-Control for a board: shared caches may keep a public one for a few seconds."""
    if shared:
        patch_cache_control(response, public=True, max_age=settings.PENTATHLON_BOARD_MAX_AGE)
    else:
        patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ("Cookie", "Authorization"))
    return response


def _finish(
    request: HttpRequest, response: HttpResponseBase, *, etag: str, at: float, shared: bool
) -> HttpResponseBase:
    response["ETag"] = etag
    response["Last-Modified"] = http_date(at)
    return cache_headers(response, shared=shared)


def cached_board_response(
    request: HttpRequest,
    *,
    key: str | None,
    render: Callable[[], HttpResponse],
    shared: bool,
) -> HttpResponseBase:
    """The board's response from the cache under `key`, rendered by `render()` on a miss.

    `key` None: not cacheable for this request (a signed-in page); it is rendered, and its ETag is a
    digest of the body. Only a 200 is cached; anything else (a 400) is returned as rendered. A client
    that sent the current ETag (If-None-Match) or a later If-Modified-Since gets a 304.
    """
    if key is None:
        response = render()
        if response.status_code != 200:
            return response
        etag = '"' + hashlib.sha256(response.content).hexdigest()[:32] + '"'
        conditional = get_conditional_response(request, etag=etag)
        return _finish(request, conditional or response, etag=etag, at=time.time(), shared=False)
    entry = _kept_bodies.get(key)
    if entry is None:
        cache = board_cache()
        entry = cache.get(key)
        if entry is None:
            response = render()
            if response.status_code != 200:
                return response
            entry = {"body": response.content, "type": response["Content-Type"], "at": int(time.time())}
            cache.set(key, entry, ENTRY_TIMEOUT)
        _kept_bodies.put(key, entry)
    etag = _etag(key)
    # The ETag alone decides: Last-Modified has whole seconds, and two versions may share one.
    conditional = get_conditional_response(request, etag=etag)
    if conditional is not None:
        return _finish(request, conditional, etag=etag, at=entry["at"], shared=shared)
    response = HttpResponse(entry["body"], content_type=entry["type"])
    return _finish(request, response, etag=etag, at=entry["at"], shared=shared)


def conditional_board_response(
    request: HttpRequest, *, key: str, render: Callable[[], HttpResponseBase], shared: bool
) -> HttpResponseBase:
    """A board response that is rendered each time (a streamed CSV) but still answers 304 when the
    client has the current version: the ETag is the key, which holds the version."""
    etag = _etag(key)
    conditional = get_conditional_response(request, etag=etag)
    if conditional is not None:
        return _finish(request, conditional, etag=etag, at=time.time(), shared=shared)
    response = render()
    if response.status_code != 200:
        return response
    response["ETag"] = etag
    return cache_headers(response, shared=shared)


def request_is_anonymous(request: HttpRequest) -> bool:
    """No cookie at all: the page can name no user, show no message and hold no CSRF token."""
    return not request.COOKIES
