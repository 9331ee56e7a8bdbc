"""Generate references.json: relevance metrics computed by trec_eval and scikit-learn on small cases.

Run from the repository root (the references are dev dependencies, never needed by the tests):

    python -m tests.evaluation.relevance.make_references

trec_eval (pytrec-eval-terrier) scores binary and integer grades without ties (it breaks ties by
document id, not by expectation); scikit-learn's `ndcg_score` scores real grades, with and without
ties (it averages the gain over tied positions, the expectation the scorer computes). Each case is
scored in both directions: t2v ranks the items for each query, v2t ranks the queries for each item
that some query finds relevant, with the transposed grades. The scorer's grades are the integer
grades divided by their largest value (nDCG does not change under scaling; the other metrics are
binary).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "references.json"
#: trec_eval measure -> the registry key it defines.
TREC_MEASURES = {
    "map": "mAP",
    "map_cut_10": "mAP@10",
    "map_cut_5": "mAP@5",
    "Rprec": "RPrec",
    "recall_10": "Recall@10",
    "recall_5": "Recall@5",
    "ndcg": "nDCG",
    "ndcg_cut_10": "nDCG@10",
    "ndcg_cut_5": "nDCG@5",
}
SKLEARN_KEYS = {"nDCG": None, "nDCG@10": 10, "nDCG@5": 5}


def _case(rng: np.random.Generator, *, queries: int, items: int, most: int, levels: int, distractors: int):
    """Scores without ties and integer grades 1..levels; the last `distractors` items are relevant to none."""
    sims = rng.permutation(queries * items).reshape(queries, items) / (queries * items) + rng.normal(
        0, 1e-3, (queries, items)
    )
    grades = np.zeros((queries, items), dtype=np.int64)
    pool = items - distractors
    for q in range(queries):
        chosen = rng.choice(pool, size=int(rng.integers(1, most + 1)), replace=False)
        grades[q, chosen] = rng.integers(1, levels + 1, size=chosen.size)
    return sims, grades


def _directions(sims: np.ndarray, grades: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, list[int]]]:
    items = [int(i) for i in np.flatnonzero((grades > 0).any(axis=0))]
    return {
        "t2v": (sims, grades, list(range(sims.shape[0]))),
        "v2t": (sims[:, items].T, grades[:, items].T, items),
    }


def _trec(sims: np.ndarray, grades: np.ndarray) -> dict[str, list[float]]:
    import pytrec_eval

    qrels = {
        f"q{q}": {f"d{v}": int(grades[q, v]) for v in np.flatnonzero(grades[q] > 0)} for q in range(len(sims))
    }
    run = {f"q{q}": {f"d{v}": float(sims[q, v]) for v in range(sims.shape[1])} for q in range(len(sims))}
    evaluator = pytrec_eval.RelevanceEvaluator(
        qrels, {"map", "map_cut", "Rprec", "recall", "ndcg", "ndcg_cut"}
    )
    scored = evaluator.evaluate(run)
    return {
        key: [scored[f"q{q}"][measure] for q in range(len(sims))] for measure, key in TREC_MEASURES.items()
    }


def _sklearn(sims: np.ndarray, grades: np.ndarray) -> dict[str, list[float]]:
    from sklearn.metrics import ndcg_score

    return {
        key: [float(ndcg_score(grades[q : q + 1], sims[q : q + 1], k=k)) for q in range(len(sims))]
        for key, k in SKLEARN_KEYS.items()
    }


def _entry(name: str, sims: np.ndarray, grades: np.ndarray, *, tool: str) -> dict:
    scale = float(grades.max())
    query, item = np.nonzero(grades)
    entry = {
        "name": name,
        "tool": tool,
        "sims": sims.tolist(),
        "rel_query": query.tolist(),
        "rel_item": item.tolist(),
        "rel_grade": (grades[query, item] / scale).tolist(),
        "expected": {},
    }
    for direction, (scores, rel, rows) in _directions(sims, grades).items():
        values = _trec(scores, rel) if tool == "trec_eval" else _sklearn(scores, rel)
        entry["expected"][direction] = {"rows": rows, "values": values}
    return entry


def build() -> list[dict]:
    rng = np.random.default_rng(2026)
    cases = []
    sims, grades = _case(rng, queries=12, items=40, most=6, levels=1, distractors=5)
    cases.append(_entry("binary_sets_with_distractors", sims, grades, tool="trec_eval"))
    sims, grades = _case(rng, queries=10, items=30, most=8, levels=3, distractors=0)
    cases.append(_entry("integer_grades", sims, grades, tool="trec_eval"))
    sims, grades = _case(rng, queries=15, items=15, most=1, levels=1, distractors=0)
    cases.append(_entry("one_relevant_per_query", sims, grades, tool="trec_eval"))
    sims, grades = _case(rng, queries=9, items=60, most=25, levels=2, distractors=10)
    cases.append(_entry("many_relevant", sims, grades, tool="trec_eval"))
    sims, _ = _case(rng, queries=8, items=25, most=1, levels=1, distractors=0)
    real = np.where(rng.random((8, 25)) < 0.4, rng.uniform(0.05, 1.0, (8, 25)), 0.0)
    real[np.arange(8), rng.integers(0, 25, 8)] = 1.0
    cases.append(_entry("real_grades", sims, real, tool="scikit-learn"))
    tied = np.round(sims * 4) / 4  # a handful of levels: many ties, averaged by ndcg_score
    cases.append(_entry("real_grades_tied_scores", tied, real, tool="scikit-learn"))
    return cases


def main() -> None:
    import pytrec_eval
    import sklearn

    payload = {
        "generated_by": "tests/evaluation/relevance/make_references.py",
        "tools": {
            "pytrec_eval": getattr(pytrec_eval, "__version__", "pytrec-eval-terrier"),
            "sklearn": sklearn.__version__,
        },
        "cases": build(),
    }
    OUT.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {OUT} ({len(payload['cases'])} cases)")


if __name__ == "__main__":
    main()
