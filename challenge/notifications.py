"""Emails to a team when one of its submissions reaches a final state (finished or failed).

Called on commit by the scoring service. Never raises: a mail server that is down must not turn a
scored submission into an error. Members who opted out on their profile page get nothing, and
an address gets mail only once its owner has confirmed it (allauth's verified EmailAddress): an
address typed by someone else never receives results.
"""

from __future__ import annotations

import logging

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from accounts.selectors import users_without_email_notifications
from challenge.models import Submission
from evaluation.metrics.registry import format_number

logger = logging.getLogger(__name__)

SUBJECT = "[Pentathlon] Submission #{id} {outcome}: {method}"
BODY_FINISHED = """Your team's submission #{id} ({method}) to {challenge} / {phase} has been scored.

{scores}
Details: {url}

You get this email because email notifications are on in your profile: {profile_url}
"""
BODY_FAILED = """Your team's submission #{id} ({method}) to {challenge} / {phase} could not be scored:

{error}

Details: {url}

You get this email because email notifications are on in your profile: {profile_url}
"""


def notification_recipients(*, submission: Submission) -> list[str]:
    """The verified primary address of each team member who has not opted out, in member order."""
    members = list(submission.team.members.order_by("id").values_list("id", flat=True))
    opted_out = users_without_email_notifications(user_ids=members)
    member_ids = [user_id for user_id in members if user_id not in opted_out]
    verified = dict(
        EmailAddress.objects.filter(user_id__in=member_ids, verified=True, primary=True).values_list(
            "user_id", "email"
        )
    )
    return [verified[user_id] for user_id in member_ids if user_id in verified]


def _team_may_be_notified(*, team_id: int) -> bool:
    """Count one notification of the team in the current clock hour (shared cache); False past the limit
    (SECURITY.md, finding 17: a team that uploads in bulk must not turn the site into a mail cannon)."""
    import time

    from django.core.cache import cache

    limit: int = settings.PENTATHLON_NOTIFY_MAX_PER_TEAM_HOUR
    key = f"pentathlon:notify:{team_id}:{int(time.time() // 3600)}"
    cache.add(key, 0, timeout=3700)
    try:
        sent = cache.incr(key)
    except ValueError:  # expired between add and incr: this is the hour's first
        cache.set(key, 1, timeout=3700)
        sent = 1
    return sent <= limit


def _rescored(*, submission: Submission) -> bool:
    """Whether the submission is being scored again by a re-score of its phase (one started after it
    was uploaded: `leaderboard.LeaderboardSnapshot`, read through the reverse accessor)."""
    return submission.phase.leaderboard_snapshots.filter(created_at__gt=submission.created_at).exists()


def submission_notify_final(*, submission_id: int) -> int:
    """Send the finished/failed email of one submission. Returns the number of emails sent."""
    try:
        submission = Submission.objects.select_related("team", "phase", "phase__challenge").get(
            id=submission_id
        )
        if submission.status not in (Submission.Status.FINISHED, Submission.Status.FAILED):
            return 0
        if submission.status == Submission.Status.FAILED and _rescored(submission=submission):
            return 0  # the team had its failure mail when the submission first failed
        recipients = notification_recipients(submission=submission)
        if not recipients:
            return 0
        if not _team_may_be_notified(team_id=submission.team_id):
            logger.warning(
                "submission %s: team %s had %d notifications this hour; not sending",
                submission.id,
                submission.team_id,
                settings.PENTATHLON_NOTIFY_MAX_PER_TEAM_HOUR,
            )
            return 0
        base = settings.PENTATHLON_SITE_URL.rstrip("/")
        phase = submission.phase
        context = {
            "id": submission.id,
            "method": submission.method_name,
            "challenge": phase.challenge.title,
            "phase": phase.title,
            "url": base + reverse("challenge:submission", args=[submission.id]),
            "profile_url": base + reverse("challenge:profile"),
        }
        if submission.status == Submission.Status.FINISHED:
            outcome = "finished"
            score = getattr(getattr(submission, "result", None), "primary_score", None)
            if not phase.results_visible_to_owners:
                scores = "The scores stay hidden until the organisers publish the results of this phase.\n"
            elif score is None:
                scores = "It has per-dataset results but no overall score (a dataset is missing).\n"
            else:
                scores = f"Overall score: {format_number(score, phase.challenge.score_decimals)}\n"
            body = BODY_FINISHED.format(scores=scores, **context)
        else:
            outcome = "failed"
            body = BODY_FAILED.format(error=submission.error_message, **context)
        subject = SUBJECT.format(outcome=outcome, **context)
        return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)
    except Exception:  # a notification must never break scoring
        logger.exception("submission %s: the notification email could not be sent", submission_id)
        return 0
