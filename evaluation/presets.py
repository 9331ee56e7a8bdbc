"""Challenge presets: the retrieval benchmarks this server hosts out of the box, as plain data.

A preset names a challenge's datasets, what its queries and gallery items are and what its pages call
them ("audio clips", "text→audio"), the metric it ranks by, the metrics its boards show and the shapes
of its splits; `challenge.bundle` fills a bundle's missing challenge fields and datasets
from the preset the bundle names (``preset: dcase-audio-retrieval``), and `evaluation.synthetic`
builds ground truth in the preset's shapes for the demo and tests. Nothing here is a rule: every field
can be overridden by the bundle, and a challenge without a preset names its own datasets.

Shapes follow the public releases (docs/design.md, section 7):

* ``pentathlon-2020``: the CVPR 2020 Video Pentathlon (`evaluation.synthetic.PENTATHLON_SIZES`).
* ``audio-retrieval``: text to audio as in the audio-experts release (Oncescu et al., Interspeech 2021):
  AudioCaps test (975 clips, 5 captions each) and CLOTHO evaluation (1,045 clips, 5 captions each),
  one relevant clip per caption, R@K and their geometric mean.
* ``dcase-audio-retrieval``: DCASE language-based audio retrieval (task 6b to 2024, task 6 in 2025):
  CLOTHO evaluation captions ranked against its clips, mAP@10 primary; since 2025 several clips may be
  relevant to a caption (here 1 to 4).
* ``epic-kitchens-mir``: EPIC-KITCHENS-100 multi-instance retrieval: 3,842 captions x 9,668 clips with
  graded relevance (the verb and noun overlap of the narrations, nearly dense), nDCG primary and mAP.
"""

from __future__ import annotations

from dataclasses import dataclass

from .datasets import PENTATHLON_DATASETS

UNKNOWN_PRESET = "unknown preset {key!r}; expected one of {known}"


@dataclass(frozen=True)
class PresetDataset:
    """One dataset of a preset, with the shape of its evaluation split.

    Attributes:
        items: gallery items of the split (0: the 2020 challenge's shapes,
            `evaluation.synthetic.PENTATHLON_SIZES`); `captions`: queries written for each item (the
            item a caption was written for is relevant to it).
        num_queries: queries not written per item (graded datasets): each has its own relevant items.
        extra_relevant: most further items relevant to a query besides its own (0: one positive).
        graded: grades in (0, 1] instead of binary relevance.
        density: for graded datasets, the share of (query, item) cells with a non-zero grade.
    """

    name: str
    description: str
    items: int
    captions: int = 1
    num_queries: int | None = None
    extra_relevant: int = 0
    graded: bool = False
    density: float = 0.0

    @property
    def queries(self) -> int:
        return self.num_queries if self.num_queries is not None else self.items * self.captions


@dataclass(frozen=True)
class Preset:
    """A challenge preset: the challenge fields a bundle may leave out, and its datasets."""

    key: str
    title: str
    summary: str
    description: str
    primary_metric: str
    query_modality: str
    gallery_modality: str
    #: What the pages call the gallery items, plural and singular.
    item_noun: str
    item_noun_singular: str
    datasets: tuple[PresetDataset, ...]
    #: The challenge's metric set, the columns of its boards (the scorer always computes the rank
    #: metrics); empty: the rank metrics, as `Challenge.metrics` reads an empty set.
    metrics: tuple[str, ...] = ()

    def bundle_fields(self) -> dict[str, object]:
        """The bundle's ``challenge`` fields this preset provides."""
        return {
            "title": self.title,
            "summary": self.summary,
            "description": self.description,
            "primary_metric": self.primary_metric,
            "metrics": list(self.metrics),
            "query_modality": self.query_modality,
            "gallery_modality": self.gallery_modality,
            "item_noun": self.item_noun,
            "item_noun_singular": self.item_noun_singular,
        }

    def bundle_datasets(self) -> list[dict[str, str]]:
        """The bundle's ``datasets`` list."""
        return [{"name": d.name, "description": d.description} for d in self.datasets]


_PENTATHLON_DESCRIPTIONS = {
    "MSRVTT": "MSR-VTT: web videos, 20 captions each.",
    "MSVD": "MSVD: short YouTube clips, many captions each.",
    "DiDeMo": "DiDeMo: Flickr videos, one paragraph each.",
    "YouCook2": "YouCook2: cooking videos, one paragraph each.",
    "ActivityNet": "ActivityNet Captions: activity videos, one paragraph each.",
}

PRESETS: dict[str, Preset] = {
    preset.key: preset
    for preset in (
        Preset(
            key="pentathlon-2020",
            title="Video Pentathlon",
            summary="The CVPR 2020 Video Pentathlon: text-to-video retrieval on five datasets.",
            description="Retrieve the video each caption describes, on five datasets; ranked by the"
            " geometric mean of R@1, R@5 and R@10, averaged over the datasets.",
            primary_metric="geometric_mean_R1-R5-R10",
            query_modality="text",
            gallery_modality="video",
            item_noun="videos",
            item_noun_singular="video",
            # the 2020 val split's numbers (evaluation.synthetic.PENTATHLON_SIZES builds them exactly)
            datasets=tuple(
                PresetDataset(name, _PENTATHLON_DESCRIPTIONS[name], items=0) for name in PENTATHLON_DATASETS
            ),
        ),
        Preset(
            key="audio-retrieval",
            title="Audio retrieval",
            summary="Text to audio and audio to text retrieval on AudioCaps and CLOTHO.",
            description="Retrieve the audio clip each caption describes (and the captions of each clip),"
            " as in the audio-experts release; ranked by the geometric mean of R@1, R@5 and R@10.",
            primary_metric="geometric_mean_R1-R5-R10",
            query_modality="text",
            gallery_modality="audio",
            item_noun="audio clips",
            item_noun_singular="audio clip",
            datasets=(
                PresetDataset("AudioCaps", "AudioCaps test: AudioSet clips, 5 captions each.", 975, 5),
                PresetDataset("CLOTHO", "CLOTHO evaluation: Freesound clips, 5 captions each.", 1_045, 5),
            ),
        ),
        Preset(
            key="dcase-audio-retrieval",
            title="Language-based audio retrieval",
            summary="DCASE-style language-based audio retrieval: mAP@10, several relevant clips per caption.",
            description="Rank the audio clips for each caption; a caption may fit several clips. Ranked by"
            " mAP@10 (trec_eval's map_cut_10), mAP@16 (the 2025 task's ranking metric), R@1, R@5 and R@10"
            " reported beside it.",
            primary_metric="mAP@10",
            query_modality="text",
            gallery_modality="audio",
            item_noun="audio clips",
            item_noun_singular="audio clip",
            datasets=(
                PresetDataset(
                    "Clotho",
                    "CLOTHO evaluation: 1,045 clips, 5 captions each, extra relevant clips per caption.",
                    1_045,
                    5,
                    extra_relevant=3,
                ),
            ),
            metrics=("mAP@10", "mAP@16", "mAP", "Recall@10", "R1", "R5", "R10"),
        ),
        Preset(
            key="epic-kitchens-mir",
            title="Multi-instance retrieval",
            summary="EPIC-KITCHENS-style multi-instance retrieval: graded relevance, nDCG and mAP.",
            description="Rank the video clips for each caption by how well they match it; relevance is"
            " graded (shared verbs and nouns). Ranked by nDCG, mAP reported beside it.",
            primary_metric="nDCG",
            query_modality="text",
            gallery_modality="video",
            item_noun="video clips",
            item_noun_singular="video clip",
            datasets=(
                PresetDataset(
                    "EPIC-KITCHENS-100",
                    "EPIC-KITCHENS-100 test: 9,668 clips, 3,842 captions, graded relevance.",
                    9_668,
                    num_queries=3_842,
                    graded=True,
                    density=1.0,
                ),
            ),
            metrics=("nDCG", "nDCG@10", "mAP", "R1", "R5", "R10"),
        ),
    )
}


def preset(key: str) -> Preset:
    """The preset named `key`.

    >>> preset("dcase-audio-retrieval").primary_metric
    'mAP@10'

    Raises:
        KeyError: no such preset (the message lists the known ones).
    """
    try:
        return PRESETS[key]
    except KeyError:
        raise KeyError(UNKNOWN_PRESET.format(key=key, known=", ".join(PRESETS))) from None
