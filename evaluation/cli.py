"""`python -m evaluation`: score or validate a submission offline, exactly as the server does.

Exit codes: 0 success, 2 rejected submission (message on stderr), 3 invalid ground truth or
shapes file, 1 unexpected internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import SCORER_VERSION
from .errors import EvaluationError, GroundTruthError, SubmissionError
from .ground_truth import read_ground_truth
from .io import GiB, ReadLimits, inspect_submission
from .metrics import METRIC_KEYS, format_number, metric
from .scoring import score_submission
from .synthetic import split_sizes
from .validation import DatasetShape, check_manifest, shapes_from_json, shapes_from_truth

EXIT_OK, EXIT_INTERNAL, EXIT_REJECTED, EXIT_BAD_REFERENCE = 0, 1, 2, 3


def _limits(args: argparse.Namespace) -> ReadLimits:
    return ReadLimits(
        max_array_bytes=int(args.max_array_gib * GiB), max_total_bytes=int(args.max_total_gib * GiB)
    )


def _fmt(value: Any) -> str:
    return format_number(value, 2, missing="-")


def _report_keys(report: dict[str, Any]) -> list[str]:
    """The rank metrics, then every other metric some dataset reports, in the order first met."""
    keys = list(METRIC_KEYS)
    for result in report["datasets"].values():
        for direction in ("t2v", "v2t"):
            keys.extend(k for k in (result[direction] or {}) if k not in keys)
    return keys


def format_report(report: dict[str, Any]) -> str:
    """A readable table: one line per dataset and direction."""
    keys = _report_keys(report)
    width = max([12, *(len(name) for name in report["datasets"])])
    header = f"{'dataset':<{width}} {'dir':<4} {'format':<11}" + "".join(
        f"{metric(k).label:>{max(8, len(metric(k).label) + 1)}}" for k in keys
    )
    lines = [
        f"{report['challenge']} / {report['phase']}  (scorer {report['scorer_version']})",
        header,
        "-" * len(header),
    ]
    for name, result in report["datasets"].items():
        for direction in ("t2v", "v2t"):
            metrics = result[direction]
            cells = "".join(
                f"{_fmt(None if metrics is None else metrics.get(k)):>{max(8, len(metric(k).label) + 1)}}"
                for k in keys
            )
            lines.append(f"{name:<{width}} {direction:<4} {result['format']:<11}{cells}")
    overall = report["overall_score"]
    if report["missing_datasets"]:
        lines.append(f"missing datasets: {', '.join(report['missing_datasets'])} (no overall score)")
    lines.append(f"overall score ({report['aggregation']} of per-dataset t2v Geom): {_fmt(overall)}")
    return "\n".join(lines)


def _score(args: argparse.Namespace) -> int:
    truth = read_ground_truth(args.ground_truth)
    report = score_submission(
        ground_truth=truth,
        submission_path=args.submission,
        aggregation=args.aggregation,
        device=args.device,
        limits=_limits(args),
        metrics=args.metrics.split(",") if args.metrics else None,
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return EXIT_OK


def _pentathlon_shapes(phase: str) -> dict[str, DatasetShape]:
    return {
        name: DatasetShape(
            num_queries=s.queries,
            num_videos=s.videos,
            captions_per_video=s.captions_per_video if s.captions_per_video > 1 else None,
        )
        for name, s in split_sizes(phase, "full").items()
    }


def _validate(args: argparse.Namespace) -> int:
    if args.ground_truth:
        shapes = shapes_from_truth(read_ground_truth(args.ground_truth))
    elif args.shapes:
        shapes = shapes_from_json(args.shapes)
    else:
        shapes = _pentathlon_shapes(args.pentathlon_phase)
    manifest = inspect_submission(args.submission, limits=_limits(args), datasets=tuple(shapes))
    check_manifest(manifest, shapes)
    if args.ground_truth:
        # Full check with the ground truth at hand: reading every value catches NaN and bad top-k rows.
        score_submission(
            ground_truth=read_ground_truth(args.ground_truth),
            submission_path=args.submission,
            limits=_limits(args),
        )
    summary = {name: {"format": e.kind, "member": e.members} for name, e in manifest.entries.items()}
    missing = [name for name in shapes if name not in manifest.entries]
    if args.json:
        print(json.dumps({"valid": True, "datasets": summary, "missing_datasets": missing}, indent=2))
    else:
        for name, item in summary.items():
            print(f"ok  {name:<12} {item['format']:<11} {item['member']}")
        if missing:
            print(f"note: no entry for {', '.join(missing)}; the submission gets no overall score")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pentathlon-evaluation {SCORER_VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("score", "validate"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--submission", required=True, type=Path, help=".zip, .npz or .h5 submission")
        cmd.add_argument("--max-array-gib", type=float, default=4.0, help="largest single array (GiB)")
        cmd.add_argument(
            "--max-total-gib", type=float, default=8.0, help="largest submission, uncompressed (GiB)"
        )
        cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    score = sub.choices["score"]
    score.add_argument("--ground-truth", required=True, type=Path, help="the phase's ground-truth .h5")
    score.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    score.add_argument("--aggregation", default="mean", choices=("mean", "sum"))
    score.add_argument(
        "--metrics",
        help="relevance metrics to report beside the rank metrics, comma-separated (mAP,mAP@10,nDCG@5,...);"
        " default: none for one relevant video per query, mAP mAP@10 RPrec Recall@10 nDCG nDCG@10 for sets",
    )
    score.set_defaults(handler=_score)
    validate = sub.choices["validate"]
    source = validate.add_mutually_exclusive_group()
    source.add_argument("--ground-truth", type=Path, help="check against a ground-truth .h5 (organisers)")
    source.add_argument("--shapes", type=Path, help="check against a starter kit's shapes.json")
    source.add_argument(
        "--pentathlon-phase",
        default="val",
        choices=("val", "test"),
        help="check against the 2020 Pentathlon's public shapes (default: val)",
    )
    validate.set_defaults(handler=_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except SubmissionError as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except GroundTruthError as exc:
        print(f"invalid ground truth: {exc}", file=sys.stderr)
        return EXIT_BAD_REFERENCE
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_REFERENCE
