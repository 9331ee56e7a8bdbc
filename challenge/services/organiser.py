"""The organisers' writes beyond the admin: leaderboard visibility, the public-choice lock, team
approval, moderation and quota refunds. Same rules as every service: keyword-only, validated, atomic."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction

from challenge.events import challenge_boards_changed, phase_boards_changed
from challenge.models import Challenge, Dataset, OrganiserAction, Phase, Submission, Team, TeamMembership
from challenge.services.phases import CODE_SETTINGS, phase_ground_truth_set
from challenge.services.submissions import submission_cancel_as_organiser
from core.exceptions import ApplicationError, PermissionDeniedError

MODERATION_NEEDS_REASON = "Give a reason when hiding or disqualifying an entry; the team will read it."
MODERATION_UNKNOWN = "Unknown moderation {value!r}; use one of: shown, hidden, disqualified."
VISIBILITY_UNKNOWN = "Unknown visibility {value!r}; use one of: {choices}."
REFUND_NEEDS_REASON = "Say why the quota is refunded (for example: the platform failed while scoring)."
PHASE_ENDS_BEFORE_START = "The phase must end after it starts; leave the end empty for an open-ended phase."
MEMBER_NOT_IN_TEAM = "That account is not a member of team {team}."
CHALLENGE_CREATE_STAFF_ONLY = (
    "Only site staff create challenges; ask them to create it or to make you an organiser of one."
)
CHALLENGE_SLUG_TAKEN = "A challenge at /c/{slug}/ exists already; choose another address."
PHASE_SLUG_TAKEN = "This challenge has a phase {slug!r} already; choose another short name."
DATASET_IN_USE = "Dataset {name} has ground truth in phase(s) {phases}; it cannot be removed."
KIND_LOCKED = "The phase has submissions already; its kind (code or predictions) can no longer change."
#: The challenge settings an organiser edits in the console (the datasets are edited beside them). The
#: direction is not one: it is the primary metric's (`Challenge.higher_is_better`).
CHALLENGE_SETTINGS = (
    "title",
    "summary",
    "description",
    "rules",
    "is_public",
    "primary_metric",
    "score_decimals",
    "teams_need_approval",
    "terms_version",
    "pages",
)
#: The phase settings an organiser edits in the console (the admin's fields, without the ground truth
#: and the slug, which names the phase in URLs and in the teams' files).
PHASE_SETTINGS = (
    "title",
    "order",
    "description",
    "starts_at",
    "ends_at",
    "max_submissions_per_day",
    "max_submissions_total",
    "allowed_formats",
    "aggregation",
    "final_submission",
    "leaderboard_visibility",
    "query_order",
    "intervals_enabled",
    "interval_level",
    "evaluation_soft_limit_s",
    "evaluation_hard_limit_s",
    "submission_kind",
    *CODE_SETTINGS,
)


def organiser_action_record(
    *, challenge: Challenge | int, user: User | None, action: str, target: str, detail: str = ""
) -> OrganiserAction | None:
    """Log one organiser action (who, what, when); nothing without a user (a command or a migration)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    challenge_id = challenge if isinstance(challenge, int) else challenge.id
    return OrganiserAction.objects.create(
        challenge_id=challenge_id,
        user=user,
        username=user.get_username(),
        action=action,
        target=target[:200],
        detail=detail,
    )


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, list):  # formats, datasets, or pages (named by their titles)
        return ", ".join(str(v.get("title", v)) if isinstance(v, dict) else str(v) for v in value) or "none"
    return str(value)


def _datasets_set(*, challenge: Challenge, names: list[str]) -> list[str]:
    """Make the challenge's datasets exactly `names`, in that order; returns what changed, in words.

    Raises:
        ValidationError: removing a dataset that some phase's ground truth holds.
    """
    existing = {d.name: d for d in challenge.datasets.all()}
    changed = []
    for name in sorted(set(existing) - set(names)):
        phases = sorted(existing[name].splits.values_list("phase__title", flat=True))
        if phases:
            raise ValidationError({"datasets": DATASET_IN_USE.format(name=name, phases=", ".join(phases))})
        existing[name].delete()
        changed.append(f"removed {name}")
    for order, name in enumerate(names):
        dataset = existing.get(name) or Dataset(challenge=challenge, name=name)
        if dataset.pk is None:
            changed.append(f"added {name}")
        dataset.order = order
        dataset.full_clean()
        dataset.save()
    return changed


@transaction.atomic
def challenge_create(
    *, actor: User, slug: str, title: str, datasets: Iterable[str] = (), **settings: Any
) -> Challenge:
    """Create a challenge from the console; its creator becomes its first organiser.

    Site staff only, as in the admin (an organiser runs the challenges they are given).

    Raises:
        PermissionDeniedError: the user is not site staff.
        ApplicationError: a setting that is not in `CHALLENGE_SETTINGS`.
        ValidationError: the slug is taken or a value is invalid (nothing is created).
    """
    if not (actor.is_staff or actor.is_superuser):
        raise PermissionDeniedError(CHALLENGE_CREATE_STAFF_ONLY)
    unknown = sorted(set(settings) - set(CHALLENGE_SETTINGS))
    if unknown:
        raise ApplicationError(f"Unknown challenge setting(s): {', '.join(unknown)}.")
    if Challenge.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": CHALLENGE_SLUG_TAKEN.format(slug=slug)})
    challenge = Challenge(slug=slug, title=title, **settings)
    challenge.full_clean()
    challenge.save()
    challenge.organisers.add(actor)
    _datasets_set(challenge=challenge, names=list(datasets))
    challenge_boards_changed(challenge_id=challenge.id)
    organiser_action_record(
        challenge=challenge,
        user=actor,
        action="create challenge",
        target=f"challenge {challenge.title}",
        detail=f"/c/{slug}/; datasets: {_shown(list(datasets))}",
    )
    return challenge


@transaction.atomic
def challenge_settings_update(
    *,
    challenge: Challenge,
    actor: User | None = None,
    datasets: list[str] | None = None,
    **changes: Any,
) -> Challenge:
    """Change a challenge's pages, rules, metric and approval settings (`CHALLENGE_SETTINGS`) and,
    when given, its datasets; validated like the admin's form, boards refreshed, changes logged.

    Raises:
        ApplicationError: a setting that is not in `CHALLENGE_SETTINGS`.
        ValidationError: an invalid value, or removing a dataset that holds ground truth.
    """
    unknown = sorted(set(changes) - set(CHALLENGE_SETTINGS))
    if unknown:
        raise ApplicationError(f"Unknown challenge setting(s): {', '.join(unknown)}.")
    before = {name: getattr(challenge, name) for name in changes}
    for name, value in changes.items():
        setattr(challenge, name, value)
    challenge.full_clean()
    changed = [name for name in changes if before[name] != getattr(challenge, name)]
    if changed:
        challenge.save(update_fields=changed)
    words = [f"{name}: {_brief(before[name])} → {_brief(getattr(challenge, name))}" for name in changed]
    if datasets is not None:
        words += _datasets_set(challenge=challenge, names=list(datasets))
    if not words:
        return challenge
    challenge_boards_changed(challenge_id=challenge.id)
    organiser_action_record(
        challenge=challenge,
        user=actor,
        action="challenge settings",
        target=f"challenge {challenge.title}",
        detail="; ".join(words),
    )
    return challenge


def _brief(value: Any) -> str:
    text = _shown(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:79] + "…"


@transaction.atomic
def phase_create(
    *,
    challenge: Challenge,
    actor: User | None = None,
    slug: str,
    title: str,
    starts_at: Any,
    **settings: Any,
) -> Phase:
    """Add a phase to the challenge with any of `PHASE_SETTINGS`; validated like the admin's form,
    boards refreshed, logged. It accepts no submission until its ground truth is uploaded.

    Raises:
        ApplicationError: a setting that is not in `PHASE_SETTINGS`.
        ValidationError: the slug is taken or a value is invalid (nothing is created).
    """
    unknown = sorted(set(settings) - set(PHASE_SETTINGS))
    if unknown:
        raise ApplicationError(f"Unknown phase setting(s): {', '.join(unknown)}.")
    if Phase.objects.filter(challenge=challenge, slug=slug).exists():
        raise ValidationError({"slug": PHASE_SLUG_TAKEN.format(slug=slug)})
    phase = Phase(challenge=challenge, slug=slug, title=title, starts_at=starts_at, **settings)
    if phase.ends_at is not None and phase.ends_at <= phase.starts_at:
        raise ValidationError({"ends_at": PHASE_ENDS_BEFORE_START})
    phase.full_clean()
    phase.save()
    phase_boards_changed(phase_ids=[phase.id])
    organiser_action_record(
        challenge=challenge,
        user=actor,
        action="create phase",
        target=f"phase {phase.title}",
        detail=f"{slug}, {phase.get_submission_kind_display()}; opens {phase.starts_at:%Y-%m-%d %H:%M} UTC",
    )
    return phase


@transaction.atomic
def phase_ground_truth_upload(
    *,
    phase: Phase,
    file: IO[bytes] | File[bytes],
    annotations: IO[bytes] | File[bytes] | None = None,
    actor: User | None = None,
) -> Phase:
    """The console's ground-truth upload: `phase_ground_truth_set` (the admin's, the command's and the
    API's one service), then the action logged with the file's digest and the datasets it holds.

    Raises:
        ValidationError: the ground truth or the annotations are invalid (nothing is stored or logged).
    """
    replaced = bool(phase.ground_truth)
    phase = phase_ground_truth_set(phase=phase, file=file, annotations=annotations)
    splits = phase.splits.select_related("dataset").order_by("dataset__order")
    organiser_action_record(
        challenge=phase.challenge_id,
        user=actor,
        action="replace ground truth" if replaced else "upload ground truth",
        target=f"phase {phase.title}",
        detail=f"sha256 {phase.ground_truth_sha256[:12]}; "
        + ", ".join(f"{s.dataset.name} {s.num_queries}×{s.num_videos}" for s in splits)
        + (f"; caption audit against {getattr(annotations, 'name', 'annotations')}" if annotations else ""),
    )
    return phase


@transaction.atomic
def phase_settings_update(*, phase: Phase, actor: User | None = None, **changes: Any) -> Phase:
    """Change a phase's settings (`PHASE_SETTINGS`): validated like the admin's form, boards refreshed,
    and every changed value logged as "field: old → new".

    Raises:
        ApplicationError: a setting that is not in `PHASE_SETTINGS`.
        ValidationError: an invalid value (the model's own checks).
    """
    unknown = sorted(set(changes) - set(PHASE_SETTINGS))
    if unknown:
        raise ApplicationError(f"Unknown phase setting(s): {', '.join(unknown)}.")
    before = {name: getattr(phase, name) for name in changes}
    for name, value in changes.items():
        setattr(phase, name, value)
    if phase.ends_at is not None and phase.starts_at is not None and phase.ends_at <= phase.starts_at:
        raise ValidationError({"ends_at": PHASE_ENDS_BEFORE_START})
    if (
        "submission_kind" in changes
        and before["submission_kind"] != phase.submission_kind
        and phase.submissions.exists()
    ):
        raise ValidationError({"submission_kind": KIND_LOCKED})
    phase.full_clean()
    changed = [name for name in changes if before[name] != getattr(phase, name)]
    if not changed:
        return phase
    phase.save(update_fields=changed)
    phase_boards_changed(phase_ids=[phase.id])
    organiser_action_record(
        challenge=phase.challenge_id,
        user=actor,
        action="phase settings",
        target=f"phase {phase.title}",
        detail="; ".join(
            f"{name}: {_shown(before[name])} → {_shown(getattr(phase, name))}" for name in changed
        ),
    )
    return phase


@transaction.atomic
def phase_visibility_set(*, phase: Phase, visibility: str, actor: User | None = None) -> Phase:
    """Who sees the phase's scores: hidden, each team its own (owners), or public (publishing)."""
    choices = [c.value for c in Phase.LeaderboardVisibility]
    if visibility not in choices:
        raise ApplicationError(VISIBILITY_UNKNOWN.format(value=visibility, choices=", ".join(choices)))
    phase.leaderboard_visibility = visibility
    phase.save(update_fields=["leaderboard_visibility"])
    phase_boards_changed(phase_ids=[phase.id])
    organiser_action_record(
        challenge=phase.challenge_id,
        user=actor,
        action="visibility",
        target=f"phase {phase.title}",
        detail=visibility,
    )
    return phase


@transaction.atomic
def phase_public_choice_lock(*, phase: Phase, locked: bool, actor: User | None = None) -> Phase:
    phase.public_choice_locked = locked
    phase.save(update_fields=["public_choice_locked"])
    organiser_action_record(
        challenge=phase.challenge_id,
        user=actor,
        action="lock public choice" if locked else "unlock public choice",
        target=f"phase {phase.title}",
    )
    return phase


@transaction.atomic
def team_approve(*, team: Team, approved: bool = True, actor: User | None = None) -> Team:
    team.is_approved = approved
    team.save(update_fields=["is_approved"])
    organiser_action_record(
        challenge=team.challenge_id,
        user=actor,
        action="approve team" if approved else "withdraw approval",
        target=f"team {team.name}",
    )
    return team


@transaction.atomic
def team_member_remove_as_organiser(*, team: Team, member_id: int, actor: User | None = None) -> None:
    """Take a participant out of a team (the organisers' decision); the team keeps its submissions."""
    membership = TeamMembership.objects.filter(team=team, user_id=member_id).select_related("user").first()
    if membership is None:
        raise ApplicationError(MEMBER_NOT_IN_TEAM.format(team=team.name))
    username = membership.user.get_username()
    membership.delete()
    organiser_action_record(
        challenge=team.challenge_id,
        user=actor,
        action="remove member",
        target=f"team {team.name}",
        detail=username,
    )


@transaction.atomic
def submission_moderate(
    *, submission: Submission, moderation: str, reason: str = "", actor: User | None = None
) -> Submission:
    """Hide or disqualify an entry (left off every leaderboard), or show it again; a reason is required."""
    values = {
        "shown": "",
        "": "",
        "hidden": Submission.Moderation.HIDDEN,
        "disqualified": Submission.Moderation.DISQUALIFIED,
    }
    if moderation not in values:
        raise ApplicationError(MODERATION_UNKNOWN.format(value=moderation))
    value = values[moderation]
    reason = reason.strip()
    if value and not reason:
        raise ApplicationError(MODERATION_NEEDS_REASON)
    submission.moderation, submission.moderation_reason = value, reason if value else ""
    # created_by is NULL once the uploader deleted their account; the entry can still be moderated
    submission.full_clean(exclude=["file", "created_by"])
    submission.save(update_fields=["moderation", "moderation_reason", "updated_at"])
    phase_boards_changed(phase_ids=[submission.phase_id])
    organiser_action_record(
        challenge=submission.phase.challenge_id,
        user=actor,
        action=value or "shown",
        target=f"submission #{submission.id}",
        detail=reason,
    )
    return submission


@transaction.atomic
def submission_quota_refund(
    *, submission: Submission, reason: str, refunded: bool = True, actor: User | None = None
) -> Submission:
    """Give a submission back to the team's quota (the platform was at fault); `refunded=False` undoes it."""
    reason = reason.strip()
    if refunded and not reason:
        raise ApplicationError(REFUND_NEEDS_REASON)
    submission.quota_refunded = refunded
    fields = ["quota_refunded", "updated_at"]
    if refunded:
        note = f"Quota refunded: {reason}"
        submission.moderation_reason = (
            f"{submission.moderation_reason}\n{note}".strip()
            if submission.moderation
            else submission.moderation_reason
        )
        submission.error_message = (
            f"{submission.error_message}\n\n{note}".strip()
            if submission.status == Submission.Status.FAILED
            else submission.error_message
        )
        fields += ["moderation_reason", "error_message"]
    submission.save(update_fields=fields)
    organiser_action_record(
        challenge=submission.phase.challenge_id,
        user=actor,
        action="refund quota" if refunded else "undo refund",
        target=f"submission #{submission.id}",
        detail=reason,
    )
    return submission


def submission_cancel_by_organiser(
    *, submission: Submission, reason: str = "", actor: User | None = None
) -> bool:
    """Cancel a team's waiting submission from the console, and log it."""
    submission_cancel_as_organiser(submission=submission, reason=reason)
    organiser_action_record(
        challenge=submission.phase.challenge_id,
        user=actor,
        action="cancel",
        target=f"submission #{submission.id}",
        detail=reason.strip(),
    )
    return True
