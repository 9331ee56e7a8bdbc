"""The public board as the API returns it: its JSON, read from the board cache, and its schema.

`leaderboard_json` is the read behind `LeaderboardListApi`. It sits outside the app's layers (next
to the API, above services) because it reads the cached rows (`leaderboard.boards`) and the tie
marks (`leaderboard.significance`, which uses the interval services), both above the selectors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from challenge.models import Phase
from evaluation.metrics.registry import METRICS as REGISTERED_METRICS
from evaluation.metrics.registry import metric as registry_metric
from leaderboard.boards.responses import board_rows_cached
from leaderboard.pagination import Page, page_of, page_request_parse
from leaderboard.query_params import query_integer
from leaderboard.selectors import METRICS as BOARD_METRICS
from leaderboard.selectors import Board, board_resolve, leaderboard_visible
from leaderboard.significance import board_marks

RESULTS_HIDDEN = "The results of this phase are hidden until the organisers publish them."
#: The registry's metrics, as every client needs them to label and sort columns.
METRICS_JSON = [
    {"key": m.key, "label": m.label, "name": m.name, "higher_is_better": m.higher_is_better}
    for m in REGISTERED_METRICS
]
METRIC_KEYS_JSON = frozenset(m["key"] for m in METRICS_JSON)
# Bounds of ?limit and ?offset: past them no board holds rows, and the database's integers end.
#: `limit` is the older name of a page's size (`leaderboard.pagination`): the same bound.
MAX_BOARD_LIMIT: int = settings.PENTATHLON_BOARD_MAX_PAGE_SIZE
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

PAGE_PARAMETERS_SCHEMA = [
    OpenApiParameter("page", OpenApiTypes.INT, description="1-based page of the board (default 1)."),
    OpenApiParameter(
        "page_size", OpenApiTypes.INT, description="Rows per page (default 100, at most 500); same as limit."
    ),
]
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


class BoardRequestError(ValueError):
    """A board parameter the client got wrong (a 400 with the message)."""


@extend_schema_serializer(component_name="LeaderboardEntry")
class LeaderboardEntrySerializer(serializers.Serializer[dict[str, Any]]):
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


LEADERBOARD_SCHEMA = inline_serializer(
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
            help_text="Labels of every metric the board may show: the rank metrics, then the rest of "
            "the challenge's metric set.",
        ),
        "board_metrics": serializers.ListField(
            child=serializers.CharField(),
            help_text="A dataset's columns in order: score (the primary metric), then the challenge's "
            "metric set; the keys of each entry's metrics.",
        ),
        "words": serializers.DictField(
            child=serializers.CharField(),
            help_text="What the challenge calls its queries and gallery items (query, queries, item, "
            "items), their modalities and the directions (t2v, v2t, e.g. text→audio).",
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
        "entries": LeaderboardEntrySerializer(many=True),
    },
)


def board_limits_error(params: Mapping[str, str]) -> str | None:
    """Why ?limit or ?offset is refused (naming the allowed range), checked before anything is looked
    up; None when both are within their bounds."""
    try:
        query_integer(params, "limit", minimum=1, maximum=MAX_BOARD_LIMIT)
        query_integer(params, "offset", minimum=0, maximum=MAX_BOARD_OFFSET, default=0)
    except ValidationError as exc:
        # query_integer raises it with {"detail": message}
        return str(exc.detail["detail"]) if isinstance(exc.detail, dict) else str(exc.detail)
    return None


class _BoardPage(TypedDict):
    board: Board
    visible: bool
    rows: list[dict[str, Any]]  # the whole board (empty while hidden)
    page: Page


def _board_page(*, phase: Phase, params: Mapping[str, str], user: Any) -> _BoardPage:
    try:
        board = board_resolve(
            phase=phase,
            dataset=params.get("dataset") or None,
            sort=params.get("sort") or None,
            direction=params.get("dir") or None,
        )
        visible = leaderboard_visible(phase=phase, user=user)
        rows = board_rows_cached(board=board) if visible else []
        offset = query_integer(params, "offset", minimum=0, maximum=MAX_BOARD_OFFSET, default=0) or 0
        page = page_of(rows=rows[offset:], request=page_request_parse(params=params))
    except ValueError as exc:
        raise BoardRequestError(str(exc)) from exc
    return {"board": board, "visible": visible, "rows": rows, "page": page}


def _entry_json(row: dict[str, Any], marks: dict[int, dict[str, Any]]) -> dict[str, Any]:
    mark = marks.get(row["submission_id"])
    return {
        **{k: row[k] for k in ENTRY_KEYS},
        "intervals": row["intervals"],
        "tied_within_noise": None if mark is None else mark["tied_within_noise"],
        "submitted_at": row["submitted_at"].isoformat().replace("+00:00", "Z"),
    }


def _metrics_json(board: Board) -> list[dict[str, Any]]:
    """The registry's rank metrics, then the rest of the board's metric set (declared cut-offs too)."""
    extra = [registry_metric(k) for k in board.metrics if k != "score" and k not in METRIC_KEYS_JSON]
    return METRICS_JSON + [
        {"key": m.key, "label": m.label, "name": m.name, "higher_is_better": m.higher_is_better}
        for m in extra
    ]


def _words_json(challenge: Any) -> dict[str, str]:
    """What the challenge's pages call its queries and gallery items, and the two directions."""
    words = challenge.words
    return {
        "query_modality": words.query_modality,
        "gallery_modality": words.gallery_modality,
        **words.nouns(),
        "t2v": words.forward,
        "v2t": words.backward,
    }


def leaderboard_json(*, phase: Phase, params: Mapping[str, str], user: Any) -> dict[str, Any]:
    """The board the query string asks for, as `LEADERBOARD_SCHEMA` documents it.

    Raises:
        BoardRequestError: an unknown dataset or sort column, or a page past the last one.
    """
    found = _board_page(phase=phase, params=params, user=user)
    board, visible, page = found["board"], found["visible"], found["page"]
    # Tie marks compare the board's top entries, whichever page shows them.
    marks = board_marks(board=board, rows=found["rows"]) if visible else {}
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
        "metrics": _metrics_json(board),
        "board_metrics": list(board.metrics),
        "words": _words_json(challenge),
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
        "entries": [_entry_json(row, marks) for row in page.rows],
    }
