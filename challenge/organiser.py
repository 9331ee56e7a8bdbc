"""The organisers' tools, gathered for `challenge.organiser_views`: the writes live in
`challenge.services.organiser`, the metadata export in `challenge.selectors`, profiles in `accounts`.
This module keeps the old import path working and holds no code."""

from accounts.services import user_profile_get, user_profile_update
from challenge.selectors import METADATA_COLUMNS, submission_metadata_list, submission_metadata_rows
from challenge.services.organiser import (
    MODERATION_NEEDS_REASON,
    MODERATION_UNKNOWN,
    REFUND_NEEDS_REASON,
    VISIBILITY_UNKNOWN,
    phase_public_choice_lock,
    phase_visibility_set,
    submission_moderate,
    submission_quota_refund,
    team_approve,
)

__all__ = [
    "METADATA_COLUMNS",
    "MODERATION_NEEDS_REASON",
    "MODERATION_UNKNOWN",
    "REFUND_NEEDS_REASON",
    "VISIBILITY_UNKNOWN",
    "phase_public_choice_lock",
    "phase_visibility_set",
    "submission_metadata_list",
    "submission_metadata_rows",
    "submission_moderate",
    "submission_quota_refund",
    "team_approve",
    "user_profile_get",
    "user_profile_update",
]
