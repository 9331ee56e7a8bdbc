"""Public leaderboard API: the boards (overall or per dataset, sortable), the best score over time,
and one submission's chart data."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenge.models import Phase
from challenge.selectors import phase_get, submission_get, submission_result
from evaluation.metrics.registry import METRICS as REGISTERED_METRICS
from evaluation.metrics.registry import format_number
from leaderboard.boards.phases import phase_board_brief
from leaderboard.boards.responses import board_key, board_rows_cached, cached_board_response, viewer_class
from leaderboard.pagination import page_of, page_request_parse
from leaderboard.query_params import query_integer
from leaderboard.selectors import METRICS as BOARD_METRICS
from leaderboard.selectors import (
    board_resolve,
    leaderboard_history,
    leaderboard_visible,
    public_entry_get,
    result_dataset_charts,
)
from leaderboard.significance import board_marks

RESULTS_HIDDEN = "The results of this phase are hidden until the organisers publish them."
PAGE_PARAMETERS_SCHEMA = [
    OpenApiParameter("page", OpenApiTypes.INT, description="1-based page of the board (default 1)."),
    OpenApiParameter(
        "page_size", OpenApiTypes.INT, description="Rows per page (default 100, at most 500); same as limit."
    ),
]
#: The registry's metrics, as every client needs them to label and sort columns.
METRICS_JSON = [
    {"key": m.key, "label": m.label, "name": m.name, "higher_is_better": m.higher_is_better}
    for m in REGISTERED_METRICS
]
# Bounds of ?limit and ?offset: past them no board holds rows, and the database's integers end.
#: `limit` is the older name of a page's size (`leaderboard.pagination`): the same bound.
MAX_BOARD_LIMIT = settings.PENTATHLON_BOARD_MAX_PAGE_SIZE
MAX_BOARD_OFFSET = 1_000_000

ENTRY_KEYS = (
    "rank",
    "team",
    "submission_id",
    "method_name",
    "paper_url",
    "code_url",
    "is_baseline",
    "primary_score",
    "scores",
    "metrics",
)

BOARD_PARAMETERS = [
    OpenApiParameter(
        "dataset", OpenApiTypes.STR, description="A dataset's board instead of the overall one."
    ),
    OpenApiParameter(
        "sort",
        OpenApiTypes.STR,
        description=f"overall or DATASET:METRIC ({', '.join(BOARD_METRICS)}).",
    ),
    OpenApiParameter(
        "dir", OpenApiTypes.STR, enum=["asc", "desc"], description="Default: the metric's direction."
    ),
    OpenApiParameter(
        "limit",
        OpenApiTypes.INT,
        description=f"At most this many rows (best first in the sort), 1 to {MAX_BOARD_LIMIT:,}.",
    ),
    OpenApiParameter(
        "offset",
        OpenApiTypes.INT,
        description=f"Skip this many rows first, 0 to {MAX_BOARD_OFFSET:,}; ranks stay the board's.",
    ),
    *PAGE_PARAMETERS_SCHEMA,
]


class _BadBoard(ValueError):
    """A board parameter the client got wrong (a 400 with the message)."""


class LeaderboardListApi(APIView):
    """One row per team: the submission the phase's rule picks (ties go to the earlier one); baselines
    are extra rows without a rank."""

    permission_classes = [AllowAny]

    @classmethod
    def as_view(cls, **initkwargs):  # noqa: ANN206 - Django's view callable
        """A read: no transaction around it, so no SQLite write lock (ATOMIC_REQUESTS)."""
        return transaction.non_atomic_requests(super().as_view(**initkwargs))

    @extend_schema_serializer(component_name="LeaderboardEntry")
    class OutputSerializer(serializers.Serializer):
        rank = serializers.IntegerField(allow_null=True)
        team = serializers.CharField()
        submission_id = serializers.IntegerField()
        method_name = serializers.CharField()
        paper_url = serializers.CharField()
        code_url = serializers.CharField()
        is_baseline = serializers.BooleanField()
        primary_score = serializers.FloatField(allow_null=True)
        scores = serializers.DictField(child=serializers.FloatField(allow_null=True))
        metrics = serializers.DictField(
            child=serializers.DictField(child=serializers.FloatField(allow_null=True))
        )
        intervals = serializers.DictField(
            allow_null=True,
            help_text='With the phase\'s intervals on: {"overall": [low, high] or null, "datasets": {name: '
            "{metric: [low, high] or null}}}, the bootstrap bounds of each score; else null.",
        )
        tied_within_noise = serializers.BooleanField(
            allow_null=True,
            help_text="Not significantly behind the entry above (paired bootstrap of the board's score); "
            "null where the entry was not compared (intervals off, outside the top entries, not in rank order).",
        )
        submitted_at = serializers.DateTimeField()

    @extend_schema(
        parameters=BOARD_PARAMETERS,
        responses=inline_serializer(
            "Leaderboard",
            {
                "phase": serializers.IntegerField(),
                "phase_slug": serializers.CharField(),
                "challenge": serializers.CharField(),
                "published": serializers.BooleanField(),
                "dataset": serializers.CharField(allow_null=True),
                "sort": serializers.CharField(),
                "dir": serializers.CharField(),
                "primary_metric": serializers.CharField(),
                "higher_is_better": serializers.BooleanField(),
                "decimals": serializers.IntegerField(),
                "metrics": inline_serializer(
                    "LeaderboardMetric",
                    {
                        "key": serializers.CharField(),
                        "label": serializers.CharField(),
                        "name": serializers.CharField(),
                        "higher_is_better": serializers.BooleanField(),
                    },
                    many=True,
                ),
                "datasets": serializers.ListField(child=serializers.CharField()),
                "intervals": inline_serializer(
                    "LeaderboardIntervals",
                    {
                        "enabled": serializers.BooleanField(),
                        "level": serializers.FloatField(),
                        "method": serializers.CharField(),
                    },
                ),
                "detail": serializers.CharField(),
                "page": serializers.IntegerField(),
                "page_size": serializers.IntegerField(),
                "pages": serializers.IntegerField(),
                "total": serializers.IntegerField(),
                "entries": OutputSerializer(many=True),
            },
        ),
    )
    def get(self, request: Request, phase_id: int) -> HttpResponseBase:
        """The board from the cache (`leaderboard.boards.responses`), 304 when the client has this version."""
        # Numbers checked before anything is looked up: a 400 naming the allowed range, answered here
        # (the exception handler would mark the request's transaction for rollback).
        try:
            query_integer(request.query_params, "limit", minimum=1, maximum=MAX_BOARD_LIMIT)
            query_integer(request.query_params, "offset", minimum=0, maximum=MAX_BOARD_OFFSET, default=0)
        except ValidationError as exc:
            return JsonResponse({"detail": str(exc.detail["detail"])}, status=400)
        found = None if request.user.is_authenticated else phase_board_brief(phase_id=phase_id)
        brief, version = found or (None, None)
        phase = brief or phase_get(phase_id=phase_id, user=request.user)
        viewer = viewer_class(phase=phase, user=request.user)
        if request.accepted_renderer.format != "json":  # the browsable API: rendered each time
            try:
                return Response(self._board(request, phase_get(phase_id=phase_id, user=request.user)))
            except _BadBoard as exc:
                return Response({"detail": str(exc)}, status=400)
        key = board_key(phase=phase, kind="json", params=request.query_params, viewer=viewer, version=version)

        def render() -> HttpResponse:  # a miss: the phase in full
            try:
                board = self._board(
                    request, phase_get(phase_id=phase_id, user=request.user) if brief else phase
                )
            except _BadBoard as exc:  # answered here: the handler would mark a transaction for rollback
                return JsonResponse({"detail": str(exc)}, status=400)
            return HttpResponse(json.dumps(board, separators=(",", ":")), content_type="application/json")

        return cached_board_response(
            request,
            key=key,
            render=render,
            shared=viewer != "organiser" and phase.results_published,
        )

    @staticmethod
    def _board(request: Request, phase: Phase) -> dict:
        try:
            board = board_resolve(
                phase=phase,
                dataset=request.query_params.get("dataset") or None,
                sort=request.query_params.get("sort") or None,
                direction=request.query_params.get("dir") or None,
            )
            visible = leaderboard_visible(phase=phase, user=request.user)
            all_rows = board_rows_cached(board=board) if visible else []
            offset = query_integer(
                request.query_params, "offset", minimum=0, maximum=MAX_BOARD_OFFSET, default=0
            )
            page = page_of(rows=all_rows[offset:], request=page_request_parse(params=request.query_params))
        except ValueError as exc:
            raise _BadBoard(str(exc)) from exc
        rows = page.rows
        # Tie marks compare the board's top entries, whichever page shows them.
        marks = board_marks(board=board, rows=all_rows) if visible else {}
        challenge = phase.challenge
        return {
            "phase": phase.id,
            "phase_slug": phase.slug,
            "challenge": challenge.slug,
            "published": phase.results_published,
            "dataset": board.dataset,
            "sort": board.sort,
            "dir": "desc" if board.descending else "asc",
            "primary_metric": challenge.primary_metric,
            "higher_is_better": challenge.higher_is_better,
            "decimals": challenge.score_decimals,
            "metrics": METRICS_JSON,
            "datasets": board.datasets,
            "intervals": {
                "enabled": phase.intervals_enabled,
                "level": phase.interval_level,
                "method": "percentile bootstrap over queries (videos with their captions)",
            },
            "detail": "" if visible else RESULTS_HIDDEN,
            "page": page.number,
            "page_size": page.size,
            "pages": page.pages,
            "total": page.total,
            # Plain dicts of plain values already: the serializer documents them (the schema), and
            # skipping it per row keeps a 500-team board fast.
            "entries": [
                {
                    **{k: row[k] for k in ENTRY_KEYS},
                    "intervals": row["intervals"],
                    "tied_within_noise": _tied(marks, row),
                    "submitted_at": row["submitted_at"].isoformat().replace("+00:00", "Z"),
                }
                for row in rows
            ],
        }


def _tied(marks: dict[int, dict], row: dict) -> bool | None:
    mark = marks.get(row["submission_id"])
    return None if mark is None else mark["tied_within_noise"]


class LeaderboardHistoryApi(APIView):
    """The leading counted score over time on the overall board (or `?dataset=`'s board): one point per
    improvement among the entries that board counts under the phase's counting rule."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("dataset", OpenApiTypes.STR, description="A dataset's board (default: overall).")
        ],
        responses=inline_serializer(
            "LeaderboardHistory",
            {
                "phase": serializers.IntegerField(),
                "detail": serializers.CharField(),
                "points": inline_serializer(
                    "LeaderboardHistoryPoint",
                    {
                        "submission_id": serializers.IntegerField(),
                        "at": serializers.DateTimeField(),
                        "score": serializers.FloatField(),
                        "display": serializers.CharField(),
                        "team": serializers.CharField(),
                        "method_name": serializers.CharField(),
                    },
                    many=True,
                ),
            },
        ),
    )
    def get(self, request: Request, phase_id: int) -> Response:
        phase = phase_get(phase_id=phase_id, user=request.user)
        visible = leaderboard_visible(phase=phase, user=request.user)
        try:
            dataset = request.query_params.get("dataset") or None
            points = leaderboard_history(phase=phase, dataset=dataset) if visible else []
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=400)
        decimals = phase.challenge.score_decimals
        return Response(
            {
                "phase": phase.id,
                "detail": "" if visible else RESULTS_HIDDEN,
                # "display": the score as every page prints it, for the chart's labels
                "points": [
                    {**p, "at": p["at"].isoformat(), "display": format_number(p["score"], decimals)}
                    for p in points
                ],
            }
        )


SUBMISSION_CHARTS = inline_serializer(
    "SubmissionCharts",
    {
        "submission": serializers.IntegerField(),
        "visible": serializers.BooleanField(),
        "datasets": serializers.ListField(child=serializers.DictField()),
    },
)


class SubmissionChartsApi(APIView):
    """Per-dataset R@1, R@5, R@10 and t2v rank histograms of one submission (its team and organisers)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=SUBMISSION_CHARTS)
    def get(self, request: Request, submission_id: int) -> Response:
        submission = submission_get(submission_id=submission_id, user=request.user)
        result = submission_result(submission=submission, user=request.user)
        return Response(
            {
                "submission": submission.id,
                "visible": result is not None,
                "datasets": [] if result is None else result_dataset_charts(result=result),
            }
        )


class EntryChartsApi(APIView):
    """The charts of a public leaderboard entry (same body as a submission's charts); 404 unless public."""

    permission_classes = [AllowAny]

    @extend_schema(responses=SUBMISSION_CHARTS)
    def get(self, request: Request, submission_id: int) -> Response:
        result = public_entry_get(submission_id=submission_id)
        return Response(
            {
                "submission": result.submission_id,
                "visible": True,
                "datasets": result_dataset_charts(result=result),
            }
        )
