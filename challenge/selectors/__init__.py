"""Reads of the challenge app, with the joins each caller needs: one module per concern, every name
re-exported here so callers import from `challenge.selectors`."""

from __future__ import annotations

from challenge.selectors.challenges import (
    CHALLENGE_NOT_FOUND,
    challenge_get,
    challenge_is_organiser,
    challenge_list,
    challenge_organised_list,
    challenge_team_count,
)
from challenge.selectors.phases import (
    KIT_NOT_YET,
    NO_OPEN_PHASE,
    OPEN_PHASES,
    PHASE_ID_UNKNOWN,
    PHASE_NOT_FOUND,
    PHASE_SLUG_UNKNOWN,
    phase_dataset_names,
    phase_get,
    phase_get_by_slugs,
    phase_kit_get,
    phase_kit_published,
    phase_list,
    phase_not_found,
)
from challenge.selectors.status import (
    PHASE_STATE_LABELS,
    PhaseStatus,
    phase_dashboard_counts,
    phase_status,
    utc_day_bounds,
)
from challenge.selectors.submissions import (
    METADATA_COLUMNS,
    SUBMISSION_NOT_FOUND,
    submission_get,
    submission_list,
    submission_metadata_list,
    submission_metadata_rows,
    submission_quota_counted,
    submission_result,
    submission_results_visible,
    submission_same_file,
)
from challenge.selectors.teams import team_for_user, team_members, team_storage_annotate
from challenge.selectors.terms import terms_acceptance_of, terms_accepted

__all__ = [
    "terms_acceptance_of",
    "terms_accepted",
    "CHALLENGE_NOT_FOUND",
    "KIT_NOT_YET",
    "METADATA_COLUMNS",
    "NO_OPEN_PHASE",
    "OPEN_PHASES",
    "PHASE_ID_UNKNOWN",
    "PHASE_NOT_FOUND",
    "PHASE_SLUG_UNKNOWN",
    "PHASE_STATE_LABELS",
    "PhaseStatus",
    "SUBMISSION_NOT_FOUND",
    "challenge_get",
    "challenge_is_organiser",
    "challenge_list",
    "challenge_organised_list",
    "challenge_team_count",
    "phase_dashboard_counts",
    "phase_dataset_names",
    "phase_get",
    "phase_get_by_slugs",
    "phase_kit_get",
    "phase_kit_published",
    "phase_list",
    "phase_not_found",
    "phase_status",
    "submission_get",
    "submission_list",
    "submission_metadata_list",
    "submission_metadata_rows",
    "submission_quota_counted",
    "submission_result",
    "submission_results_visible",
    "submission_same_file",
    "team_for_user",
    "team_members",
    "team_storage_annotate",
    "utc_day_bounds",
]
