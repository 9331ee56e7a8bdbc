"""Scores. The leaderboard sorts on the real float column `primary_score`, never on JSON."""

from django.db import models

from challenge.models import Submission


class Result(models.Model):
    """The scorer's report for one submission (re-scoring overwrites it).

    `metrics` is `{dataset: {"format", "num_queries", "num_videos", "score", "t2v": {...}, "v2t": {...}|None}}`
    exactly as `evaluation.scoring.score_submission` reports it.
    """

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="result")
    primary_score = models.FloatField(null=True, blank=True, db_index=True,
                                      help_text="Overall score; empty when a dataset is missing.")
    aggregation = models.CharField(max_length=8)
    metrics = models.JSONField(default=dict)
    missing_datasets = models.JSONField(default=list, blank=True)
    scorer_version = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-primary_score", "id"]

    def __str__(self) -> str:
        return f"Result of submission #{self.submission_id}: {self.primary_score}"

    def dataset_score(self, name: str) -> float | None:
        entry = self.metrics.get(name)
        return None if entry is None else entry.get("score")
