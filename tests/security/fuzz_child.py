"""The fuzz run's reader process: reads one JSON request per line, answers one JSON line.

Kept alive across cases (imports and the compiled kernel once); the parent kills and restarts it
when a case takes longer than its bound, which counts as a hang. Only `EvaluationError`
subclasses are acceptable failures.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from evaluation.errors import EvaluationError
    from evaluation.ground_truth import read_ground_truth
    from evaluation.io import ReadLimits
    from evaluation.scoring import score_submission
    from evaluation.synthetic import pentathlon_ground_truth

    truth = pentathlon_ground_truth(phase="val", scale="tiny", seed=0)
    limits = ReadLimits(max_array_bytes=64 * 1024**2, max_total_bytes=256 * 1024**2)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["kind"] == "ground_truth":
                read_ground_truth(request["path"])
            else:
                score_submission(
                    ground_truth=truth, submission_path=request["path"], limits=limits, threads=1
                )
            answer = {"outcome": "accepted"}
        except EvaluationError as exc:
            answer = {"outcome": "rejected", "type": type(exc).__name__, "message": str(exc)[:200]}
        except BaseException as exc:  # noqa: BLE001 - this is what the fuzz run looks for
            answer = {"outcome": "crash", "type": type(exc).__name__, "message": repr(exc)[:500]}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
