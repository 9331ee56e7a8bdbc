"""Organiser pages (staff only) and the user's profile page. Thin: services and selectors act."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from challenge.bundle import BundleError, bundle_dump, bundle_load, bundle_parse, bundle_validate
from challenge.exceptions import ApplicationError
from challenge.models import Challenge, Phase, Submission, Team
from challenge.organiser import (
    METADATA_COLUMNS,
    phase_public_choice_lock,
    submission_metadata_rows,
    submission_moderate,
    submission_quota_refund,
    team_approve,
    user_profile_get,
    user_profile_update,
)


@staff_member_required
def organiser_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    challenge = get_object_or_404(Challenge, slug=slug)
    return render(request, "challenge/organiser.html", {
        "challenge": challenge,
        "phases": challenge.phases.order_by("order", "id"),
        "visibility_choices": Phase.LeaderboardVisibility.choices,
        "pending_teams": challenge.teams.filter(is_approved=False).order_by("created_at"),
    })


@staff_member_required
def bundle_page(request: HttpRequest) -> HttpResponse:
    """Paste or upload a YAML bundle; "Validate" lists every problem, "Load" creates or updates the challenge."""
    text = request.POST.get("bundle", "")
    if request.FILES.get("file"):
        text = request.FILES["file"].read().decode("utf-8", errors="replace")
    problems: list[str] = []
    status = 200
    if request.method == "POST":
        try:
            data = bundle_parse(text)
            if request.POST.get("action") == "load":
                challenge = bundle_load(data=data)
                messages.success(request, f"Loaded {challenge.title!r}.")
                return redirect("challenge:organiser", slug=challenge.slug)
            problems = bundle_validate(data=data)
            if not problems:
                messages.success(request, "The bundle is valid.")
        except BundleError as exc:
            problems = exc.problems
        status = 400 if problems else 200
    return render(request, "challenge/bundle.html", {"bundle": text, "problems": problems,
                                                     "challenges": Challenge.objects.all()}, status=status)


@staff_member_required
def bundle_export_view(request: HttpRequest, slug: str) -> HttpResponse:
    challenge = get_object_or_404(Challenge, slug=slug)
    response = HttpResponse(bundle_dump(challenge=challenge), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{challenge.slug}.yaml"'
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


@staff_member_required
def submissions_csv(request: HttpRequest, phase_id: int) -> StreamingHttpResponse:
    """Every submission's metadata (never the files) for one phase, streamed."""
    phase = get_object_or_404(Phase.objects.select_related("challenge"), id=phase_id)
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(r) for r in _header_then(phase)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{phase.challenge.slug}-{phase.slug}-submissions.csv"'
    return response


def _header_then(phase: Phase):
    yield list(METADATA_COLUMNS)
    yield from submission_metadata_rows(phase=phase)


@staff_member_required
@require_POST
def team_approve_view(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(Team, id=team_id)
    team_approve(team=team, approved=request.POST.get("approved", "1") == "1")
    messages.success(request, f"Team {team.name!r} {'approved' if team.is_approved else 'unapproved'}.")
    return redirect("challenge:organiser", slug=team.challenge.slug)


@staff_member_required
@require_POST
def phase_lock_view(request: HttpRequest, phase_id: int) -> HttpResponse:
    phase = get_object_or_404(Phase.objects.select_related("challenge"), id=phase_id)
    phase_public_choice_lock(phase=phase, locked=request.POST.get("locked", "1") == "1")
    messages.success(request, f"{phase.title}: participants' public choice "
                              f"{'locked' if phase.public_choice_locked else 'unlocked'}.")
    return redirect("challenge:organiser", slug=phase.challenge.slug)


@staff_member_required
@require_POST
def submission_moderate_view(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission = get_object_or_404(Submission, id=submission_id)
    try:
        submission_moderate(submission=submission, moderation=request.POST.get("moderation", ""),
                            reason=request.POST.get("reason", ""))
        messages.success(request, f"Submission #{submission.id}: {submission.get_moderation_display()}.")
    except (ApplicationError, ValidationError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    return redirect("challenge:submission", submission_id=submission.id)


@staff_member_required
@require_POST
def submission_refund_view(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission = get_object_or_404(Submission, id=submission_id)
    try:
        submission_quota_refund(submission=submission, reason=request.POST.get("reason", ""))
        messages.success(request, f"Submission #{submission.id} no longer counts towards the team's quota.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("challenge:submission", submission_id=submission.id)


@login_required
def profile_page(request: HttpRequest) -> HttpResponse:
    profile = user_profile_get(user=request.user)
    if request.method == "POST":
        try:
            user_profile_update(user=request.user, email=request.POST.get("email", request.user.email).strip(),
                                email_notifications=request.POST.get("email_notifications") == "on")
            messages.success(request, "Profile saved.")
            return redirect("challenge:profile")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return render(request, "challenge/profile.html", {"profile": profile})
