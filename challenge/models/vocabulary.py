"""What a challenge's items are called and which metrics its boards show (pure: no model here).

A challenge declares its query and gallery modalities (text, video, audio, image) and, optionally, the
nouns its pages use; a blank noun is the modality's (`MODALITY_NOUNS`), so the defaults keep the
Pentathlon's words ("captions", "videos", "text→video"). Its metric set names the registry metrics its
boards show (`evaluation.metrics.registry`, declared cut-offs such as "mAP@16" included); an empty set
is the rank metrics, plus the primary metric when it is not one of them. Each metric keeps its own
direction: the set never says which way a column sorts.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models

from evaluation.metrics.registry import GEOMETRIC_MEAN_KEY, METRIC_KEYS, metric

#: The rank metrics with a board column of their own (the geometric mean is the default score).
RANK_COLUMNS: tuple[str, ...] = tuple(key for key in METRIC_KEYS if key != GEOMETRIC_MEAN_KEY)

METRIC_UNKNOWN = (
    "{key!r} is not a metric of the registry; use {known}, or a cut-off of mAP@K, nDCG@K or Recall@K "
    "with K from 1 to 10000 (for example mAP@16)."
)
METRIC_TWICE = "{key} is listed twice among the metrics; list each metric once."
METRICS_NOT_A_LIST = 'Give the metrics as a list of registry keys, for example ["mAP@10", "R1", "R5"].'
PRIMARY_NOT_IN_SET = (
    "The primary metric {primary} is not among the challenge's metrics ({metrics}); add it to them, "
    "choose one of them, or rank by the geometric mean of R@1, R@5, R@10."
)


class Modality(models.TextChoices):
    """What a challenge's queries or gallery items are."""

    TEXT = "text", "text"
    VIDEO = "video", "video"
    AUDIO = "audio", "audio"
    IMAGE = "image", "image"


#: Each modality's nouns (singular, plural) when the challenge names none of its own.
MODALITY_NOUNS: dict[str, tuple[str, str]] = {
    Modality.TEXT: ("caption", "captions"),
    Modality.VIDEO: ("video", "videos"),
    Modality.AUDIO: ("audio clip", "audio clips"),
    Modality.IMAGE: ("image", "images"),
}


@dataclass(frozen=True)
class Words:
    """The words a challenge's pages use for its queries, its gallery items and the two directions.

    >>> w = Words.of(query_modality="text", gallery_modality="audio")
    >>> w.items, w.item, w.forward, w.backward
    ('audio clips', 'audio clip', 'text→audio', 'audio→text')
    """

    query: str
    queries: str
    item: str
    items: str
    query_modality: str
    gallery_modality: str

    def nouns(self) -> dict[str, str]:
        """The four nouns, keyed as the API and the JSON exports give them."""
        return {"query": self.query, "queries": self.queries, "item": self.item, "items": self.items}

    @property
    def forward(self) -> str:
        """The direction a board ranks by (the scorer's "t2v"): queries rank gallery items."""
        return f"{self.query_modality}→{self.gallery_modality}"

    @property
    def backward(self) -> str:
        """The reverse direction (the scorer's "v2t"): gallery items rank queries."""
        return f"{self.gallery_modality}→{self.query_modality}"

    @classmethod
    def of(
        cls,
        *,
        query_modality: str,
        gallery_modality: str,
        query_noun: str = "",
        query_noun_singular: str = "",
        item_noun: str = "",
        item_noun_singular: str = "",
    ) -> Words:
        """The words, a blank noun taking its modality's (an unknown modality reads as "item")."""
        query_default = MODALITY_NOUNS.get(query_modality, ("query", "queries"))
        item_default = MODALITY_NOUNS.get(gallery_modality, ("item", "items"))
        return cls(
            query=query_noun_singular or query_default[0],
            queries=query_noun or query_default[1],
            item=item_noun_singular or item_default[0],
            items=item_noun or item_default[1],
            query_modality=query_modality,
            gallery_modality=gallery_modality,
        )


def metric_set_problems(*, primary: str, metrics: object) -> dict[str, list[str]]:
    """What is wrong with a challenge's metric set and primary metric, by field (empty: nothing).

    >>> metric_set_problems(primary="mAP@10", metrics=["R1", "mAP@10", "nDCG@5"])
    {}
    >>> metric_set_problems(primary="geometric_mean_R1-R5-R10", metrics=["mAP@16"])
    {}
    >>> sorted(metric_set_problems(primary="nDCG", metrics=["mAP@10"]))
    ['primary_metric']
    """
    if metrics in (None, ""):
        metrics = []
    if not isinstance(metrics, list) or not all(isinstance(key, str) for key in metrics):
        return {"metrics": [METRICS_NOT_A_LIST]}
    problems: list[str] = []
    seen: set[str] = set()
    for key in metrics:
        try:
            metric(key)
        except KeyError:
            problems.append(METRIC_UNKNOWN.format(key=key, known=", ".join(METRIC_KEYS)))
        if key in seen:
            problems.append(METRIC_TWICE.format(key=key))
        seen.add(key)
    out = {"metrics": problems} if problems else {}
    if metrics and primary != GEOMETRIC_MEAN_KEY and primary not in metrics:
        out["primary_metric"] = [PRIMARY_NOT_IN_SET.format(primary=primary, metrics=", ".join(metrics))]
    return out


def metric_set(*, primary: str, metrics: list[str] | None) -> tuple[str, ...]:
    """The metrics a challenge's boards show, in order: its declared set, else the rank metrics and
    the primary metric when it is none of them (so a challenge ranked by mAP@10 shows mAP@10)."""
    if metrics:
        return tuple(metrics)
    extra = () if primary in METRIC_KEYS else (primary,)
    return (*RANK_COLUMNS, *extra)


def validate_primary_metric(value: str) -> None:
    """A registry metric (its listed keys and the declared cut-offs of the "@K" families)."""
    try:
        metric(value)
    except KeyError:
        raise ValidationError(METRIC_UNKNOWN.format(key=value, known=", ".join(METRIC_KEYS))) from None
