"""An organiser's actions on teams and submissions: approve a team, remove a member, hide, disqualify
or cancel a submission, refund its quota. Each answers with a message and goes back."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from challenge.models import Submission, Team
from challenge.organiser import submission_moderate, submission_quota_refund, team_approve
from challenge.organiser_views.access import SignedInRequest, organiser_only, redirect_back
from challenge.services.organiser import submission_cancel_by_organiser, team_member_remove_as_organiser
from core.exceptions import ApplicationError


@login_required
@require_POST
def team_approve_view(request: SignedInRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(Team.objects.select_related("challenge"), id=team_id)
    organiser_only(team.challenge_id, request)
    team_approve(team=team, approved=request.POST.get("approved", "1") == "1", actor=request.user)
    messages.success(request, f"Team {team.name!r} {'approved' if team.is_approved else 'unapproved'}.")
    return redirect_back(request, reverse("challenge:organiser", args=[team.challenge.slug]))


@login_required
@require_POST
def team_member_remove_org_view(request: SignedInRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(Team.objects.select_related("challenge"), id=team_id)
    organiser_only(team.challenge_id, request)
    try:
        member_id = int(request.POST.get("member", ""))
    except ValueError:
        member_id = 0
    try:
        team_member_remove_as_organiser(team=team, member_id=member_id, actor=request.user)
        messages.success(request, f"Member removed from team {team.name}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("challenge:console-teams", slug=team.challenge.slug)


@login_required
@require_POST
def submission_moderate_view(request: SignedInRequest, submission_id: int) -> HttpResponse:
    submission = get_object_or_404(Submission.objects.select_related("phase"), id=submission_id)
    organiser_only(submission.phase.challenge_id, request)
    try:
        submission_moderate(
            submission=submission,
            moderation=request.POST.get("moderation", ""),
            reason=request.POST.get("reason", ""),
            actor=request.user,
        )
        messages.success(request, f"Submission #{submission.id}: {submission.get_moderation_display()}.")
    except (ApplicationError, ValidationError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    return redirect_back(request, reverse("challenge:submission", args=[submission.id]))


@login_required
@require_POST
def submission_refund_view(request: SignedInRequest, submission_id: int) -> HttpResponse:
    submission = get_object_or_404(Submission.objects.select_related("phase"), id=submission_id)
    organiser_only(submission.phase.challenge_id, request)
    try:
        submission_quota_refund(
            submission=submission, reason=request.POST.get("reason", ""), actor=request.user
        )
        messages.success(request, f"Submission #{submission.id} no longer counts towards the team's quota.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("challenge:submission", submission_id=submission.id)


@login_required
@require_POST
def submission_cancel_org_view(request: SignedInRequest, submission_id: int) -> HttpResponse:
    submission = get_object_or_404(Submission.objects.select_related("phase__challenge"), id=submission_id)
    organiser_only(submission.phase.challenge_id, request)
    try:
        submission_cancel_by_organiser(
            submission=submission, reason=request.POST.get("reason", ""), actor=request.user
        )
        messages.success(request, f"Submission #{submission.id} cancelled.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect_back(
        request, reverse("challenge:console-submissions", args=[submission.phase.challenge.slug])
    )
