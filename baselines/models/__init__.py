"""Models: CE (and its ablations) and MoEE share one `RetrievalModel`; see docs/baselines-reference.md section 2."""

from .retrieval import (
    ExpertSpec,
    RetrievalModel,
    TextEmbedding,
    VideoEmbedding,
    build_model,
    caption_similarity,
    sharded_similarity,
)

__all__ = [
    "ExpertSpec",
    "RetrievalModel",
    "TextEmbedding",
    "VideoEmbedding",
    "build_model",
    "caption_similarity",
    "sharded_similarity",
]
