"""Organiser pages and the user's profile page. Thin: services and selectors act.

Every organiser page acts on one challenge and answers only that challenge's organisers (and
superusers), through `challenge_is_organiser`; anyone else signed in gets a 404, as if the object
did not exist, and visitors are sent to the login page. Staff status alone opens nothing here.
The bundle page also serves staff users, who may create new challenges with it.

By concern: `access` (who may see a page, shared helpers), `console` (the console's pages and the
CSV export), `challenges` (create, settings, bundles), `phases` (create, settings, ground truth,
the public-choice lock), `moderation` (teams and submissions), `profile`. `challenge.urls` and
`leaderboard.views` import from here.
"""

from challenge.organiser_views.access import NOT_ORGANISER, organiser_only
from challenge.organiser_views.challenges import (
    CHALLENGE_CREATED,
    CHALLENGE_SAVED,
    bundle_export_view,
    bundle_page,
    challenge_create_view,
    challenge_settings_view,
)
from challenge.organiser_views.console import (
    console_log,
    console_submissions,
    console_teams,
    organiser_dashboard,
    organiser_home,
    submissions_csv,
)
from challenge.organiser_views.moderation import (
    submission_cancel_org_view,
    submission_moderate_view,
    submission_refund_view,
    team_approve_view,
    team_member_remove_org_view,
)
from challenge.organiser_views.phases import (
    GROUND_TRUTH_FILE_MISSING,
    PHASE_CREATED,
    PHASE_SAVED,
    PHASE_UNCHANGED,
    phase_create_view,
    phase_gallery_inputs_view,
    phase_ground_truth_view,
    phase_lock_view,
    phase_settings_view,
)
from challenge.organiser_views.profile import profile_page

__all__ = [
    "CHALLENGE_CREATED",
    "CHALLENGE_SAVED",
    "GROUND_TRUTH_FILE_MISSING",
    "NOT_ORGANISER",
    "PHASE_CREATED",
    "PHASE_SAVED",
    "PHASE_UNCHANGED",
    "bundle_export_view",
    "bundle_page",
    "challenge_create_view",
    "challenge_settings_view",
    "console_log",
    "console_submissions",
    "console_teams",
    "organiser_dashboard",
    "organiser_home",
    "organiser_only",
    "phase_create_view",
    "phase_gallery_inputs_view",
    "phase_ground_truth_view",
    "phase_lock_view",
    "phase_settings_view",
    "profile_page",
    "submission_cancel_org_view",
    "submission_moderate_view",
    "submission_refund_view",
    "submissions_csv",
    "team_approve_view",
    "team_member_remove_org_view",
]
