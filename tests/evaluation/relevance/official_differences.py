"""How large the differences with the official scorers are on data in the real shapes.

`python -m tests.evaluation.relevance.official_differences` prints the figures docs/design.md
section 4 ("Known differences with official scorers") quotes; the formulas are those of
`test_official_scorers` (which cites the official code):

* EPIC-KITCHENS-100 multi-instance retrieval: 3,842 captions x 9,668 clips, relevance built as the
  challenge builds it (97 verb classes, 300 noun classes, Zipf-distributed, 1 to 3 nouns a narration),
  scores = noise + 3 x relevance (a model of about the baselines' nDCG);
* DCASE 2023 (Clotho evaluation: 1,045 clips, 5 captions each) and DCASE 2025 (1,037 captions with
  1 to 12 relevant clips, drawn with the counts of the baseline's resources/metadata_eval.csv).

DCASE is scored in float32 (no ties) and with the same scores rounded to float16 (ties: the
official code takes its sort's order, the server the expectation over the tied orders).
"""

from __future__ import annotations

import numpy as np

from evaluation.metrics.relevance import Relevance, relevance_directions, relevance_rows

from .test_official_scorers import dcase2023_measure, dcase2025_multiple, epic_map, epic_ndcg

#: Captions of resources/metadata_eval.csv (CPJKU/dcase2025_task6_baseline) with 1, 2, ... 12 clips.
DCASE2025_RELEVANT_COUNTS = (250, 239, 196, 151, 93, 56, 33, 11, 6, 1, 0, 1)


def _zipf(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1)
    return rng.choice(count, size=size, p=weights / weights.sum())


def epic_shaped(seed: int = 0, videos: int = 9_668, captions: int = 3_842) -> tuple[np.ndarray, np.ndarray]:
    """(sims, rel), captions x clips, relevance as in the JPoSE repository's create_relevancy_files."""
    rng = np.random.default_rng(seed)
    verbs = _zipf(rng, 97, captions)
    nouns = np.zeros((captions, 300))
    for c in range(captions):
        nouns[c, _zipf(rng, 300, int(rng.choice([1, 1, 1, 2, 2, 3])))] = 1.0
    shared = nouns @ nouns.T
    sizes = nouns.sum(axis=1)
    pair = 0.5 * (verbs[:, None] == verbs[None, :]) + 0.5 * shared / (
        sizes[:, None] + sizes[None, :] - shared
    )
    narration = np.concatenate([np.arange(captions), _zipf(rng, captions, videos - captions)])
    rel = pair[:, narration]  # caption x clip: the clip's narration against the caption
    sims = (rng.standard_normal(rel.shape) + 3.0 * rel).astype(np.float32)
    return sims, rel


def _table(rel: np.ndarray) -> Relevance:
    query, item = np.nonzero(rel)
    return Relevance.from_triples(
        query, item, rel[query, item], num_queries=rel.shape[0], num_items=rel.shape[1]
    )


def _chunked(fn, sims: np.ndarray, rel: np.ndarray, rows: int = 512) -> np.ndarray:
    return np.concatenate([fn(sims[i : i + rows], rel[i : i + rows]) for i in range(0, sims.shape[0], rows)])


def _ndcg_at_r(sims: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Our nDCG@R of each row (queries x items), R = the row's items of relevance > 0."""
    cuts = (rel > 0).sum(axis=1)
    out = np.empty(rel.shape[0])
    for cut in np.unique(cuts):
        rows = np.flatnonzero(cuts == cut)
        key = f"nDCG@{int(cut)}"
        out[rows] = relevance_rows(sims[rows], _table(rel[rows]), metrics=[key]).values[key]
    return out


def epic() -> None:
    """Scores in float32 only: no ties (the DCASE figures show what float16 ties change)."""
    sims, rel = epic_shaped()
    print(
        f"EPIC-shaped: {rel.shape[0]} captions x {rel.shape[1]} clips; relevant (> 0) per caption:"
        f" {(rel > 0).sum(axis=1).mean():.0f}, per clip {(rel > 0).sum(axis=0).mean():.0f};"
        f" relevance 1 per caption {(rel == 1).sum(axis=1).mean():.1f}"
    )
    exact = np.where(rel == 1, 1.0, 0.0)
    full = relevance_directions(sims, _table(rel), metrics=["nDCG", "mAP"])
    ones = relevance_directions(sims, _table(exact), metrics=["mAP"])
    for direction, (s, r) in {"t2v": (sims, rel), "v2t": (np.ascontiguousarray(sims.T), rel.T)}.items():
        print(
            f"  {direction}: nDCG official {100 * _chunked(epic_ndcg, s, r).mean():.2f}"
            f" ours@R {100 * _ndcg_at_r(s, r).mean():.2f} ours(full) {100 * full[direction].values['nDCG'].mean():.2f};"
            f" mAP official {100 * _chunked(epic_map, s, r).mean():.2f}"
            f" ours(relevance-1 items) {100 * ones[direction].values['mAP'].mean():.2f}"
            f" ours(grade > 0) {100 * full[direction].values['mAP'].mean():.2f}"
        )


def dcase() -> None:
    rng = np.random.default_rng(1)
    clips = 1_045
    owner = np.repeat(np.arange(clips), 5)
    rel = np.zeros((owner.size, clips))
    rel[np.arange(owner.size), owner] = 1.0
    sims32 = (rng.standard_normal(rel.shape) + 3.0 * rel).astype(np.float32)
    for label, sims in (("float32", sims32), ("float16", sims32.astype(np.float16).astype(np.float32))):
        ours = relevance_directions(sims, _table(rel), metrics=["mAP@10", "Recall@1", "Recall@5"])
        t2a, a2t = dcase2023_measure(sims, rel), dcase2023_measure(sims.T, rel.T)
        print(
            f"DCASE 2023 Clotho ({label}): t2a mAP@10 official {100 * t2a['mAP@10'].mean():.2f}"
            f" ours {100 * ours['t2v'].values['mAP@10'].mean():.2f};"
            f" a2t mAP@10 official {100 * a2t['mAP@10'].mean():.2f} ours {100 * ours['v2t'].values['mAP@10'].mean():.2f};"
            f" a2t R@1 official {100 * a2t['R1'].mean():.2f} ours R1 {100 * (ours['v2t'].first_rank < 1).mean():.2f};"
            f" a2t R@5 official {100 * a2t['R5'].mean():.2f} ours R5 {100 * (ours['v2t'].first_rank < 5).mean():.2f}"
        )
    sizes = np.repeat(np.arange(1, 13), DCASE2025_RELEVANT_COUNTS)
    queries = sizes.size
    relevant = [rng.choice(clips, size=int(n), replace=False).tolist() for n in sizes]
    rel = np.zeros((queries, clips))
    for q, items in enumerate(relevant):
        rel[q, items] = 1.0
    sims32 = (rng.standard_normal(rel.shape) + 3.0 * rel).astype(np.float32)
    for label, sims in (("float32", sims32), ("float16", sims32.astype(np.float16).astype(np.float32))):
        ours = relevance_directions(sims, _table(rel), metrics=["mAP@10", "mAP@16"], directions=["t2v"])[
            "t2v"
        ]
        parts = []
        for k in (10, 16):
            mine = ours.values[f"mAP@{k}"]
            by_min = mine * sizes / np.minimum(sizes, k)
            parts.append(
                f"mAP@{k} official {100 * dcase2025_multiple(sims, relevant, k).mean():.3f}"
                f" ours {100 * mine.mean():.3f} (by min(R, K): {100 * by_min.mean():.3f})"
            )
        print(f"DCASE 2025 extra annotations ({label}): " + "; ".join(parts))


if __name__ == "__main__":
    dcase()
    epic()
