"""Leaderboard pages: the phase's boards (overall and per dataset), the embeddable board, CSV export,
and the organisers' re-score page with its before/after diff."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_POST

from challenge.models import Phase
from challenge.organiser_views import organiser_only
from challenge.selectors import challenge_is_organiser, phase_get_by_slugs, phase_list
from core.csv_export import csv_writer
from core.views import AuthenticatedHttpRequest, Echo, domain_errors
from evaluation.metrics.registry import METRICS as REGISTERED_METRICS
from evaluation.metrics.registry import format_number, reported_metric_keys
from leaderboard.boards.phases import phase_board_brief
from leaderboard.boards.responses import (
    board_key,
    board_rows_cached,
    cached_board_response,
    conditional_board_response,
    request_is_anonymous,
    viewer_class,
)
from leaderboard.models import Result
from leaderboard.pagination import page_of, page_request_parse
from leaderboard.selectors import (
    METRICS,
    OVERALL,
    Board,
    board_resolve,
    leaderboard_datasets,
    leaderboard_rows,
    leaderboard_visible,
    metric_higher_is_better,
    public_entry_get,
)
from leaderboard.services import leaderboard_diff, phase_rescore_with_snapshot
from leaderboard.significance import board_marks, board_significance, entry_comparisons

METRIC_LABELS = {"score": "Score", **{m.key: m.label for m in REGISTERED_METRICS}}
#: How a board shows each score's interval (`?ci=`): "[low, high]", "± half-width", or not at all.
CI_INTERVAL, CI_PLUS_MINUS, CI_OFF = "interval", "pm", "off"
CI_MODES = (CI_INTERVAL, CI_PLUS_MINUS, CI_OFF)


def _ci_mode(request: HttpRequest, phase: Phase) -> str:
    if not phase.intervals_enabled:
        return CI_OFF
    mode = request.GET.get("ci") or CI_INTERVAL
    return mode if mode in CI_MODES else CI_INTERVAL


def _uncertainty_context(
    request: HttpRequest, phase: Phase, ci: str, marks: dict[int, dict[str, Any]], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The board's interval toggle (links that keep the board's other parameters) and tie marks."""
    for row in rows:
        row["tie"] = marks.get(row["submission_id"])
    kept = {k: v for k, v in request.GET.items() if k in ("dataset", "sort", "dir")}
    return {
        "ci": ci,
        "intervals_enabled": phase.intervals_enabled,
        "interval_percent": format_number(100.0 * float(phase.interval_level), 1).rstrip("0").rstrip("."),
        "ci_links": {mode: urlencode({**kept, "ci": mode}) for mode in CI_MODES},
    }


def _board_from_request(request: HttpRequest, phase: Phase) -> Board:
    return board_resolve(
        phase=phase,
        dataset=request.GET.get("dataset") or None,
        sort=request.GET.get("sort") or None,
        direction=request.GET.get("dir") or None,
    )


def _columns(board: Board, ci: str = "interval") -> list[dict[str, Any]]:
    """The sortable score columns of a board, with the link that sorts by each (keeping `ci`)."""
    if board.dataset is None:
        specs = [(OVERALL, "Overall", None, "score")] + [
            (f"{d}:score", d, d, "score") for d in board.datasets
        ]
    else:
        specs = [(f"{board.dataset}:{m}", METRIC_LABELS[m], board.dataset, m) for m in METRICS]
    columns = []
    for sort, label, dataset, metric in specs:
        active = board.sort == sort
        default_desc = metric_higher_is_better(
            phase=board.phase, metric=metric if sort != OVERALL else OVERALL
        )
        descending = (not board.descending) if active else default_desc
        query = {"sort": sort, "dir": "desc" if descending else "asc"}
        if board.dataset:
            query["dataset"] = board.dataset
        if ci != "interval":
            query["ci"] = ci
        columns.append(
            {
                "sort": sort,
                "label": label,
                "dataset": dataset,
                "metric": metric,
                "active": active,
                "arrow": ("▼" if board.descending else "▲") if active else "",
                "aria_sort": ("descending" if board.descending else "ascending") if active else "none",
                "query": urlencode(query),
            }
        )
    return columns


def _cells(board: Board, rows: list[dict[str, Any]], decimals: int, ci: str = "interval") -> None:
    """Attach the board's column values to each row, formatted at the challenge's precision (templates
    cannot index, and formatting here is several times faster than a template filter per cell)."""

    def fmt(value: float | None) -> str:
        return format_number(value, decimals)

    for row in rows:
        if board.dataset is None:
            values = [row["primary_score"]] + [row["scores"][d] for d in board.datasets]
        else:
            values = [row["metrics"][board.dataset][m] for m in METRICS]
        row["cells"] = [fmt(v) for v in values]
        row["submitted"] = row["submitted_at"].strftime("%Y-%m-%d %H:%M UTC")
        row["submitted_date"], row["submitted_time"] = row["submitted"].split(" ", 1)
        row["cell_pairs"] = list(zip(row["cells"], _cell_intervals(board, row, decimals, ci), strict=True))


def _cell_intervals(board: Board, row: dict[str, Any], decimals: int, ci: str) -> list[str]:
    """Each cell's interval as "[low, high]" or "± half-width" (`ci`), "" where there is none."""
    intervals = row.get("intervals")
    if board.dataset is None:
        keys = [("overall", None)] + [(d, "score") for d in board.datasets]
    else:
        keys = [(board.dataset, m) for m in METRICS]
    out = []
    for name, metric in keys:
        if intervals is None or ci == CI_OFF:
            bounds = None
        elif metric is None:
            bounds = intervals["overall"]
        else:
            bounds = intervals["datasets"].get(name, {}).get(metric)
        out.append(interval_text(bounds, decimals, ci))
    return out


def interval_text(bounds: list[float] | None, decimals: int, ci: str) -> str:
    """An interval as the board shows it: "[low, high]", or "± half its width" with `ci` "pm"."""
    if not bounds or bounds[0] is None or bounds[1] is None:
        return ""
    low, high = bounds
    if ci == CI_PLUS_MINUS:
        return f"± {format_number((high - low) / 2.0, decimals)}"
    return f"[{format_number(low, decimals)}, {format_number(high, decimals)}]"


def _phase_of(request: HttpRequest, slug: str, phase_slug: str) -> Phase:
    return phase_get_by_slugs(challenge_slug=slug, slug=phase_slug, user=request.user)


def _board_context(request: HttpRequest, phase: Phase, *, paginate: bool = True) -> dict[str, Any]:
    challenge = phase.challenge
    board = _board_from_request(request, phase)
    visible = leaderboard_visible(phase=phase, user=request.user)
    rows = board_rows_cached(board=board) if visible else []
    ci = _ci_mode(request, phase)
    # Tie marks compare the board's top entries, whatever page shows them.
    marks = board_marks(board=board, rows=rows) if visible and ci != CI_OFF else {}
    page = page_of(rows=rows, request=page_request_parse(params=request.GET)) if paginate else None
    if page is not None:
        rows = page.rows
        _cells(board, rows, challenge.score_decimals, ci)
    query = urlencode({k: v for k, v in request.GET.items() if k in ("dataset", "sort", "dir")})
    return {
        **_uncertainty_context(request, phase, ci, marks, rows),
        "challenge": challenge,
        "phase": phase,
        "board": board,
        "visible": visible,
        "rows": rows,
        "is_organiser": challenge_is_organiser(user=request.user, challenge=challenge),
        "datasets": board.datasets,
        "columns": _columns(board, ci),
        "decimals": challenge.score_decimals,
        "export_query": query,
        "page": page,
        "page_query": query + ("&" if query else ""),
    }


def _bad_board(request: HttpRequest, phase: Phase, exc: ValueError) -> HttpResponse:
    """The site's error page for a board address it cannot answer (unknown dataset or column), with
    the sentence saying what is accepted and a link to the phase's overall board."""
    back = reverse("leaderboard:phase", args=[phase.challenge.slug, phase.slug])
    context = {"exception": str(exc), "back": back, "back_label": f"The {phase.title} leaderboard"}
    return render(request, "400.html", context, status=400)


def _cached_page(
    request: HttpRequest, slug: str, phase_slug: str, kind: str, render_page: Callable[[Phase], HttpResponse]
) -> HttpResponseBase:
    """A board page from the cache for a request without cookies (else rendered, with a body ETag).

    `render_page(phase)` renders it on a miss, with the phase loaded in full."""
    found = phase_board_brief(challenge_slug=slug, slug=phase_slug) if request_is_anonymous(request) else None
    brief, version = found or (None, None)
    phase = brief or _phase_of(request, slug, phase_slug)
    viewer = viewer_class(phase=phase, user=request.user)
    key = None
    if brief is not None:
        key = board_key(
            phase=phase,
            kind=kind,
            params=request.GET,
            viewer=viewer,
            extra=request.build_absolute_uri("/"),
            version=version,
        )
    return cached_board_response(
        request,
        key=key,
        render=lambda: render_page(_phase_of(request, slug, phase_slug) if brief else phase),
        shared=viewer != "organiser" and phase.results_published,
    )


@transaction.non_atomic_requests  # a read: no transaction, so no SQLite write lock
@domain_errors
def leaderboard_page(request: HttpRequest, slug: str, phase_slug: str) -> HttpResponseBase:
    def render_page(phase: Phase) -> HttpResponse:
        try:
            context = _board_context(request, phase)
        except ValueError as exc:
            return _bad_board(request, phase, exc)
        context["phases"] = phase_list(challenge=context["challenge"])
        return render(request, "leaderboard/leaderboard.html", context)

    return _cached_page(request, slug, phase_slug, "page", render_page)


@transaction.non_atomic_requests  # a read: no transaction, so no SQLite write lock
@xframe_options_exempt
@domain_errors
def leaderboard_embed(request: HttpRequest, slug: str, phase_slug: str) -> HttpResponseBase:
    """The board alone, for an iframe on another site (the only view exempt from X-Frame-Options)."""

    def render_embed(phase: Phase) -> HttpResponse:
        try:
            context = _board_context(request, phase)
        except ValueError as exc:
            return _bad_board(request, phase, exc)
        return render(request, "leaderboard/embed.html", context)

    return _cached_page(request, slug, phase_slug, "embed", render_embed)


@transaction.non_atomic_requests  # a read: no transaction, so no SQLite write lock
@domain_errors
def leaderboard_csv(request: HttpRequest, slug: str, phase_slug: str) -> HttpResponseBase:
    """The board as CSV: every metric of every dataset, at the challenge's precision, streamed row by row
    (every row: a CSV is not paginated); 304 for a client that has the current version."""
    phase = _phase_of(request, slug, phase_slug)
    viewer = viewer_class(phase=phase, user=request.user)
    key = board_key(phase=phase, kind="csv", params=request.GET, viewer=viewer)
    return conditional_board_response(
        request,
        key=key,
        render=lambda: _csv_response(request, phase),
        shared=viewer != "organiser" and phase.results_published,
    )


def _csv_response(request: HttpRequest, phase: Phase) -> HttpResponseBase:
    try:
        context = _board_context(request, phase, paginate=False)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    if not context["visible"]:
        return HttpResponse(
            "The results of this phase are hidden until the organisers publish them.\n",
            status=403,
            content_type="text/plain",
        )
    board, decimals = context["board"], context["decimals"]
    name = slugify(f"{context['challenge'].slug}-{context['phase'].slug}-{board.dataset or 'overall'}")
    writer = csv_writer(Echo())
    with_intervals = context["phase"].intervals_enabled
    bounds = [(d, m) for d in board.datasets for m in METRICS] if with_intervals else []

    def fmt(value: float | None) -> str:
        return format_number(value, decimals, missing="")

    def lines() -> Iterator[str]:
        yield writer.writerow(
            ["rank", "team", "method", "baseline", "submission_id", "submitted_at", "overall"]
            + [f"{d}:{m}" for d in board.datasets for m in METRICS]
            + (["overall:low", "overall:high"] if with_intervals else [])
            + [f"{d}:{m}:{side}" for d, m in bounds for side in ("low", "high")]
        )
        for row in context["rows"]:
            yield _csv_line(writer, row, board, fmt, bounds if with_intervals else None)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-leaderboard.csv"'
    return response


def _csv_line(
    writer: Any,
    row: dict[str, Any],
    board: Board,
    fmt: Callable[[float | None], str],
    bounds: list[tuple[str, str]] | None,
) -> str:
    line: str = writer.writerow(  # the line itself: the writer writes to an `Echo`
        [
            row["rank"] or "",
            row["team"],
            row["method_name"],
            int(row["is_baseline"]),
            row["submission_id"],
            row["submitted_at"].isoformat(),
            fmt(row["primary_score"]),
        ]
        + [fmt(row["metrics"][d][m]) for d in board.datasets for m in METRICS]
        + (_csv_bounds(row, bounds, fmt) if bounds is not None else [])
    )
    return line


def _csv_bounds(
    row: dict[str, Any], bounds: list[tuple[str, str]], fmt: Callable[[float | None], str]
) -> list[str]:
    """The row's overall and per-metric interval bounds, "" where there is none."""
    intervals = row.get("intervals") or {"overall": None, "datasets": {}}
    cells = list(intervals["overall"] or [None, None])
    for name, metric in bounds:
        cells += (intervals["datasets"].get(name) or {}).get(metric) or [None, None]
    return [fmt(value) for value in cells]


@login_required
def phase_rescore_page(request: HttpRequest, phase_id: int) -> HttpResponse:
    """The challenge's organisers: re-score a whole phase (POST) and see how the leaderboard changed (GET)."""
    phase = get_object_or_404(Phase.objects.select_related("challenge"), id=phase_id)
    organiser_only(phase.challenge_id, request)
    if request.method == "POST":
        reason = request.POST.get("reason", "").strip() or "re-score"
        count = phase_rescore_with_snapshot(phase=phase, user=request.user, reason=reason)
        messages.success(
            request, f"{count} submission(s) queued for re-scoring; the diff below fills in as they finish."
        )
        return redirect("leaderboard:rescore", phase_id=phase.id)
    diff = leaderboard_diff(phase=phase)
    return render(
        request,
        "leaderboard/rescore.html",
        {
            "phase": phase,
            "challenge": phase.challenge,
            "diff": diff,
            "decimals": phase.challenge.score_decimals,
        },
    )


@login_required
@require_POST
def phase_publish(request: AuthenticatedHttpRequest, phase_id: int) -> HttpResponse:
    """The challenge's organisers: one action sets who sees the phase's results (publish = public)."""
    from challenge.organiser import phase_visibility_set

    phase = get_object_or_404(Phase.objects.select_related("challenge"), id=phase_id)
    organiser_only(phase.challenge_id, request)
    visibility = request.POST.get("visibility", Phase.LeaderboardVisibility.PUBLIC)
    phase_visibility_set(phase=phase, visibility=visibility, actor=request.user)
    messages.success(request, f"{phase.title}: {phase.get_leaderboard_visibility_display()}.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("challenge:organiser", args=[phase.challenge.slug])
    return redirect(target)


def _entry_uncertainty(result: Result, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """An entry's intervals (on its dataset rows) and its comparisons with the first place and its
    neighbours on the overall board, when its phase shows them."""
    phase = result.submission.phase
    if not phase.intervals_enabled:
        return {"intervals_enabled": False}
    stored = (result.intervals or {}).get("datasets") or {}
    for row in rows:
        row["interval"] = stored.get(row["name"])
    marks = board_significance(phase=phase, dataset=None, rows=leaderboard_rows(phase=phase))
    return {
        "intervals_enabled": True,
        "overall_interval": (result.intervals or {}).get("overall_score"),
        "interval_percent": format_number(100.0 * float(phase.interval_level), 1).rstrip("0").rstrip("."),
        "comparisons": entry_comparisons(marks=marks, submission_id=result.submission_id),
        "compared_top": settings.PENTATHLON_SIGNIFICANCE_TOP,
    }


@domain_errors
def entry_detail(request: HttpRequest, slug: str, phase_slug: str, submission_id: int) -> HttpResponse:
    """A public leaderboard entry: team, method, links, per-dataset t2v and v2t metrics and charts.
    The same 404 for everyone when the entry is not public (see `public_entry_get`)."""
    result = public_entry_get(submission_id=submission_id, challenge_slug=slug, phase_slug=phase_slug)
    submission = result.submission
    phase = submission.phase
    rows = [
        {"name": name, **result.metrics[name]}
        for name in leaderboard_datasets(phase=phase)
        if result.metrics.get(name) is not None
    ]
    return render(
        request,
        "leaderboard/entry.html",
        {
            **_entry_uncertainty(result, rows),
            "result": result,
            "submission": submission,
            "phase": phase,
            "challenge": phase.challenge,
            "dataset_rows": rows,
            "decimals": phase.challenge.score_decimals,
            "metric_keys": reported_metric_keys(row.get(d) for row in rows for d in ("t2v", "v2t")),
        },
    )
