"""Public leaderboard API: the boards (overall or per dataset, sortable), the best score over time,
and one submission's chart data."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenge.selectors import phase_get, submission_get, submission_result
from evaluation.metrics.registry import format_number
from leaderboard.boards.phases import phase_board_brief
from leaderboard.boards.responses import board_key, cached_board_response, viewer_class
from leaderboard.selectors import (
    leaderboard_history,
    leaderboard_visible,
    public_entry_get,
    result_dataset_charts,
)
from leaderboard.serializers import (
    BOARD_PARAMETERS,
    LEADERBOARD_SCHEMA,
    MAX_BOARD_LIMIT,
    MAX_BOARD_OFFSET,
    RESULTS_HIDDEN,
    BoardRequestError,
    LeaderboardEntrySerializer,
    board_limits_error,
    leaderboard_json,
)

if TYPE_CHECKING:
    from rest_framework.views import AsView, GenericView  # the stubs' types of a view function

__all__ = ["MAX_BOARD_LIMIT", "MAX_BOARD_OFFSET"]  # the bounds of ?limit and ?offset, as tests read them


class LeaderboardListApi(APIView):
    """One row per team: the submission the phase's rule picks (ties go to the earlier one); baselines
    are extra rows without a rank."""

    permission_classes = [AllowAny]
    OutputSerializer = LeaderboardEntrySerializer

    @classmethod
    def as_view(cls, **initkwargs: Any) -> AsView[GenericView]:
        """A read: no transaction around it, so no SQLite write lock (ATOMIC_REQUESTS)."""
        return transaction.non_atomic_requests(super().as_view(**initkwargs))

    @extend_schema(parameters=BOARD_PARAMETERS, responses=LEADERBOARD_SCHEMA)
    def get(self, request: Request, phase_id: int) -> HttpResponseBase:
        """The board from the cache (`leaderboard.boards.responses`), 304 when the client has this version."""
        # Bad parameters are answered here, not raised: the exception handler would mark the request's
        # transaction for rollback. The numbers are checked before anything is looked up.
        refused = board_limits_error(request.query_params)
        if refused:
            return JsonResponse({"detail": refused}, status=400)
        found = None if request.user.is_authenticated else phase_board_brief(phase_id=phase_id)
        brief, version = found or (None, None)
        phase = brief or phase_get(phase_id=phase_id, user=request.user)
        viewer = viewer_class(phase=phase, user=request.user)

        def board(*, full: bool) -> dict[str, Any]:
            """The board's JSON; `full` reads the whole phase first (a cached brief holds too little)."""
            whole = phase_get(phase_id=phase_id, user=request.user) if full else phase
            return leaderboard_json(phase=whole, params=request.query_params, user=request.user)

        if request.accepted_renderer.format != "json":  # the browsable API: rendered each time
            try:
                return Response(board(full=True))
            except BoardRequestError as exc:
                return Response({"detail": str(exc)}, status=400)
        key = board_key(phase=phase, kind="json", params=request.query_params, viewer=viewer, version=version)

        def render() -> HttpResponse:  # a miss
            try:
                data = board(full=brief is not None)
            except BoardRequestError as exc:
                return JsonResponse({"detail": str(exc)}, status=400)
            return HttpResponse(json.dumps(data, separators=(",", ":")), content_type="application/json")

        return cached_board_response(
            request, key=key, render=render, shared=viewer != "organiser" and phase.results_published
        )


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
