"""Compare the baselines on a synthetic store: ``python -m baselines.experiments``.

Rows: a single-expert model (MoEE on the SENet-154 expert alone), MoEE, CE, CE trained on the
``w2v`` text encoder (a teacher) and TeachText (a CE student distilled from the CE-w2v and CE-openai
teachers on the default ``mixture`` target, docs/baselines.md), and the cross-modal distillation
baseline of Tran et al. (ACCV 2022): ``crosskd`` (CE+ with caption distillation) and ``teachtext_crosskd``
(TeachText-CE+ with caption distillation, the same teachers). Each model is trained once per seed, selected on the ``dev``
split, then evaluated once on ``--split``; the table shows t2v mean (sample std) over the seeds.
``--rows`` picks rows; ``ce_cg`` (CE without collaborative gating, the "CE - CG" ablation) and
``ce_parallel`` (CE with the pre-reference gating order and pooled BatchNorm, ``arch.cg_order=parallel``)
``teachtext_sum`` (TeachText with ``distil.target=expert_sum``: the unweighted sum of per-expert dot
products), ``teachtext_available`` (``distil.target=expert_sum_available``: that sum over each video's
available experts only), ``teachtext_weighted`` (``distil.target=weighted``: each teacher's ranking
similarity, mixture weights renormalised over the pair's available experts) and ``teachtext_mean``
(``distil.target=expert_mean``: the unweighted sum divided by the number of experts) and
``teachtext_ce_optim`` (``distil.optim=null``: the student trained with CE's optimiser instead of the reference's RAdam, lr 0.001), ``ce_radam`` (CE
trained with that RAdam, no distillation) and ``crosskd_ce_optim`` (``crosskd`` with CE's optimiser) are not run by default;
the TeachText rows of a seed share its teachers.

On a synthetic store, a second table splits the Geom by the hidden recording condition of each
query's video (``clean``, and ``dark`` or ``fast``, where some experts misread their content), which
shows whether collaborative gating recovers what the misled experts lose (MoEE cannot).

The CE-openai teacher of a seed *is* that seed's CE row: the student starts from the same seed, so the
TeachText-vs-CE difference is the effect of distillation, paired per seed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import load_config, merge, teacher_config
from .predict import metrics_from_similarities, split_similarities
from .store import ExpertStore, store_path
from .synthetic import CONDITIONS, generate_dataset
from .train import TeacherTargets, TrainResult, teacher_targets, train_or_reuse

SINGLE_EXPERT = "imagenet.senet154.0"
ROWS = ("single", "moee", "ce", "ce_w2v", "teachtext", "crosskd", "teachtext_crosskd")
OPTIONAL_ROWS = (
    "ce_cg",
    "ce_parallel",
    "teachtext_sum",
    "teachtext_available",
    "teachtext_weighted",
    "teachtext_mean",
    "teachtext_ce_optim",
    "ce_radam",
    "crosskd_ce_optim",
)
# The optimiser of the reference's TeachText and cross-modal distillation students.
STUDENT_OPTIM = {"type": "radam", "lr": 0.001, "weight_decay": 1e-05}
# Rows distilled from the seed's teachers: row -> (model, what it changes in the student's `distil`).
TEACHTEXT_ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "teachtext": ("teachtext", {}),
    "teachtext_crosskd": ("teachtext_crosskd", {}),
    "teachtext_sum": ("teachtext", {"target": "expert_sum"}),
    "teachtext_available": ("teachtext", {"target": "expert_sum_available"}),
    "teachtext_weighted": ("teachtext", {"target": "weighted"}),
    "teachtext_mean": ("teachtext", {"target": "expert_mean"}),
    "teachtext_ce_optim": ("teachtext", {"optim": None}),
}
LABELS = {
    "single": f"Single expert (MoEE, {SINGLE_EXPERT} only)",
    "moee": "MoEE (all experts)",
    "ce": "CE (all experts)",
    "ce_cg": "CE - CG (self gating only)",
    "ce_parallel": "CE, parallel gating order (not the reference)",
    "ce_w2v": "CE, w2v text (teacher)",
    "teachtext": "TeachText-CE (teachers CE-w2v, CE-openai; mixture target)",
    "teachtext_sum": "TeachText-CE, expert_sum target (unweighted)",
    "teachtext_available": "TeachText-CE, expert_sum_available target",
    "teachtext_weighted": "TeachText-CE, weighted target (renormalised)",
    "teachtext_mean": "TeachText-CE, expert_mean target",
    "teachtext_ce_optim": "TeachText-CE, trained with CE's optimiser (not the reference)",
    "crosskd": "CE+, caption distillation (cross-modal KD)",
    "crosskd_ce_optim": "CE+, caption distillation, CE's optimiser",
    "ce_radam": "CE, the students' RAdam lr 0.001 (no distillation)",
    "teachtext_crosskd": "TeachText-CE+, caption distillation",
}
COLUMNS = (
    ("R@1", "R1"),
    ("R@5", "R5"),
    ("R@10", "R10"),
    ("MdR", "MedR"),
    ("MnR", "MeanR"),
    ("Geom", "geometric_mean_R1-R5-R10"),
)


def run_experiments(
    *,
    store_file: str | Path,
    seeds: list[int],
    split: str = "test",
    profile: str | None = "cpu",
    overrides: dict[str, Any] | None = None,
    device: str = "cpu",
    rows: tuple[str, ...] = ROWS,
    checkpoint_dir: str | Path | None = None,
) -> dict[str, list[dict[str, float]]]:
    """Train and evaluate every row for every seed.

    With `checkpoint_dir`, every trained model is kept there and a later run of the same config, seed
    and store reuses it (`baselines.train.train_or_reuse`): a TeachText row run in another process
    finds the teachers that the `ce` and `ce_w2v` rows trained.

    Returns:
        row -> one t2v metrics dict per seed, in seed order. On a store with a hidden recording
        condition, each dict also holds ``by_condition``: condition -> the t2v metrics of the queries
        whose video was recorded under it (ranked against the whole gallery).
    """
    with ExpertStore(store_file) as store:
        dataset = store.dataset
    results: dict[str, list[dict[str, float]]] = {row: [] for row in rows}

    def config(model: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return load_config(dataset, model, profile=profile, overrides=merge(overrides or {}, extra or {}))

    def evaluate(result: TrainResult) -> dict[str, Any]:
        with ExpertStore(store_file) as store:
            sims, query_video = split_similarities(result.model, store, result.config, split, device=device)
            condition = store.hidden("condition", store.split_videos(split))
        metrics: dict[str, Any] = metrics_from_similarities(sims, query_video, ("t2v",))["t2v"]
        if condition is not None:
            query_condition = condition[query_video]
            metrics["by_condition"] = {
                name: metrics_from_similarities(
                    sims[query_condition == code], query_video[query_condition == code], ("t2v",)
                )["t2v"]
                for code, name in enumerate(CONDITIONS)
                if (query_condition == code).any()
            }
        return metrics

    for seed in seeds:
        trained: dict[str, TrainResult] = {}
        plans = {
            "single": config("moee", {"data": {"experts": [SINGLE_EXPERT]}}),
            "moee": config("moee"),
            "ce": config("ce"),
            "ce_cg": config("ce", {"arch": {"gating": "self"}}),
            "ce_parallel": config("ce", {"arch": {"cg_order": "parallel"}}),
            "ce_w2v": teacher_config(config("teachtext"), "w2v"),
            "crosskd": config("crosskd"),
            "crosskd_ce_optim": config("crosskd", {"caption_distil": {"optim": None}}),
            "ce_radam": config("ce", {"optim": STUDENT_OPTIM}),
        }
        distil_rows = [row for row in TEACHTEXT_ROWS if row in rows]
        for row, cfg in plans.items():
            if row in rows or (row in ("ce", "ce_w2v") and distil_rows):
                started = time.perf_counter()
                trained[row] = train_or_reuse(
                    store_path=store_file, config=cfg, seed=seed, device=device, checkpoint_dir=checkpoint_dir
                )
                if row in rows:
                    results[row].append(evaluate(trained[row]))
                logging.getLogger("baselines").info(
                    "seed %d %s: %.0f s", seed, row, time.perf_counter() - started
                )
        teachers: list[TeacherTargets] = []
        for row in distil_rows:
            model, distil = TEACHTEXT_ROWS[row]
            student = config(model, {"distil": distil})
            if not teachers:
                with ExpertStore(store_file) as store:
                    for encoder in student["distil"]["teachers"]:
                        source = {"openai": trained["ce"], "w2v": trained["ce_w2v"]}[encoder]
                        assert source.config["data"]["text_encoder"] == encoder
                        teachers.append(teacher_targets(source, store, device=device))
            started = time.perf_counter()
            result = train_or_reuse(
                store_path=store_file,
                config=student,
                seed=seed,
                device=device,
                teachers=teachers,
                checkpoint_dir=checkpoint_dir,
            )
            results[row].append(evaluate(result))
            logging.getLogger("baselines").info(
                "seed %d %s: %.0f s", seed, row, time.perf_counter() - started
            )
    return results


def _mean_std(values: list[float]) -> str:
    """ "mean (sample std)" of one table cell; the std is 0 for a single run."""
    array = np.array(values, dtype=np.float64)
    std = array.std(ddof=1) if len(array) > 1 else 0.0
    return f"{array.mean():7.1f} ({std:4.1f})"


def format_table(results: dict[str, list[dict[str, float]]], *, title: str) -> str:
    """A fixed-width table of mean (std) per metric; std is the sample std (ddof=1) over seeds."""
    header = f"{'model':<46}" + "".join(f"{name:>15}" for name, _ in COLUMNS)
    lines = [title, header, "-" * len(header)]
    for row, runs in results.items():
        if not runs:
            continue
        cells = []
        for _, key in COLUMNS:
            cells.append(_mean_std([r[key] for r in runs]))
        lines.append(f"{LABELS.get(row, row):<46}" + "".join(f"{c:>15}" for c in cells))
    return "\n".join(lines)


def format_condition_table(results: dict[str, list[dict[str, Any]]], *, title: str) -> str:
    """Geom mean (std) per recording condition, for the rows evaluated on a synthetic store."""
    key = "geometric_mean_R1-R5-R10"
    conditions = [
        c
        for c in CONDITIONS
        if any(c in r.get("by_condition", {}) for runs in results.values() for r in runs)
    ]
    header = f"{'model':<46}" + "".join(f"{name:>15}" for name in conditions)
    lines = [title, header, "-" * len(header)]
    for row, runs in results.items():
        if not runs or any("by_condition" not in r for r in runs):
            continue
        cells = []
        for name in conditions:
            cells.append(_mean_std([r["by_condition"][name][key] for r in runs]))
        lines.append(f"{LABELS.get(row, row):<46}" + "".join(f"{c:>15}" for c in cells))
    return "\n".join(lines)


def print_tables(results: dict[str, list[dict[str, Any]]], *, title: str, seeds: list[int]) -> None:
    print(format_table(results, title=f"{title}, mean (std) over seeds {seeds}"))
    if any("by_condition" in r for runs in results.values() for r in runs):
        print()
        print(format_condition_table(results, title="Geom by the recording condition of the query's video"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m baselines.experiments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--store-dir",
        type=Path,
        default=Path("var/baselines/stores-full"),
        help="store directory; a missing store is generated at --scale",
    )
    parser.add_argument("--dataset", default="MSRVTT")
    # The real training-set size: on the demo scale's reduced train split (2,000 MSRVTT videos) CE's
    # collaborative gating has too little data to learn, and CE and MoEE tie.
    parser.add_argument("--scale", default="full", choices=("tiny", "demo", "full"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--rows",
        nargs="+",
        default=list(ROWS),
        choices=ROWS + OPTIONAL_ROWS,
        help="models to compare (default: %(default)s)",
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--profile", default="cpu", help="config profile ('none' for the paper's sizes)")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the per-seed metrics here")
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="keep every trained model here and reuse it in a later run with the same config and seed",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="print the table of earlier --json outputs (e.g. one process per seed) and exit",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.merge:
        runs = [json.loads(path.read_text()) for path in args.merge]
        merged: dict[str, list[dict[str, float]]] = {}
        for run in runs:
            for row, metrics in run["results"].items():
                merged.setdefault(row, []).extend(metrics)
        seeds = sorted({seed for run in runs for seed in run["seeds"]})
        print_tables(merged, title=runs[0]["title"], seeds=seeds)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    path = store_path(args.store_dir, args.dataset)
    if not path.exists():
        generate_dataset(args.store_dir, args.dataset, scale=args.scale)
    overrides = {"train": {"epochs": args.epochs}} if args.epochs else None
    profile = None if args.profile == "none" else args.profile
    started = time.perf_counter()
    results = run_experiments(
        store_file=path,
        seeds=args.seeds,
        split=args.split,
        profile=profile,
        overrides=overrides,
        device=args.device,
        rows=tuple(args.rows),
        checkpoint_dir=args.checkpoint_dir,
    )
    with ExpertStore(path) as store:
        videos = len(store.split_videos(args.split))
        queries = len(store.split_captions(args.split)[0])
        source = store.source
    title = (
        f"{args.dataset} synthetic store ({source}), split '{args.split}' ({videos} videos, {queries} queries), "
        f"t2v, profile {args.profile}"
    )
    print_tables(results, title=title, seeds=args.seeds)
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"title": title, "seeds": args.seeds, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
