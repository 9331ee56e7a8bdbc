"""The organisers' console. Ground-truth uploads and re-scoring go through the services.

    scope       the per-challenge scope: `ChallengeScopedAdmin`, `ChallengeScopedInline` and helpers
    challenges  challenges and datasets
    phases      phases (form, ground truth, actions) and splits
    teams       teams and memberships
    submissions submissions

Importing this package (Django's admin autodiscovery) imports every module, so each `@admin.register` runs.
"""

from challenge.admin.challenges import ChallengeAdmin, DatasetAdmin, DatasetInline
from challenge.admin.phases import PhaseAdmin, PhaseAdminForm, SplitAdmin, SplitInline
from challenge.admin.scope import (
    CHALLENGE_PATHS,
    ChallengeScopedAdmin,
    ChallengeScopedInline,
    challenge_id_of,
    organiser_scope,
)
from challenge.admin.submissions import SubmissionAdmin
from challenge.admin.teams import MembershipInline, TeamAdmin

__all__ = [
    "CHALLENGE_PATHS",
    "ChallengeAdmin",
    "ChallengeScopedAdmin",
    "ChallengeScopedInline",
    "DatasetAdmin",
    "DatasetInline",
    "MembershipInline",
    "PhaseAdmin",
    "PhaseAdminForm",
    "SplitAdmin",
    "SplitInline",
    "SubmissionAdmin",
    "TeamAdmin",
    "challenge_id_of",
    "organiser_scope",
]
