"""Challenges and their datasets; the metric a challenge ranks by."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models

from evaluation.metrics.registry import LOWER_IS_BETTER, METRIC_KEYS, metric

from .catalog import CatalogQuerySet
from .vocabulary import Modality, Words, metric_set, metric_set_problems, validate_primary_metric


class PrimaryMetric(models.TextChoices):
    """The t2v metric a challenge ranks by (per dataset; the overall score aggregates it over datasets)."""

    GEOMETRIC_MEAN = "geometric_mean_R1-R5-R10", "Geometric mean of R@1, R@5, R@10"
    R1 = "R1", "R@1"
    R5 = "R5", "R@5"
    R10 = "R10", "R@10"
    R50 = "R50", "R@50"
    MEDR = "MedR", "Median rank"
    MEANR = "MeanR", "Mean rank"
    # Sets of relevant items and graded relevance (docs/design.md section 4).
    MAP = "mAP", "mAP"
    MAP_10 = "mAP@10", "mAP@10"
    RPREC = "RPrec", "R-precision"
    RECALL_10 = "Recall@10", "Recall@10"
    NDCG = "nDCG", "nDCG"
    NDCG_10 = "nDCG@10", "nDCG@10"


#: Metrics where a lower value is better (the default sort direction of their columns): the registry's.
LOWER_IS_BETTER_METRICS = LOWER_IS_BETTER


def validate_pages(value: object) -> None:
    if not isinstance(value, list) or not all(
        isinstance(p, dict) and set(p) <= {"slug", "title", "body"} and p.get("slug") and p.get("title")
        for p in value
    ):
        raise ValidationError('Use a list of {"slug": ..., "title": ..., "body": ...} pages.')


class Challenge(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    rules = models.TextField(blank=True)
    is_public = models.BooleanField(default=True, help_text="Visible to participants and visitors.")
    primary_metric = models.CharField(
        max_length=32,
        default=PrimaryMetric.GEOMETRIC_MEAN,
        validators=[validate_primary_metric],
        help_text="Per-dataset score (queries ranking gallery items); the overall score aggregates it. "
        "A registry metric (R1, mAP@10, nDCG, ...) or the geometric mean; one of the metrics below when "
        "they are given.",
    )
    metrics = models.JSONField(
        default=list,
        blank=True,
        help_text='The registry metrics the boards show, in order, e.g. ["mAP@10", "mAP@16", "R1"]; '
        "cut-offs of mAP@K, nDCG@K and Recall@K may be declared. Empty: R@1, R@5, R@10, R@50, MedR, "
        "MeanR (and the primary metric).",
    )
    # blank: the default (a form or an admin page that leaves them out keeps the Pentathlon's words)
    query_modality = models.CharField(
        max_length=8,
        choices=Modality.choices,
        default=Modality.TEXT,
        blank=True,
        help_text="What the queries are (blank: text).",
    )
    gallery_modality = models.CharField(
        max_length=8,
        choices=Modality.choices,
        default=Modality.VIDEO,
        blank=True,
        help_text="What the gallery items (the ranked columns) are (blank: video).",
    )
    query_noun = models.CharField(
        max_length=40,
        blank=True,
        help_text="The queries in the pages' words, plural (\"captions\"); blank: the modality's.",
    )
    query_noun_singular = models.CharField(
        max_length=40, blank=True, help_text='One query ("caption"); blank: the modality\'s.'
    )
    item_noun = models.CharField(
        max_length=40,
        blank=True,
        help_text="The gallery items in the pages' words, plural (\"audio clips\"); blank: the modality's.",
    )
    item_noun_singular = models.CharField(
        max_length=40, blank=True, help_text='One gallery item ("audio clip"); blank: the modality\'s.'
    )
    score_decimals = models.PositiveSmallIntegerField(
        default=2, validators=[MaxValueValidator(6)], help_text="Decimals shown on leaderboards and exports."
    )
    teams_need_approval = models.BooleanField(
        default=False, help_text="New teams may submit only once an organiser has approved them."
    )
    terms_version = models.PositiveIntegerField(
        default=0,
        help_text="0: taking part needs no acceptance. 1 or more: participants accept the rules (this "
        "version) before the starter kit or a submission; raise it after changing the rules to ask again.",
    )
    pages = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_pages],
        help_text='Extra pages: [{"slug": "data", "title": "Data", "body": "..."}].',
    )
    #: Who runs this challenge: they see its hidden results and ground truth and use its organiser
    #: tools. Checked only through `challenge.selectors.challenge_is_organiser` (superusers pass too;
    #: `is_staff` alone does not).
    organisers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="organised_challenges",
        blank=True,
        help_text="Users who run this challenge: hidden results, ground truth, re-scoring, publishing, "
        "moderation, exports. Give them staff status too if they should use the admin.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CatalogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        """The metric set names registry metrics, once each, and holds the primary metric (or the
        primary metric is the geometric mean): `vocabulary.metric_set_problems`. Blank modalities take
        their defaults."""
        self.query_modality = self.query_modality or Modality.TEXT
        self.gallery_modality = self.gallery_modality or Modality.VIDEO
        problems = metric_set_problems(primary=str(self.primary_metric), metrics=self.metrics)
        if problems:
            raise ValidationError(problems)

    @property
    def words(self) -> Words:
        """What the pages call the queries, the gallery items and the two directions."""
        return Words.of(
            query_modality=self.query_modality,
            gallery_modality=self.gallery_modality,
            query_noun=self.query_noun,
            query_noun_singular=self.query_noun_singular,
            item_noun=self.item_noun,
            item_noun_singular=self.item_noun_singular,
        )

    @property
    def primary_metric_label(self) -> str:
        """How the pages name the primary metric ("Geometric mean of R@1, R@5, R@10", "mAP@16")."""
        key = str(self.primary_metric)
        if key in PrimaryMetric.values:
            return str(PrimaryMetric(key).label)
        try:
            return metric(key).label
        except KeyError:
            return key

    @property
    def metric_set(self) -> tuple[str, ...]:
        """The metrics the boards, CSV and JSON show, in order (`vocabulary.metric_set`)."""
        return metric_set(primary=str(self.primary_metric), metrics=self.metrics or None)

    @property
    def result_metrics(self) -> tuple[str, ...]:
        """The metrics a result's per-dataset tables show (both directions): the rank metrics with the
        geometric mean, then the rest of the metric set."""
        return tuple(dict.fromkeys((*METRIC_KEYS, *self.metric_set)))

    @property
    def higher_is_better(self) -> bool:
        """The primary metric's direction, read from the metric registry: MedR and MeanR rank lower
        values first, every other metric higher ones (docs/design.md section 4, "Displayed numbers").
        No setting can contradict it. A value outside the registry (an unsaved, not yet validated
        instance) counts as higher is better, the registry's default."""
        try:
            return metric(str(self.primary_metric)).higher_is_better
        except KeyError:
            return True


class Dataset(models.Model):
    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(
        max_length=64, help_text="Canonical name, e.g. MSRVTT; matches the ground truth's groups."
    )
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["challenge", "name"], name="dataset_unique_name")]

    def __str__(self) -> str:
        return self.name
