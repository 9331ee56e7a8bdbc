"""A phase as a participant sees it right now: its state, its deadline and the team's quota."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from challenge.models import Phase, Submission, Team
from challenge.selectors.submissions import submission_quota_counted


@dataclass(frozen=True)
class PhaseStatus:
    """What the phase card, the submit page and the leaderboard say about a phase right now.

    `state` is "open", "upcoming", "closed" or "not_ready" (no ground truth yet: nothing to score
    against). The `*_left` counts are None when the phase sets no such limit or no team is given.
    """

    state: str
    label: str
    deadline: datetime | None
    used_total: int | None = None
    used_today: int | None = None
    total_left: int | None = None
    today_left: int | None = None
    #: when the daily count starts again (the next 00:00 UTC), for a phase with a daily limit
    resets_at: datetime | None = None

    @property
    def accepts_submissions(self) -> bool:
        return self.state == "open"

    @property
    def quota_exhausted(self) -> bool:
        return self.total_left == 0 or self.today_left == 0


PHASE_STATE_LABELS = {"open": "Open", "upcoming": "Upcoming", "closed": "Closed", "not_ready": "Not open yet"}


def utc_day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The UTC day holding `now`: the daily quota resets at 00:00 UTC."""
    midnight = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    return midnight, midnight + timedelta(days=1)


def phase_status(*, phase: Phase, team: Team | None = None, now: datetime | None = None) -> PhaseStatus:
    """The phase's state, its next deadline (opening or closing) and, for `team`, the submissions left."""
    now = now or timezone.now()
    if not phase.ground_truth:
        state, deadline = "not_ready", None
    elif now < phase.starts_at:
        state, deadline = "upcoming", phase.starts_at
    elif phase.ends_at is not None and now >= phase.ends_at:
        state, deadline = "closed", phase.ends_at
    else:
        state, deadline = "open", phase.ends_at
    if team is None:
        return PhaseStatus(state=state, label=PHASE_STATE_LABELS[state], deadline=deadline)
    counted = submission_quota_counted(team=team, phase=phase)
    start, end = utc_day_bounds(now)
    used_total, used_today = (
        counted.count(),
        counted.filter(created_at__gte=start, created_at__lt=end).count(),
    )
    return PhaseStatus(
        state=state,
        label=PHASE_STATE_LABELS[state],
        deadline=deadline,
        used_total=used_total,
        used_today=used_today,
        total_left=None
        if phase.max_submissions_total is None
        else max(0, phase.max_submissions_total - used_total),
        today_left=None
        if phase.max_submissions_per_day is None
        else max(0, phase.max_submissions_per_day - used_today),
        resets_at=None if phase.max_submissions_per_day is None else end,
    )


def phase_dashboard_counts(*, phase: Phase) -> dict[str, int]:
    """What the organiser dashboard counts for a phase: teams that submitted, submissions by state."""
    from django.db.models import Count

    status = Submission.Status
    return Submission.objects.filter(phase=phase).aggregate(
        teams=Count("team", distinct=True),
        submissions=Count("id"),
        waiting=Count("id", filter=Q(status__in=[status.SUBMITTED, status.QUEUED])),
        running=Count("id", filter=Q(status=status.RUNNING)),
        finished=Count("id", filter=Q(status=status.FINISHED)),
        failed=Count("id", filter=Q(status=status.FAILED)),
    )
