"""Offline work with the evaluation core: validating a submission against a kit, packing one.

Validation runs the server's own checks (`evaluation.io.inspect_submission`,
`evaluation.validation.check_manifest`, then `evaluation.scoring.score_dataset` on every value)
against the kit's public shapes, so a rejection reads exactly as the server's would. The ground
truth stays on the server: the value checks score against a stand-in mapping and the scores are
thrown away. One case cannot be checked offline: the values of a padded (V*K rows) matrix, since
which of its rows are real captions is not published; the server checks those.
"""

from __future__ import annotations

from .kit import Kit, known_datasets, load_kit
from .pack import PackInput, find_inputs, pack_npz, pack_topk
from .validate import (
    PADDED_NOT_CHECKED,
    SUBMISSION_SUFFIXES,
    Progress,
    check_submission_name,
    validate_submission,
)

__all__ = [
    "PADDED_NOT_CHECKED",
    "SUBMISSION_SUFFIXES",
    "Kit",
    "PackInput",
    "Progress",
    "check_submission_name",
    "find_inputs",
    "known_datasets",
    "load_kit",
    "pack_npz",
    "pack_topk",
    "validate_submission",
]
