"""Our relevance metrics against the official scorers of the challenges the presets follow.

docs/design.md section 4 ("Known differences with official scorers") lists what these tests pin.
Each official formula is re-implemented below from the public code (cited at each function, read,
not copied) as a small numpy function, run on seeded random data in the challenge's shapes (small),
and compared with the server: equal where the definitions agree (scores without ties, the conditions
stated in each test), and, where they differ, the documented difference asserted as a formula.

Directions: the server's t2v ranks the items for each query (caption), v2t ranks the queries for each
item with the transposed relevance. EPIC-KITCHENS-100 calls them txt2vis and vis2txt.
"""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.metrics.relevance import Relevance, relevance_directions

from .brute import orders, value_of_ranking

# --- the official formulas ------------------------------------------------------------------------


def epic_map(sims: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Per-row AP of EPIC-KITCHENS-100 multi-instance retrieval.

    mwray/Joint-Part-of-Speech-Embeddings, src/evaluation/mAP.py, `calculate_mAP` (the same file is
    adrianofragomeni/MI-MM src/evaluation/mAP.py; both are the evaluation code that
    epic-kitchens/C5-Multi-Instance-Retrieval points to). Rows ordered by `(-sims).argsort()`; only
    items of relevance exactly 1 count as relevant (their number divides), but the precision at such
    an item is the cumulative sum of the *graded* relevance above and at it, divided by its position.
    """
    order = np.argsort(-sims, axis=1)
    ranked = np.take_along_axis(rel, order, axis=1)
    found = np.cumsum(ranked, axis=1)
    found[ranked != 1] = 0
    return (found / np.arange(1, rel.shape[1] + 1)).sum(axis=1) / (ranked == 1).sum(axis=1)


def epic_ndcg(sims: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Per-row nDCG of EPIC-KITCHENS-100 multi-instance retrieval.

    Same repositories, src/evaluation/nDCG.py, `calculate_nDCG` with `calculate_k_counts` and
    `calculate_IDCG`: rows ordered by `np.argsort(sims)[:, ::-1]`, gain = relevance, discount
    1/log2(i + 1), and only the first R positions count, R = the row's items of relevance > 0
    (`k_counts`), in the DCG and in the ideal DCG alike.
    """
    order = np.argsort(sims, axis=1)[:, ::-1]
    ideal = np.sort(rel, axis=1)[:, ::-1]
    kept = ideal > 0
    discount = 1.0 / np.log2(np.arange(rel.shape[1]) + 2.0)
    dcg = (np.take_along_axis(rel, order, axis=1) * kept * discount).sum(axis=1)
    return dcg / (ideal * kept * discount).sum(axis=1)


def dcase2023_measure(sims: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
    """Per-query mAP@10 and R@1/5/10 of the DCASE 2023 task 6b baseline.

    xieh97/dcase2023-audio-retrieval, postprocessing/xmodal_retrieval.py, `measure` (used for both
    Text2Audio and Audio2Text): order `np.argsort(scores)[::-1]`; AP = the sum over relevant items in
    the top 10 of (their count so far / position), divided by *all* relevant items of the query;
    "R@K" = the *share* of the relevant items in the top K.
    """
    out: dict[str, list[float]] = {"mAP@10": [], "R1": [], "R5": [], "R10": []}
    for scores, target in zip(sims, targets, strict=True):
        ranked = target[np.argsort(scores)[::-1]].astype(float)
        total = ranked.sum()
        for k in (1, 5, 10):
            out[f"R{k}"].append(ranked[:k].sum() / total)
        positions = np.arange(1, 11, dtype=float)[ranked[:10] > 0]
        out["mAP@10"].append((np.arange(1, positions.size + 1) / positions).sum() / total)
    return {key: np.asarray(values) for key, values in out.items()}


def dcase2025_single(sims: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Per-query mAP@10 and R@1/5/10 of the DCASE 2025 task 6 baseline, one relevant clip per caption.

    CPJKU/dcase2025_task6_baseline, d25_t6/retrieval_module.py, `on_validation_epoch_end`: the top 10
    of each caption (`C.topk(10)`); AP = 1 / position of the caption's clip in it, 0 when absent;
    R@K = whether the clip is in the top K.
    """
    top = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    hit = top == target[:, None]
    ap = np.where(hit.any(axis=1), 1.0 / (hit.argmax(axis=1) + 1), 0.0)
    return {"mAP@10": ap, **{f"R{k}": hit[:, :k].any(axis=1).astype(float) for k in (1, 5, 10)}}


def dcase2025_multiple(sims: np.ndarray, relevant: list[list[int]], k: int) -> np.ndarray:
    """Per-query mAP@k of the DCASE 2025 task 6 baseline on the extra annotations (several clips).

    Same file and function, `get_ranks` (0-based rank of each relevant clip,
    `argsort(argsort(-c))`) and `average_precision_at_k`: over the relevant ranks in increasing
    order, add i / (rank + 1) while rank < k; divide by the number of relevant clips (the code's
    default k is 10; the README's table reports k = 16).
    """
    out = []
    for scores, items in zip(sims, relevant, strict=True):
        ranks = sorted(int(r) for r in np.argsort(np.argsort(-scores))[items])
        ap = 0.0
        for i, rank in enumerate(ranks, start=1):
            if rank >= k:
                break
            ap += i / (rank + 1)
        out.append(ap / len(ranks))
    return np.asarray(out)


# --- data in the challenges' shapes -----------------------------------------------------------------


def _zipf(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1)
    return rng.choice(count, size=size, p=weights / weights.sum())


def epic_data(seed: int, videos: int = 90, captions: int = 36) -> tuple[np.ndarray, np.ndarray]:
    """(sims, rel), both videos x captions, as EPIC-KITCHENS-100 builds its relevance.

    As src/scripts/create_relevancy_files.py of the JPoSE repository: the captions are the distinct
    narrations, each with a verb class and a set of noun classes; each clip has one of them (every
    caption at least one clip); the relevance of a clip to a caption is (verb IoU + noun-set IoU) / 2,
    verb IoU being 1 for the same class and 0 otherwise. Scores are noise plus relevance (no ties).
    """
    rng = np.random.default_rng(seed)
    verbs = _zipf(rng, 8, captions)
    nouns = [set(_zipf(rng, 15, int(rng.integers(1, 4))).tolist()) for _ in range(captions)]
    narration = np.concatenate([np.arange(captions), _zipf(rng, captions, videos - captions)])
    rel = np.zeros((videos, captions))
    for v, n in enumerate(narration):
        for c in range(captions):
            noun_iou = len(nouns[n] & nouns[c]) / len(nouns[n] | nouns[c])
            rel[v, c] = 0.5 * (verbs[n] == verbs[c]) + 0.5 * noun_iou
    sims = rng.standard_normal((videos, captions)) + 2.0 * rel
    return sims, rel


def _table(rel: np.ndarray) -> Relevance:
    """The server's relevance table of a dense queries x items matrix (entries > 0)."""
    query, item = np.nonzero(rel)
    return Relevance.from_triples(
        query, item, rel[query, item], num_queries=rel.shape[0], num_items=rel.shape[1]
    )


def _rows(sims: np.ndarray, rel: np.ndarray, keys: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per-row values of `keys`, t2v and v2t, for captions x items `sims` and `rel`."""
    out = relevance_directions(sims, _table(rel), metrics=keys)
    return {
        direction: {**values.values, "first_rank": values.first_rank} for direction, values in out.items()
    }


def _no_ties(sims: np.ndarray) -> None:
    for axis in (0, 1):
        ordered = np.sort(sims, axis=axis)
        assert np.all(np.diff(ordered, axis=axis) != 0), "the comparison needs scores without ties"


# --- EPIC-KITCHENS-100 -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0])  # an identity on every row: one draw of 6 s suffices
def test_epic_ndcg_is_our_ndcg_cut_at_each_rows_number_of_relevant_items(seed):
    """Without ties, EPIC's nDCG of a row equals our nDCG@R with R its items of relevance > 0, in both
    directions (txt2vis = our t2v, vis2txt = our v2t); it is not our full-list nDCG."""
    sims_vc, rel_vc = epic_data(seed)
    _no_ties(sims_vc)
    sims, rel = sims_vc.T, rel_vc.T  # the server's queries are the captions
    assert (rel > 0).any(axis=0).all(), "every clip has a relevant caption, so v2t has a row per clip"
    cuts = sorted({int(n) for n in (rel > 0).sum(axis=1)} | {int(n) for n in (rel > 0).sum(axis=0)})
    ours = _rows(sims, rel, ["nDCG", *(f"nDCG@{k}" for k in cuts)])
    for direction, (s, r) in {"t2v": (sims, rel), "v2t": (sims.T, rel.T)}.items():
        official = epic_ndcg(s, r)
        at_r = np.array([ours[direction][f"nDCG@{int(n)}"][i] for i, n in enumerate((r > 0).sum(axis=1))])
        np.testing.assert_allclose(official, at_r, rtol=0, atol=1e-12, err_msg=direction)
        assert np.abs(official - ours[direction]["nDCG"]).max() > 1e-3, direction


@pytest.mark.parametrize("seed", [0])
def test_epic_map_counts_partial_relevance_in_the_precision(seed):
    """EPIC's AP takes the items of relevance exactly 1 as the relevant ones, but its precision at
    each counts the grades of every item at or above it. So, without ties:
    official = our AP on the relevance-1 items + (1/R1) * sum over relevance-1 items at position k of
    (sum of the partial grades above k) / k; it is above our AP wherever a partial item precedes a
    relevance-1 item, and our AP on the full table (grade > 0 relevant) is another number again."""
    sims_vc, rel_vc = epic_data(seed)
    _no_ties(sims_vc)
    sims, rel = sims_vc.T, rel_vc.T
    exact = np.where(rel == 1, 1.0, 0.0)
    ours_exact = _rows(sims, exact, ["mAP"])
    ours_graded = _rows(sims, rel, ["mAP"])
    for direction, (s, r) in {"t2v": (sims, rel), "v2t": (sims.T, rel.T)}.items():
        official = epic_map(s, r)
        order = np.argsort(-s, axis=1)
        ranked = np.take_along_axis(r, order, axis=1)
        partial_above = np.cumsum(np.where(ranked < 1, ranked, 0.0), axis=1)
        extra = (np.where(ranked == 1, partial_above, 0.0) / np.arange(1, r.shape[1] + 1)).sum(axis=1)
        extra /= (r == 1).sum(axis=1)
        mine = ours_exact[direction]["mAP"]
        np.testing.assert_allclose(official, mine + extra, rtol=0, atol=1e-12, err_msg=direction)
        assert (extra > 0).mean() > 0.5 and np.all(official >= mine - 1e-12), direction
        assert np.abs(official - ours_graded[direction]["mAP"]).max() > 1e-2, direction


def test_epic_map_equals_ours_on_binary_relevance():
    """With relevance 0 or 1 only and no ties, EPIC's mAP is trec_eval's map, ours, both directions."""
    sims_vc, rel_vc = epic_data(3)
    binary = np.where(rel_vc == 1, 1.0, 0.0)
    ours = _rows(sims_vc.T, binary.T, ["mAP"])
    np.testing.assert_allclose(epic_map(sims_vc.T, binary.T), ours["t2v"]["mAP"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(epic_map(sims_vc, binary), ours["v2t"]["mAP"], rtol=0, atol=1e-12)


def test_epic_breaks_ties_by_sort_order_where_we_take_the_expectation():
    """Tied scores: EPIC's value is that of one order (numpy's argsort, so it moves with the gallery's
    order); ours is the mean over every order of the tied items."""
    scores = np.array([[0.5, 0.9, 0.5, 0.5, 0.1, 0.5]])
    grades = np.array([[0.0, 0.5, 1.0, 0.25, 0.0, 0.5]])
    cut = int((grades > 0).sum())
    per_order = [value_of_ranking(o, grades[0], f"nDCG@{cut}") for o in orders(scores[0])]
    official = float(epic_ndcg(scores, grades)[0])
    ours = float(_rows(scores, grades, [f"nDCG@{cut}"])["t2v"][f"nDCG@{cut}"][0])
    assert any(official == pytest.approx(v, abs=1e-12) for v in per_order) and np.ptp(per_order) > 0
    assert ours == pytest.approx(np.mean(per_order), abs=1e-12)
    assert abs(official - ours) > 1e-3
    # A constant submission: EPIC's nDCG depends on which column holds which clip; ours does not.
    flat = np.zeros((1, 6))
    swapped = grades[:, ::-1]
    assert epic_ndcg(flat, grades)[0] != pytest.approx(epic_ndcg(flat, swapped)[0])
    assert _rows(flat, grades, [f"nDCG@{cut}"])["t2v"][f"nDCG@{cut}"][0] == pytest.approx(
        _rows(flat, swapped, [f"nDCG@{cut}"])["t2v"][f"nDCG@{cut}"][0]
    )


# --- DCASE language-based audio retrieval -----------------------------------------------------------


def clotho_data(seed: int, clips: int = 40, per_clip: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(sims, rel): captions x clips, caption c written for clip c // 5 (Clotho: 5 captions a clip)."""
    rng = np.random.default_rng(seed)
    owner = np.repeat(np.arange(clips), per_clip)
    rel = np.zeros((owner.size, clips))
    rel[np.arange(owner.size), owner] = 1.0
    return rng.standard_normal(rel.shape) + 1.5 * rel, rel


@pytest.mark.parametrize("seed", [0, 1])
def test_dcase2023_text_to_audio_equals_ours(seed):
    """One clip per caption, no ties: the 2023 baseline's mAP@10 and R@K are ours (t2v)."""
    sims, rel = clotho_data(seed)
    _no_ties(sims)
    official = dcase2023_measure(sims, rel)
    ours = _rows(sims, rel, ["mAP@10"])["t2v"]
    np.testing.assert_allclose(official["mAP@10"], ours["mAP@10"], rtol=0, atol=1e-12)
    for k in (1, 5, 10):
        np.testing.assert_array_equal(official[f"R{k}"], ours["first_rank"] < k)


@pytest.mark.parametrize("seed", [0, 1])
def test_dcase2023_audio_to_text_divides_by_every_relevant_caption_and_its_recall_is_a_share(seed):
    """Audio to text (5 relevant captions a clip), no ties: the 2023 mAP@10 divides by all 5, like
    trec_eval and us (v2t mAP@10); its "R@K" is the share of the 5 in the top K, our Recall@K, not
    our R@K (a relevant caption within the top K): at K = 1 it is exactly ours / 5."""
    sims, rel = clotho_data(seed)
    _no_ties(sims)
    official = dcase2023_measure(sims.T, rel.T)
    ours = _rows(sims, rel, ["mAP@10", "Recall@1", "Recall@5", "Recall@10"])["v2t"]
    np.testing.assert_allclose(official["mAP@10"], ours["mAP@10"], rtol=0, atol=1e-12)
    for k in (1, 5, 10):
        np.testing.assert_allclose(official[f"R{k}"], ours[f"Recall@{k}"], rtol=0, atol=1e-12)
    hit = (ours["first_rank"] < 1).astype(float)
    np.testing.assert_allclose(official["R1"], hit / 5, rtol=0, atol=1e-12)
    assert official["R5"].mean() < (ours["first_rank"] < 5).mean()


def test_dcase2025_one_clip_per_caption_equals_ours():
    """The 2025 baseline's classic mAP@10 (1 / position of the clip in the top 10) and R@K are ours."""
    sims, rel = clotho_data(4)
    _no_ties(sims)
    official = dcase2025_single(sims, rel.argmax(axis=1))
    ours = _rows(sims, rel, ["mAP@10"])["t2v"]
    np.testing.assert_allclose(official["mAP@10"], ours["mAP@10"], rtol=0, atol=1e-12)
    for k in (1, 5, 10):
        np.testing.assert_array_equal(official[f"R{k}"], ours["first_rank"] < k)


@pytest.mark.parametrize("k", [10, 16])
def test_dcase2025_several_clips_per_caption_divide_by_r_not_min_r_k(k):
    """The 2025 extra annotations (1 to 12 clips a caption, resources/metadata_eval.csv): mAP@k
    divides by R, as trec_eval's map_cut and we do, even for R > k, where a min(R, k) normalisation
    (ml_metrics' apk, for one) would give R / k times more. No ties."""
    rng = np.random.default_rng(k)
    clips, queries = 60, 40
    sizes = rng.choice(np.arange(1, 10), size=queries)
    sizes[:3] = [12, 11, 17]  # some captions with more relevant clips than the cut-off
    relevant = [sorted(rng.choice(clips, size=int(n), replace=False).tolist()) for n in sizes]
    rel = np.zeros((queries, clips))
    for q, items in enumerate(relevant):
        rel[q, items] = 1.0
    sims = rng.standard_normal(rel.shape) + 2.0 * rel
    _no_ties(sims)
    official = dcase2025_multiple(sims, relevant, k)
    ours = _rows(sims, rel, [f"mAP@{k}"])["t2v"][f"mAP@{k}"]
    np.testing.assert_allclose(official, ours, rtol=0, atol=1e-12)
    over = sizes > k
    assert over.any()
    by_min = ours * sizes / np.minimum(sizes, k)
    assert np.all(by_min[over] > official[over]) and np.allclose(by_min[~over], official[~over])


def test_dcase_baselines_break_ties_by_sort_order_where_we_take_the_expectation():
    """Tied scores: both DCASE baselines take the order their sort gives; ours is the expectation."""
    scores = np.array([[0.3, 0.7, 0.7, 0.7, 0.2, 0.7, 0.1, 0.0, 0.7, 0.4, 0.6, 0.5]])
    rel = np.zeros_like(scores)
    rel[0, [3, 8, 11]] = 1.0
    per_order = [value_of_ranking(o, rel[0], "mAP@10") for o in orders(scores[0])]
    ours = float(_rows(scores, rel, ["mAP@10"])["t2v"]["mAP@10"][0])
    assert ours == pytest.approx(np.mean(per_order))
    for official in (
        dcase2023_measure(scores, rel)["mAP@10"][0],
        dcase2025_multiple(scores, [[3, 8, 11]], 10)[0],
    ):
        assert any(official == pytest.approx(v) for v in per_order)
        assert abs(official - ours) > 1e-3
