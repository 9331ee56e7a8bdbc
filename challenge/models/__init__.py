"""Challenges, their datasets and phases, teams, and submissions (one module per concern, re-exported
here: migrations and every caller import them from `challenge.models`).

Writes go through `challenge.services`; reads with joins through `challenge.selectors`.
"""

from .audit import OrganiserAction
from .challenges import LOWER_IS_BETTER_METRICS, Challenge, Dataset, PrimaryMetric, validate_pages
from .phases import Phase, Split, SubmissionFormat
from .storage import (
    ground_truth_upload_to,
    new_blinding_secret,
    new_invite_code,
    private_storage,
    submission_upload_to,
)
from .submissions import ChunkedUpload, Submission
from .teams import Team, TeamMembership
from .terms import TermsAcceptance
from .vocabulary import Modality, Words

__all__ = [
    "LOWER_IS_BETTER_METRICS",
    "Challenge",
    "ChunkedUpload",
    "Dataset",
    "Modality",
    "OrganiserAction",
    "Phase",
    "PrimaryMetric",
    "Split",
    "Submission",
    "SubmissionFormat",
    "Team",
    "TeamMembership",
    "TermsAcceptance",
    "ground_truth_upload_to",
    "new_blinding_secret",
    "new_invite_code",
    "private_storage",
    "submission_upload_to",
    "validate_pages",
    "Words",
]
