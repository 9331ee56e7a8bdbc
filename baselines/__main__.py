"""Command line: ``python -m baselines {synth,convert,train,submit,released,truth,annotations} ...``
(``--help`` on each)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from evaluation.datasets import PENTATHLON_DATASETS, canonical_dataset_name

from .config import MODELS, parse_overrides


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"{flag} expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _overrides(values: list[str] | None) -> dict[str, Any]:
    """`--set train.epochs=5 --set arch.ce_shared_dim=64` -> nested dict (values parsed as JSON when possible)."""
    try:
        return parse_overrides(values)
    except ValueError as exc:
        raise SystemExit(f"--set: {exc}") from None


def _pair_lists(values: list[str] | None, flag: str) -> dict[str, list[str]]:
    """Repeated KEY=VALUE flags -> key -> every value given for it, in order."""
    out: dict[str, list[str]] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"{flag} expects KEY=VALUE, got {item!r}")
        out.setdefault(key, []).append(value)
    return out


def _datasets(values: list[str] | None) -> list[str]:
    return [canonical_dataset_name(d) for d in (values or PENTATHLON_DATASETS)]


def _add_training_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store-dir", required=True, type=Path, help="directory of <Dataset>.h5 stores")
    parser.add_argument("--model", required=True, choices=MODELS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--profile", default=None, help="config profile, e.g. 'cpu' for a reduced model")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="config override, e.g. train.epochs=5"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baselines", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write synthetic stores for the five datasets")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--scale", default="demo", choices=("tiny", "demo", "full"))
    p.add_argument("--datasets", nargs="*")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("convert", help="convert a CE feature release (pickles) into a store")
    p.add_argument("--dataset", required=True)
    p.add_argument("--release-dir", required=True, type=Path, help="e.g. data/MSRVTT/challenge-release-1")
    p.add_argument("--test-release-dir", type=Path, help="e.g. data/MSRVTT/challenge-release-2")
    p.add_argument("--out", required=True, type=Path, help="store directory")
    p.add_argument(
        "--trust-pickles",
        action="store_true",
        help="allow reading the release's pickle files (they can run code: only for trusted files)",
    )
    p.add_argument("--split", action="append", metavar="NAME=LIST", help="store split from a list file")
    p.add_argument("--experts", nargs="*", help="experts to convert (default: the dataset config's)")
    p.add_argument("--expert", action="append", metavar="KEY=PATH", help="feature file of an expert")
    p.add_argument(
        "--text",
        action="append",
        metavar="ENCODER=PATH",
        help="text feature pickle of an encoder, repeatable (also several per encoder, e.g. MSVD's"
        " openai-caption-train.pkl and openai-caption-test.pkl); default: every encoder of aggregated_text_feats/",
    )
    p.add_argument(
        "--video-id-map",
        type=Path,
        help="pickle mapping between text keys and video ids, either way round (MSVD's dict_youtube_mapping.pkl)",
    )
    p.add_argument("--max-tokens", type=int, default=128)

    p = sub.add_parser("train", help="train on one dataset and print validation and split metrics")
    _add_training_args(p)
    p.add_argument("--dataset", required=True)
    p.add_argument("--eval-split", default="val")
    p.add_argument("--checkpoint", type=Path, help="save the selected weights here")

    p = sub.add_parser("submit", help="train and write an .npz similarity submission")
    _add_training_args(p)
    p.add_argument("--datasets", nargs="*")
    p.add_argument("--split", required=True, help="the phase's split, e.g. val or test")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--checkpoint-dir", type=Path)

    p = sub.add_parser("released", help="score a released CE checkpoint (trained_model.pth) on a store split")
    p.add_argument("--store-dir", required=True, type=Path, help="directory of <Dataset>.h5 stores")
    p.add_argument("--dataset", required=True)
    p.add_argument("--checkpoint", required=True, type=Path, help="the release's trained_model.pth")
    p.add_argument("--config", required=True, type=Path, help="the release's config.json beside it")
    p.add_argument("--split", default="test")
    p.add_argument("--device", default="cpu")

    p = sub.add_parser("truth", help="write a phase's ground-truth HDF5 from the stores")
    p.add_argument("--store-dir", required=True, type=Path)
    p.add_argument("--split", required=True)
    p.add_argument("--datasets", nargs="*")
    p.add_argument("--challenge", default="pentathlon")
    p.add_argument("--phase", default=None, help="phase name stored in the file (default: the split)")
    p.add_argument("--out", required=True, type=Path)

    p = sub.add_parser(
        "annotations",
        help="write the stores' captions as a public caption -> video table (TSV) for the caption audit",
    )
    p.add_argument("--store-dir", required=True, type=Path)
    p.add_argument("--datasets", nargs="*")
    p.add_argument("--out", required=True, type=Path)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)

    if args.command == "synth":
        from .synthetic import generate

        for path in generate(args.out, scale=args.scale, datasets=_datasets(args.datasets), seed=args.seed):
            print(path)
    elif args.command == "convert":
        from .convert import PickleRefusedError, convert_release

        try:
            path = convert_release(
                dataset=args.dataset,
                release_dir=args.release_dir,
                out_dir=args.out,
                trust_pickles=args.trust_pickles,
                test_release_dir=args.test_release_dir,
                splits=_pairs(args.split, "--split") or None,
                experts=args.experts,
                expert_paths=_pairs(args.expert, "--expert"),
                text_files=_pair_lists(args.text, "--text") or None,
                video_id_map=args.video_id_map,
                max_tokens=args.max_tokens,
            )
        except PickleRefusedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(path)
    elif args.command == "train":
        from .pipeline import train_baseline
        from .predict import evaluate_split
        from .store import ExpertStore, store_path
        from .train import save_checkpoint

        result = train_baseline(
            store_dir=args.store_dir,
            model=args.model,
            dataset=args.dataset,
            config_overrides=_overrides(args.set),
            profile=args.profile,
            seed=args.seed,
            device=args.device,
        )
        if args.checkpoint:
            save_checkpoint(args.checkpoint, result)
        with ExpertStore(store_path(args.store_dir, args.dataset)) as store:
            metrics = evaluate_split(result.model, store, result.config, args.eval_split, device=args.device)
        print(
            json.dumps(
                {
                    "dataset": result.config["dataset"],
                    "model": args.model,
                    "seed": args.seed,
                    "best_epoch": result.best_epoch,
                    "selection_geom": result.best_score,
                    "split": args.eval_split,
                    **metrics,
                },
                indent=2,
            )
        )
    elif args.command == "submit":
        from .pipeline import train_and_write_submission

        path = train_and_write_submission(
            store_dir=args.store_dir,
            model=args.model,
            datasets=_datasets(args.datasets),
            split=args.split,
            out_path=args.out,
            config_overrides=_overrides(args.set),
            seed=args.seed,
            device=args.device,
            profile=args.profile,
            checkpoint_dir=args.checkpoint_dir,
        )
        print(path)
    elif args.command == "released":
        from .released import evaluate_released
        from .store import store_path

        reference_config = json.loads(args.config.read_text(encoding="utf-8"))
        try:
            metrics = evaluate_released(
                store_file=store_path(args.store_dir, args.dataset),
                checkpoint=args.checkpoint,
                reference_config=reference_config,
                split=args.split,
                device=args.device,
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(
            json.dumps(
                {"dataset": canonical_dataset_name(args.dataset), "split": args.split, **metrics}, indent=2
            )
        )
    elif args.command == "truth":
        from evaluation.ground_truth import GroundTruth, write_ground_truth

        from .store import split_truth, store_path

        truths = {d: split_truth(store_path(args.store_dir, d), args.split) for d in _datasets(args.datasets)}
        write_ground_truth(
            args.out, GroundTruth(challenge=args.challenge, phase=args.phase or args.split, datasets=truths)
        )
        print(args.out)
    elif args.command == "annotations":
        from itertools import chain

        from .store import store_annotations, store_path, write_annotations

        rows = chain.from_iterable(
            store_annotations(store_path(args.store_dir, d)) for d in _datasets(args.datasets)
        )
        count = write_annotations(args.out, rows)
        print(f"{args.out}: {count} captions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
