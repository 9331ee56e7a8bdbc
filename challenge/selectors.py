"""Reads of the challenge app, with the joins each caller needs."""

from __future__ import annotations

import time as time_module
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from challenge.exceptions import NotFoundError
from challenge.models import Challenge, Dataset, Phase, Submission, Team, TeamMembership

CHALLENGE_NOT_FOUND = "No challenge with this name exists."
PHASE_NOT_FOUND = "No phase with this id exists."
PHASE_ID_UNKNOWN = (
    "No phase with the id {id} exists. {open} `pentathlon phases CHALLENGE` lists a challenge's phases."
)
PHASE_SLUG_UNKNOWN = (
    "The challenge {challenge!r} has no phase {slug!r}; its phases are: {phases}. "
    "`pentathlon phases {challenge}` lists them with their ids."
)
OPEN_PHASES = "Open for submissions now: {phases}."
NO_OPEN_PHASE = "No phase is open for submissions now."
_OPEN_PHASES_SHOWN = 5
SUBMISSION_NOT_FOUND = "No submission with this id exists, or it belongs to another team."


def challenge_is_organiser(
    *, user: AbstractBaseUser | AnonymousUser | None, challenge: Challenge | int
) -> bool:
    """The one test of challenge-scoped power: hidden results, ground truth, organiser tools, exports.

    True for an active superuser, and for an active member of `challenge.organisers`. Plain `is_staff`
    does NOT count: a staff account reaches the admin, but sees only the challenges it organises
    (SECURITY.md, "Organisers"). `challenge` may be an instance or an id.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    challenge_id = challenge if isinstance(challenge, int) else challenge.pk
    return Challenge.organisers.through.objects.filter(challenge_id=challenge_id, user_id=user.pk).exists()


def challenge_organised_list(*, user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[Challenge]:
    """The challenges the user organises (every challenge for a superuser, none for anonymous)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Challenge.objects.none()
    if user.is_superuser:
        return Challenge.objects.all()
    return Challenge.objects.filter(id__in=_organised_ids(user))


def _organised_ids(user: AbstractBaseUser) -> QuerySet:
    return Challenge.organisers.through.objects.filter(user_id=user.pk).values("challenge_id")


def _visible_challenges(user: AbstractBaseUser | AnonymousUser | None) -> Q:
    """Public challenges, plus the (draft) challenges the user organises."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(is_public=True)
    if user.is_superuser:
        return Q()
    return Q(is_public=True) | Q(id__in=_organised_ids(user))


def challenge_list(*, user: AbstractBaseUser | AnonymousUser | None = None) -> QuerySet[Challenge]:
    return Challenge.objects.filter(_visible_challenges(user))


def challenge_get(*, slug: str, user: AbstractBaseUser | AnonymousUser | None = None) -> Challenge:
    challenge = challenge_list(user=user).filter(slug=slug).first()
    if challenge is None:
        raise NotFoundError(CHALLENGE_NOT_FOUND)
    return challenge


def phase_list(*, challenge: Challenge) -> QuerySet[Phase]:
    return (
        challenge.phases.select_related("challenge")
        .prefetch_related("splits__dataset")
        .order_by("order", "id")
    )


def phase_get(
    *,
    phase_id: int | None = None,
    challenge: Challenge | None = None,
    slug: str | None = None,
    user: AbstractBaseUser | AnonymousUser | None = None,
) -> Phase:
    qs = Phase.objects.select_related("challenge").filter(challenge__in=challenge_list(user=user))
    phase = (
        qs.filter(id=phase_id) if phase_id is not None else qs.filter(challenge=challenge, slug=slug)
    ).first()
    if phase is None:
        raise phase_not_found(user=user, phase_id=phase_id, challenge=challenge, slug=slug)
    return phase


KIT_NOT_YET = "The starter kit of this phase is published when the phase opens, {opens} UTC; come back then."


def phase_kit_get(
    *,
    phase_id: int | None = None,
    challenge: Challenge | None = None,
    slug: str | None = None,
    user: AbstractBaseUser | AnonymousUser | None = None,
) -> Phase:
    """The phase whose starter kit (and its README) `user` may download.

    A kit names the phase's queries, so before the phase opens only the challenge's organisers get it:
    anyone else gets the same 404 whether or not they are in a team (SECURITY.md, "Starter kits").
    """
    phase = phase_get(phase_id=phase_id, challenge=challenge, slug=slug, user=user)
    if not phase_kit_published(phase=phase) and not challenge_is_organiser(
        user=user, challenge=phase.challenge_id
    ):
        raise NotFoundError(KIT_NOT_YET.format(opens=phase.starts_at.strftime("%Y-%m-%d %H:%M")))
    return phase


def phase_kit_published(*, phase: Phase, now: datetime | None = None) -> bool:
    """Whether the phase's starter kit is public: from the moment the phase opens."""
    return (now or timezone.now()) >= phase.starts_at


def phase_not_found(
    *,
    user: AbstractBaseUser | AnonymousUser | None,
    phase_id: int | None = None,
    challenge: Challenge | None = None,
    slug: str | None = None,
) -> NotFoundError:
    """The 404 of an unknown phase, with the next step: the challenge's phases and their states (by
    slug), or the phases open now that `user` can see (by id). It names nothing `user` cannot see."""
    if phase_id is None and challenge is not None:
        phases = ", ".join(
            f"{phase.slug} ({phase_status(phase=phase).label.lower()})"
            for phase in phase_list(challenge=challenge)
        )
        return NotFoundError(
            PHASE_SLUG_UNKNOWN.format(challenge=challenge.slug, slug=slug, phases=phases or "none yet")
        )
    now = timezone.now()
    open_now = (
        Phase.objects.select_related("challenge")
        .filter(challenge__in=challenge_list(user=user), starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .exclude(ground_truth="")
        .exclude(id=phase_id)  # the ground-truth API's 404 for a phase the user may not change
        .order_by("challenge__slug", "order", "id")[:_OPEN_PHASES_SHOWN]
    )
    listed = ", ".join(f"{phase.id} ({phase.challenge.slug}/{phase.slug})" for phase in open_now)
    return NotFoundError(
        PHASE_ID_UNKNOWN.format(
            id=phase_id, open=OPEN_PHASES.format(phases=listed) if listed else NO_OPEN_PHASE
        )
    )


def phase_get_by_slugs(
    *, challenge_slug: str, slug: str, user: AbstractBaseUser | AnonymousUser | None = None
) -> Phase:
    """`phase_get` by the challenge's and the phase's slugs in one query (with its challenge), for
    pages read at high rates (the boards). The same 404s as `challenge_get` then `phase_get`."""
    phase = None
    if user is None or not user.is_authenticated:  # anonymous: public challenges only
        phase = (
            Phase.objects.select_related("challenge")
            .filter(challenge__is_public=True, challenge__slug=challenge_slug, slug=slug)
            .order_by("pk")  # the model's ordering would join the challenge's ordering for nothing
            .first()
        )
    if phase is None:
        challenge = challenge_get(slug=challenge_slug, user=user)  # the challenge's own 404 first
        phase = phase_get(challenge=challenge, slug=slug, user=user)
    return phase


#: The fields `phase_brief_get` reads: what a cached board's key needs (`leaderboard.cache`).
_BRIEF_PHASE = (
    "id",
    "challenge_id",
    "slug",
    "blinding_secret",
    "leaderboard_visibility",
    "final_submission",
    "aggregation",
    "intervals_enabled",
    "interval_level",
)
_BRIEF_CHALLENGE = ("slug", "primary_metric", "higher_is_better", "score_decimals")


def phase_brief_get(
    *, challenge_slug: str | None = None, slug: str | None = None, phase_id: int | None = None
) -> Phase | None:
    """A phase of a public challenge, as an anonymous visitor may see it, with only the fields that
    find its cached boards; None when there is no such phase (then `phase_get` gives the 404).

    One plain SQL query, not the ORM: a cached board is served at thousands of requests per second
    and building the ORM query cost more than everything else of such a request. The instances hold
    only the fields above and must never be saved; a page rendered on a cache miss loads the phase
    in full.
    """
    if phase_id is not None and not 0 < phase_id < 2**63:
        return None
    row = _phase_brief_row(challenge_slug=challenge_slug, slug=slug, phase_id=phase_id)
    return None if row is None else _phase_from_brief_row(row)


def _phase_brief_row(*, challenge_slug: str | None, slug: str | None, phase_id: int | None) -> tuple | None:
    phases, challenges = Phase._meta.db_table, Challenge._meta.db_table
    columns = ", ".join([f"p.{c}" for c in _BRIEF_PHASE] + [f"c.{c}" for c in _BRIEF_CHALLENGE])
    where, params = (
        ("p.id = %s", [phase_id])
        if phase_id is not None
        else ("c.slug = %s AND p.slug = %s", [challenge_slug, slug])
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {phases} p JOIN {challenges} c ON c.id = p.challenge_id "  # noqa: S608 - table names from the models, values bound
            f"WHERE c.is_public = %s AND {where}",
            [True, *params],
        )
        row = cursor.fetchone()
    return None if row is None else tuple(row)


def _phase_from_brief_row(row: tuple) -> Phase:
    phase_values = dict(zip(_BRIEF_PHASE, row[: len(_BRIEF_PHASE)], strict=True))
    challenge = Challenge(
        id=phase_values["challenge_id"],
        is_public=True,
        **dict(zip(_BRIEF_CHALLENGE, row[len(_BRIEF_PHASE) :], strict=True)),
    )
    phase = Phase(challenge=challenge, **{k: v for k, v in phase_values.items() if k != "challenge_id"})
    challenge._state.adding = phase._state.adding = False
    return phase


@dataclass(frozen=True)
class _KeptBrief:
    catalog: str  # the catalog version read before the row was
    row: tuple
    identity: str  # `phase_board_identity`: where the phase's board version lives
    at: float  # time.monotonic() when read


#: The briefs this process has read, by (challenge slug, phase slug, phase id). Each is used only
#: while the catalog version it was read under is current; bounded (a flood of URLs cannot grow it).
_KEPT_BRIEFS: dict[tuple, _KeptBrief] = {}
_KEPT_BRIEFS_LIMIT = 1024
#: Seconds a kept brief is used at most: a write made past Django (SQL by hand), which bumps no
#: version, is current within this time.
KEPT_BRIEF_SECONDS = 5.0


def phase_board_brief(
    *, challenge_slug: str | None = None, slug: str | None = None, phase_id: int | None = None
) -> tuple[Phase, str] | None:
    """`phase_brief_get` and the phase's board version, or None (no such public phase).

    Kept by the process under the catalog version (`challenge.services.boards`), which every write to
    a phase or challenge bumps: a warm read is one cache read of both versions and no query. The
    catalog version is read before the row, so a row kept under a version is at least as new as it.
    """
    # Imported here: the services package imports these selectors.
    from challenge.services.boards import (
        board_versions_get,
        catalog_version,
        phase_board_identity,
        phase_board_version,
    )

    if phase_id is not None and not 0 < phase_id < 2**63:
        return None
    lookup = (challenge_slug, slug, phase_id)
    kept = _KEPT_BRIEFS.get(lookup)
    if kept is not None and time_module.monotonic() - kept.at < KEPT_BRIEF_SECONDS:
        catalog, board = board_versions_get(identity=kept.identity)
        if catalog == kept.catalog and board is not None:
            return _phase_from_brief_row(kept.row), board
    catalog = catalog_version()
    row = _phase_brief_row(challenge_slug=challenge_slug, slug=slug, phase_id=phase_id)
    if row is None:  # not kept: unknown URLs must not fill the process
        return None
    phase = _phase_from_brief_row(row)
    if len(_KEPT_BRIEFS) >= _KEPT_BRIEFS_LIMIT:
        _KEPT_BRIEFS.clear()
    _KEPT_BRIEFS[lookup] = _KeptBrief(
        catalog=catalog, row=row, identity=phase_board_identity(phase=phase), at=time_module.monotonic()
    )
    return phase, phase_board_version(phase=phase)


def phase_dataset_names(*, phase: Phase) -> list[str]:
    """The phase's datasets (its splits) in the challenge's order; the challenge's datasets before any upload."""
    names = list(
        phase.splits.order_by("dataset__order", "dataset__id").values_list("dataset__name", flat=True)
    )
    if names:
        return names
    return list(Dataset.objects.filter(challenge_id=phase.challenge_id).values_list("name", flat=True))


def team_for_user(*, user: AbstractBaseUser | AnonymousUser, challenge: Challenge) -> Team | None:
    if not user.is_authenticated:
        return None
    membership = TeamMembership.objects.filter(user=user, challenge=challenge).select_related("team").first()
    return None if membership is None else membership.team


def team_members(*, team: Team) -> QuerySet[TeamMembership]:
    return team.memberships.select_related("user").order_by("joined_at")


def submission_list(
    *, user: AbstractBaseUser, challenge: Challenge | None = None, phase: Phase | None = None
) -> QuerySet[Submission]:
    """The submissions of the user's teams (all of them for organisers' API use is not implied)."""
    qs = Submission.objects.filter(team__memberships__user=user).select_related(
        "team", "phase", "phase__challenge", "created_by"
    )
    if challenge is not None:
        qs = qs.filter(phase__challenge=challenge)
    if phase is not None:
        qs = qs.filter(phase=phase)
    return qs.order_by("-created_at", "-id")


def submission_get(*, submission_id: int, user: AbstractBaseUser | AnonymousUser) -> Submission:
    """A submission its team's members and the challenge's organisers may read; 404 for everyone else."""
    qs = Submission.objects.select_related("team", "phase", "phase__challenge", "created_by", "result")
    if not user.is_authenticated:
        raise NotFoundError(SUBMISSION_NOT_FOUND)
    if not user.is_superuser:
        own_teams = TeamMembership.objects.filter(user=user).values("team_id")
        qs = qs.filter(Q(team_id__in=own_teams) | Q(phase__challenge_id__in=_organised_ids(user)))
    submission = qs.filter(id=submission_id).first()
    if submission is None:
        raise NotFoundError(SUBMISSION_NOT_FOUND)
    return submission


def submission_results_visible(*, submission: Submission, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Scores of a hidden phase stay hidden, even from the submitting team, until published; with the
    owners-and-organisers setting the team sees its own (only members and organisers get the submission)."""
    return submission.phase.results_visible_to_owners or challenge_is_organiser(
        user=user, challenge=submission.phase.challenge_id
    )


def submission_result(*, submission: Submission, user: AbstractBaseUser | AnonymousUser) -> Any:
    """The submission's `leaderboard.Result` when the user may see scores, else None.

    Read through the reverse one-to-one accessor, so `challenge` never imports `leaderboard`.
    """
    if not submission_results_visible(submission=submission, user=user):
        return None
    try:
        return submission.result
    except ObjectDoesNotExist:
        return None


# --- the organisers' export of every submission's metadata -------------------------------------------

#: Columns of the submissions' metadata export.
METADATA_COLUMNS = (
    "id",
    "team",
    "phase",
    "method_name",
    "status",
    "file_format",
    "file_size",
    "checksum_sha256",
    "original_filename",
    "is_public",
    "is_final",
    "is_baseline",
    "moderation",
    "moderation_reason",
    "quota_refunded",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
    "overall_score",
    "error_message",
    "paper_url",
    "code_url",
)


def submission_metadata_list(*, phase: Phase) -> QuerySet[Submission]:
    return (
        Submission.objects.filter(phase=phase)
        .select_related("team", "phase", "created_by", "result")
        .order_by("created_at", "id")
    )


def submission_metadata_rows(*, phase: Phase) -> Iterator[list[Any]]:
    """Rows of `METADATA_COLUMNS` for every submission of the phase, oldest first (one query)."""
    for s in submission_metadata_list(phase=phase).iterator(chunk_size=2000):
        try:
            score = s.result.primary_score
        except Submission.result.RelatedObjectDoesNotExist:
            score = None
        yield [
            s.id,
            s.team.name,
            s.phase.slug,
            s.method_name,
            s.status,
            s.file_format,
            s.file_size,
            s.checksum_sha256,
            s.original_filename,
            int(s.is_public),
            int(s.is_final),
            int(s.is_baseline),
            s.moderation,
            s.moderation_reason,
            int(s.quota_refunded),
            s.created_by.username if s.created_by else "",
            s.created_at.isoformat(),
            s.started_at.isoformat() if s.started_at else "",
            s.finished_at.isoformat() if s.finished_at else "",
            "" if score is None else repr(score),
            s.error_message,
            s.paper_url,
            s.code_url,
        ]


def team_storage_annotate(teams: QuerySet) -> QuerySet:
    """Teams with `storage_bytes`: the bytes of their stored submission files (issue 16, finding 4).

    Files the retention period deleted (failed and cancelled submissions) count no more.
    """
    from django.db.models import Sum
    from django.db.models.functions import Coalesce

    return teams.annotate(
        storage_bytes=Coalesce(Sum("submissions__file_size", filter=~Q(submissions__file="")), 0)
    )


# --- a phase as a participant sees it: its state, its quota, its kit --------------------------------


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


def submission_quota_counted(*, team: Team, phase: Phase) -> QuerySet[Submission]:
    """The team's submissions that count towards the phase's quota (failed, cancelled and refunded
    ones are free, except a program's own failures in a code phase that counts them); the one
    definition the quota check and the pages share."""
    free = [Submission.Status.CANCELLED]
    if not (phase.is_code and phase.code_failures_count):
        free.append(Submission.Status.FAILED)
    return Submission.objects.filter(team=team, phase=phase, quota_refunded=False).exclude(status__in=free)


def submission_same_file(*, team: Team, phase: Phase, sha256: str) -> Submission | None:
    """The team's earliest submission to the phase of the file with this sha256 that is not FAILED or
    CANCELLED (a failed or cancelled file may be sent again), or None."""
    return (
        Submission.objects.filter(team=team, phase=phase, checksum_sha256=sha256.lower())
        .exclude(status__in=[Submission.Status.FAILED, Submission.Status.CANCELLED])
        .order_by("created_at", "id")
        .first()
    )


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
    quota: dict[str, int | None] = {}
    if team is not None:
        counted = submission_quota_counted(team=team, phase=phase)
        start, end = utc_day_bounds(now)
        used_total, used_today = (
            counted.count(),
            counted.filter(created_at__gte=start, created_at__lt=end).count(),
        )
        quota = {
            "used_total": used_total,
            "used_today": used_today,
            "total_left": None
            if phase.max_submissions_total is None
            else max(0, phase.max_submissions_total - used_total),
            "today_left": None
            if phase.max_submissions_per_day is None
            else max(0, phase.max_submissions_per_day - used_today),
            "resets_at": None if phase.max_submissions_per_day is None else end,
        }
    return PhaseStatus(state=state, label=PHASE_STATE_LABELS[state], deadline=deadline, **quota)


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


def challenge_team_count(*, challenge: Challenge) -> int:
    return challenge.teams.filter(is_baseline=False).count()


def terms_accepted(*, challenge: Challenge, user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """The user accepted the challenge's current terms (always true when it asks for none)."""
    if not challenge.terms_version:
        return True
    if user is None or not user.is_authenticated:
        return False
    return challenge.terms_acceptances.filter(user=user, version=challenge.terms_version).exists()


def terms_acceptance_of(
    *, challenge: Challenge, user: AbstractBaseUser | AnonymousUser | None
) -> object | None:
    """The user's latest acceptance of the challenge's terms (any version), or None."""
    if user is None or not user.is_authenticated:
        return None
    return challenge.terms_acceptances.filter(user=user).order_by("-version", "-accepted_at").first()
