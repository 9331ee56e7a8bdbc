"""Leaderboard reads: choosing, ranking and sorting happen in SQL (window functions, real float columns).

A phase has an overall board (one row per team, ranked by `Result.primary_score`) and one board per
dataset (ranked by that dataset's `DatasetResult.score`). Every metric column of either board sorts
in SQL on a float column of `DatasetResult`, joined once per dataset with a `FilteredRelation`.

Which submission of a team a board shows is the phase's setting (`Phase.final_submission`): its best
one, its selected final one (else its last), or its last one. Ties go to the earlier submission.
Baselines are shown as labelled rows, one per baseline submission, and get no rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Case, F, FilteredRelation, FloatField, Q, QuerySet, Value, When, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, RowNumber

from challenge.models import Phase, Submission
from challenge.selectors import challenge_is_organiser, phase_dataset_names
from evaluation.metrics.registry import GEOMETRIC_MEAN_KEY, LOWER_IS_BETTER
from evaluation.metrics.registry import METRICS as REGISTERED_METRICS
from leaderboard.models import Result

#: Board metric -> DatasetResult field: "score" (the challenge's primary metric), then every registered
#: rank metric with a column of its own (the geometric mean is the default score, not a column). The
#: other metrics of a challenge's set (mAP@10, nDCG@5, ...) are read from `DatasetResult.values`.
METRIC_FIELDS: dict[str, str] = {
    "score": "score",
    **{m.key: m.key.lower() for m in REGISTERED_METRICS if m.key != GEOMETRIC_MEAN_KEY},
}
#: The columns of a board whose challenge declares no metric set and ranks by a rank metric.
METRICS: tuple[str, ...] = tuple(METRIC_FIELDS)


def board_metrics(*, phase: Phase) -> tuple[str, ...]:
    """A dataset board's metric columns: "score" (the primary metric), then the challenge's metric set
    in its order (`Challenge.metric_set`), the geometric mean left out when it is the score."""
    challenge = phase.challenge
    primary = str(challenge.primary_metric)
    return (
        "score",
        *[k for k in challenge.metric_set if not (k == GEOMETRIC_MEAN_KEY and primary == GEOMETRIC_MEAN_KEY)],
    )


OVERALL = "overall"
BAD_SORT = "Unknown sort column {sort!r}; use overall or DATASET:METRIC with a metric among {metrics}."
BAD_DATASET = "Unknown dataset {dataset!r}; this phase has {datasets}."


@dataclass(frozen=True)
class Board:
    """What a board shows: which dataset (None: overall), which column it is sorted by and how."""

    phase: Phase
    datasets: list[str]
    dataset: str | None
    sort: str
    descending: bool
    #: The metric columns of each dataset (`board_metrics`).
    metrics: tuple[str, ...] = METRICS

    @property
    def default_sort(self) -> str:
        return OVERALL if self.dataset is None else f"{self.dataset}:score"


def metric_higher_is_better(*, phase: Phase, metric: str) -> bool:
    if metric in ("score", OVERALL):
        return phase.higher_is_better
    return metric not in LOWER_IS_BETTER


def board_resolve(
    *, phase: Phase, dataset: str | None = None, sort: str | None = None, direction: str | None = None
) -> Board:
    """Check the board's dataset and sort column (from a query string).

    Raises:
        ValueError: an unknown dataset or column; the message says what is accepted.
    """
    datasets = phase_dataset_names(phase=phase)
    metrics = board_metrics(phase=phase)
    if dataset:
        match = {name.lower(): name for name in datasets}.get(dataset.lower())
        if match is None:
            raise ValueError(BAD_DATASET.format(dataset=dataset, datasets=", ".join(datasets)))
        dataset = match
    else:
        dataset = None
    sort = sort or (OVERALL if dataset is None else f"{dataset}:score")
    if sort != OVERALL:
        name, _, metric = sort.partition(":")
        canonical = {d.lower(): d for d in datasets}.get(name.lower())
        if canonical is None or metric not in metrics or (dataset is not None and canonical != dataset):
            raise ValueError(BAD_SORT.format(sort=sort, metrics=", ".join(metrics)))
        sort = f"{canonical}:{metric}"
    metric = OVERALL if sort == OVERALL else sort.partition(":")[2]
    higher = metric_higher_is_better(phase=phase, metric=metric)
    descending = higher if direction not in ("asc", "desc") else direction == "desc"
    return Board(
        phase=phase, datasets=datasets, dataset=dataset, sort=sort, descending=descending, metrics=metrics
    )


def _alias(index: int) -> str:
    return f"ds{index}"


def _relation(dataset: str) -> FilteredRelation:
    """A fresh join to one dataset's row (a FilteredRelation belongs to the one queryset it is added to)."""
    return FilteredRelation("dataset_results", condition=Q(dataset_results__dataset=dataset))


def _field(board: Board, index: int, metric: str) -> str:
    """The name of dataset `index`'s `metric` in a board's rows: a float column of `DatasetResult`, or
    for a metric without one, an annotation of its value in `DatasetResult.values` (`_value_columns`)."""
    if metric in METRIC_FIELDS:
        return f"{_alias(index)}__{METRIC_FIELDS[metric]}"
    return f"{_alias(index)}_m{board.metrics.index(metric)}"


def _value_columns(board: Board) -> dict[str, Any]:
    """The board's metrics without a column of their own, read as floats from each dataset's `values`
    (SQLite's and PostgreSQL's JSON operators): they sort in SQL like the real columns."""
    return {
        _field(board, i, metric): Cast(KeyTextTransform(metric, f"{_alias(i)}__values"), FloatField())
        for i in range(len(board.datasets))
        for metric in board.metrics
        if metric not in METRIC_FIELDS
    }


def _column(board: Board, sort: str) -> str:
    if sort == OVERALL:
        return "primary_score"
    name, _, metric = sort.partition(":")
    return _field(board, board.datasets.index(name), metric)


def _ordered(expression: str, descending: bool) -> Any:
    return F(expression).desc(nulls_last=True) if descending else F(expression).asc(nulls_last=True)


def eligible_results(*, phase: Phase) -> QuerySet[Result]:
    """Finished, public results of the phase that the organisers have neither hidden nor disqualified."""
    return Result.objects.filter(
        submission__phase=phase,
        submission__status=Submission.Status.FINISHED,
        submission__is_public=True,
        submission__moderation="",
    )


def leaderboard_queryset(*, board: Board) -> QuerySet[Result, dict[str, Any]]:
    """One row per team (and per baseline submission), in the board's sort order; one SQL query.

    Rows are `values()` dicts: submission and team fields, `primary_score` and, for every dataset i
    of the phase, its board metrics under `_field`'s names.
    """
    phase = board.phase
    datasets = board.datasets
    main_column = _column(board, board.default_sort)
    # Stage 1 (a subquery): each team's entry, chosen over narrow rows; only a dataset board joins
    # the one per-dataset table it ranks by.
    chooser = eligible_results(phase=phase)
    if board.dataset is not None:
        alias = _alias(datasets.index(board.dataset))
        chooser = chooser.alias(**{alias: _relation(board.dataset)})
    chooser = chooser.filter(**{f"{main_column}__isnull": False})
    earlier = [F("submission__created_at").asc(), F("submission__id").asc()]
    later = [F("submission__created_at").desc(), F("submission__id").desc()]
    choice = phase.final_submission
    if choice == Phase.FinalSubmission.SELECTED:
        pick = [F("submission__is_final").desc(), *later]
    elif choice == Phase.FinalSubmission.LAST:
        pick = later
    else:
        pick = [_ordered(main_column, phase.higher_is_better), *earlier]
    baseline_key = Case(When(submission__is_baseline=True, then=F("submission_id")), default=Value(0))
    chosen = (
        chooser.annotate(
            team_pos=Window(RowNumber(), partition_by=[F("submission__team_id"), baseline_key], order_by=pick)
        )
        .filter(team_pos=1)
        .values("id")
    )
    # Stage 2: the chosen rows (one per team) with every column, in the board's order.
    fields = [
        "id",
        "primary_score",
        "submission_id",
        "submission__team__name",
        "submission__method_name",
        "submission__paper_url",
        "submission__code_url",
        "submission__is_baseline",
        "submission__created_at",
    ]
    for i in range(len(datasets)):
        fields += [_field(board, i, metric) for metric in board.metrics]
    fields += _interval_fields(board)
    relations = {_alias(i): _relation(name) for i, name in enumerate(datasets)}
    rows: QuerySet[Result, dict[str, Any]] = (  # fields named at run time: the plugin cannot type them
        Result.objects.filter(id__in=chosen)
        .alias(**relations)
        .annotate(**_value_columns(board))
        .values(*fields)
        .order_by(_ordered(_column(board, board.sort), board.descending), *earlier)
    )
    return rows


def _interval_fields(board: Board) -> list[str]:
    """The interval bounds a board shows, only when its phase has them on."""
    if not board.phase.intervals_enabled:
        return []
    return ["primary_score_low", "primary_score_high"] + [
        f"{_alias(i)}__intervals" for i in range(len(board.datasets))
    ]


def _row_intervals(board: Board, r: dict[str, Any]) -> dict[str, Any] | None:
    """{"overall": [low, high] or None, "datasets": {name: {board metric: [low, high] or None}}}."""
    if not board.phase.intervals_enabled:
        return None
    low, high = r["primary_score_low"], r["primary_score_high"]
    return {
        "overall": None if low is None or high is None else [low, high],
        "datasets": {name: r[f"{_alias(i)}__intervals"] or {} for i, name in enumerate(board.datasets)},
    }


def leaderboard_visible(*, phase: Phase, user: Any) -> bool:
    """The board is public once the phase's results are published; the challenge's organisers always see it."""
    return phase.results_published or challenge_is_organiser(user=user, challenge=phase.challenge_id)


def leaderboard_rows(
    *,
    board: Board | None = None,
    phase: Phase | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Plain rows for pages, the API and exports.

    `rank` is the row's position on the board's main column (overall score, or the dataset's score)
    among non-baseline rows, whatever column the board is sorted by; baselines have rank None.
    With a non-default sort or an offset, the ranks come from a second query (ids only).
    """
    if board is None:
        if phase is None:
            raise TypeError("leaderboard_rows needs board or phase")
        board = board_resolve(phase=phase)
    rows_qs = leaderboard_queryset(board=board)
    raw = list(rows_qs[offset:] if limit is None else rows_qs[offset : offset + limit])
    in_rank_order = (
        board.sort == board.default_sort and board.descending == board.phase.higher_is_better and not offset
    )
    if in_rank_order:
        ranked_ids = [r["id"] for r in raw if not r["submission__is_baseline"]]
    else:
        ranked_ids = _ranked_ids(board)
    ranks = {result_id: position for position, result_id in enumerate(ranked_ids, start=1)}
    rows = []
    for r in raw:
        metrics = {
            name: {metric: r[_field(board, i, metric)] for metric in board.metrics}
            for i, name in enumerate(board.datasets)
        }
        rows.append(
            {
                "rank": None if r["submission__is_baseline"] else ranks.get(r["id"]),
                "result_id": r["id"],
                "team": r["submission__team__name"],
                "submission_id": r["submission_id"],
                "method_name": r["submission__method_name"],
                "paper_url": r["submission__paper_url"],
                "code_url": r["submission__code_url"],
                "is_baseline": r["submission__is_baseline"],
                "primary_score": r["primary_score"],
                "scores": {name: metrics[name]["score"] for name in board.datasets},
                "metrics": metrics,
                "intervals": _row_intervals(board, r),
                "submitted_at": r["submission__created_at"],
            }
        )
    return rows


def _ranked_ids(board: Board) -> list[int]:
    main = Board(
        phase=board.phase,
        datasets=board.datasets,
        dataset=board.dataset,
        sort=board.default_sort,
        descending=board.phase.higher_is_better,
        metrics=board.metrics,
    )
    return list(
        leaderboard_queryset(board=main).filter(submission__is_baseline=False).values_list("id", flat=True)
    )


def leaderboard_datasets(*, phase: Phase) -> list[str]:
    """Dataset names of the phase, in the challenge's order (the leaderboard's columns)."""
    return phase_dataset_names(phase=phase)


def leaderboard_entries(*, phase: Phase) -> QuerySet[Result]:
    """The overall board as Result ids in rank order (baselines included); see `leaderboard_queryset`."""
    ids = list(leaderboard_queryset(board=board_resolve(phase=phase)).values_list("id", flat=True))
    order = Case(*[When(id=pk, then=Value(pos)) for pos, pk in enumerate(ids)], default=Value(len(ids)))
    return Result.objects.filter(id__in=ids).select_related("submission__team").order_by(order)


def counted_results(*, board: Board) -> QuerySet[Result]:
    """The results a board counts (one per team under the phase's counting rule, and the baselines):
    the only scores a chart beside that board may show."""
    return Result.objects.filter(id__in=leaderboard_queryset(board=board).values("id"))


def leaderboard_history(*, phase: Phase, dataset: str | None = None) -> list[dict[str, Any]]:
    """The leading counted score over time on the overall board (or `dataset`'s board): one point per
    improvement among the entries that board counts, baselines excluded, so a team's uncounted
    submissions never appear and the last point is the board's first place.

    Raises:
        ValueError: an unknown dataset (see `board_resolve`).
    """
    board = board_resolve(phase=phase, dataset=dataset)
    column = _column(board, board.default_sort)
    higher = phase.higher_is_better
    points: list[dict[str, Any]] = []
    best: float | None = None
    qs = counted_results(board=board).filter(submission__is_baseline=False)
    if board.dataset is not None:
        qs = qs.alias(**{_alias(board.datasets.index(board.dataset)): _relation(board.dataset)})
    improvements = (
        qs.filter(**{f"{column}__isnull": False})
        .order_by("submission__created_at", "submission__id")
        .values_list(
            "submission_id",
            "submission__created_at",
            column,
            "submission__team__name",
            "submission__method_name",
        )
    )
    for submission_id, created_at, score, team, method in improvements.iterator(chunk_size=2000):
        if best is None or (score > best if higher else score < best):
            best = score
            points.append(
                {
                    "submission_id": submission_id,
                    "at": created_at,
                    "score": score,
                    "team": team,
                    "method_name": method,
                }
            )
    return points


def result_dataset_charts(*, result: Result) -> list[dict[str, Any]]:
    """Per-dataset R@1/R@5/R@10 and the t2v rank histogram of one result (for its charts); with the
    phase's intervals on, "intervals" holds each one's [low, high] (the error bars), else None."""
    shown = result.submission.phase.intervals_enabled
    return [
        {
            "dataset": d.dataset,
            "R1": d.r1,
            "R5": d.r5,
            "R10": d.r10,
            "score": d.score,
            "rank_histogram": d.rank_histogram,
            "intervals": (
                {key: (d.intervals or {}).get(key) for key in ("R1", "R5", "R10", "score")}
                if shown and d.intervals
                else None
            ),
        }
        for d in result.dataset_results.all()
    ]


ENTRY_NOT_FOUND = "No public leaderboard entry with this id exists."


def public_entry_get(
    *, submission_id: int, challenge_slug: str | None = None, phase_slug: str | None = None
) -> Result:
    """The result of a public leaderboard entry, for its public detail page and charts.

    Public means, for everyone alike (organisers included; they have the submission page): a finished,
    public submission that the organisers have neither hidden nor disqualified, of a phase whose results
    are published, in a public challenge, and that one of the phase's boards counts (its counting rule:
    a team's other submissions stay private). Baselines are entries too. With the slugs, the entry must
    also belong to that challenge and phase.

    Raises:
        NotFoundError: anything else, with one message whatever the reason (nothing is revealed).
    """
    from core.exceptions import NotFoundError

    if not 0 < submission_id < 2**63:  # beyond any database's integer column (SQLite would raise)
        raise NotFoundError(ENTRY_NOT_FOUND)
    results = Result.objects.filter(
        submission_id=submission_id,
        submission__status=Submission.Status.FINISHED,
        submission__is_public=True,
        submission__moderation="",
        submission__phase__leaderboard_visibility=Phase.LeaderboardVisibility.PUBLIC,
        submission__phase__challenge__is_public=True,
    )
    if challenge_slug is not None:
        results = results.filter(submission__phase__challenge__slug=challenge_slug)
    if phase_slug is not None:
        results = results.filter(submission__phase__slug=phase_slug)
    result = (
        results.select_related("submission__team", "submission__phase__challenge")
        .prefetch_related("dataset_results")
        .first()
    )
    if result is None or not result_is_counted(result=result):
        raise NotFoundError(ENTRY_NOT_FOUND)
    return result


def result_is_counted(*, result: Result) -> bool:
    """Whether one of its phase's boards (overall or a dataset's) shows the result as an entry."""
    phase = result.submission.phase
    for dataset in [None, *phase_dataset_names(phase=phase)]:
        if counted_results(board=board_resolve(phase=phase, dataset=dataset)).filter(id=result.id).exists():
            return True
    return False
