"""Scores. The leaderboard sorts on the real float column `primary_score`, never on JSON."""

from django.conf import settings
from django.db import models

from challenge.models import Submission


class Result(models.Model):
    """The scorer's report for one submission (re-scoring overwrites it).

    `metrics` is `{dataset: {"format", "num_queries", "num_videos", "score", "t2v": {...}, "v2t": {...}|None,
    "rank_histogram"}}`
    exactly as `evaluation.scoring.score_submission` reports it.
    """

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="result")
    primary_score = models.FloatField(
        null=True, blank=True, db_index=True, help_text="Overall score; empty when a dataset is missing."
    )
    aggregation = models.CharField(max_length=8)
    metrics = models.JSONField(default=dict)
    missing_datasets = models.JSONField(default=list, blank=True)
    scorer_version = models.CharField(max_length=32)
    #: `evaluation.uncertainty.submission_intervals` of the stored ranks (aggregates only, never per
    #: query); None when the phase had intervals off or the result predates them.
    intervals = models.JSONField(null=True, blank=True)
    primary_score_low = models.FloatField(null=True, blank=True)
    primary_score_high = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-primary_score", "id"]

    def __str__(self) -> str:
        return f"Result of submission #{self.submission_id}: {self.primary_score}"

    def dataset_score(self, name: str) -> float | None:
        entry = self.metrics.get(name)
        return None if entry is None else entry.get("score")


class DatasetResult(models.Model):
    """One dataset's t2v numbers of a result, in real float columns so every leaderboard column sorts in SQL.

    `score` is the challenge's primary metric for this dataset; `rank_histogram` is the scorer's
    compact t2v rank histogram (`evaluation.metrics.rank_histogram`), for charts only.
    """

    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="dataset_results")
    dataset = models.CharField(max_length=64)
    score = models.FloatField(null=True, blank=True)
    r1 = models.FloatField(null=True, blank=True)
    r5 = models.FloatField(null=True, blank=True)
    r10 = models.FloatField(null=True, blank=True)
    r50 = models.FloatField(null=True, blank=True)
    medr = models.FloatField(null=True, blank=True)
    meanr = models.FloatField(null=True, blank=True)
    rank_histogram = models.JSONField(null=True, blank=True)
    #: The t2v metrics without a column of their own ({"mAP@10": 41.2, "nDCG@5": ...}), for the
    #: boards of challenges whose metric set names them (`leaderboard.selectors.board_metrics`).
    values = models.JSONField(default=dict, blank=True)
    #: The board's copy of this dataset's t2v intervals: {"score" or metric key: [low, high]}.
    intervals = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["result", "id"]
        constraints = [models.UniqueConstraint(fields=["result", "dataset"], name="dataset_result_unique")]
        indexes = [models.Index(fields=["dataset", "score"], name="dataset_result_score_idx")]

    def __str__(self) -> str:
        return f"{self.dataset} of result #{self.result_id}: {self.score}"


class ResultRanks(models.Model):
    """A result's per-query ranks (`evaluation.uncertainty.pack_ranks`), for intervals and paired tests.

    Private: in the phase's published query order, with each query's ground-truth video, so they
    reveal which query is which. Never served; read only by `leaderboard.services.intervals` and
    `leaderboard.significance`. A row of its own so that loading a result never loads the blob.
    """

    result = models.OneToOneField(Result, on_delete=models.CASCADE, primary_key=True, related_name="ranks")
    blob = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Ranks of result #{self.result_id} ({len(self.blob)} bytes)"


class LeaderboardSnapshot(models.Model):
    """A phase's overall leaderboard frozen before a re-score, to show what the re-score changed."""

    phase = models.ForeignKey(
        "challenge.Phase", on_delete=models.CASCADE, related_name="leaderboard_snapshots"
    )
    reason = models.CharField(max_length=200)
    rows = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"{self.phase} before {self.reason} ({self.created_at:%Y-%m-%d %H:%M})"
