"""The organiser console's pages: the challenges a user runs, a challenge's dashboard, its submissions,
teams and log, and the submissions' metadata as CSV."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from challenge.forms import OrganiserSubmissionFilterForm
from challenge.models import Challenge, OrganiserAction, Phase, Submission
from challenge.organiser import METADATA_COLUMNS, submission_metadata_rows
from challenge.organiser_views.access import SignedInRequest, organised_challenge, organiser_only
from challenge.publication import (
    phase_caption_findings,
    phase_caption_warning,
    phase_leak_findings,
    phase_query_order_warning,
)
from challenge.selectors import (
    challenge_organised_list,
    challenge_team_count,
    phase_dashboard_counts,
    phase_status,
)
from core.csv_export import csv_writer
from core.views import Echo

#: Rows the submissions table shows at most, newest first.
SUBMISSIONS_SHOWN = 500


@login_required
@require_GET
def organiser_home(request: SignedInRequest) -> HttpResponse:
    """The organiser console's front page: the challenges the user organises."""
    challenges = challenge_organised_list(user=request.user).order_by("title")
    return render(request, "challenge/organiser_home.html", {"challenges": challenges})


def _phase_card(phase: Phase) -> Phase:
    """The phase with what its dashboard card shows beside its settings (audits, counts, state), set
    on the instance the template reads."""
    card = {
        "query_order_warning": phase_query_order_warning(phase=phase),
        "leak_findings": phase_leak_findings(phase=phase),
        "caption_warning": phase_caption_warning(phase=phase),
        "caption_findings": phase_caption_findings(phase=phase),
        "counts": phase_dashboard_counts(phase=phase),
        "state_now": phase_status(phase=phase),
    }
    for name, value in card.items():
        setattr(phase, name, value)
    return phase


@login_required
def organiser_dashboard(request: SignedInRequest, slug: str) -> HttpResponse:
    challenge = get_object_or_404(Challenge, slug=slug)
    organiser_only(challenge.id, request)
    phases = [_phase_card(phase) for phase in challenge.phases.order_by("order", "id")]
    return render(
        request,
        "challenge/organiser.html",
        {
            "challenge": challenge,
            "phases": phases,
            "visibility_choices": Phase.LeaderboardVisibility.choices,
            "pending_teams": challenge.teams.filter(is_approved=False).order_by("created_at"),
            "team_count": challenge_team_count(challenge=challenge),
        },
    )


def _submissions_filtered(
    rows: QuerySet[Submission], form: OrganiserSubmissionFilterForm
) -> QuerySet[Submission]:
    """`rows` narrowed to the filter's team, status and phase; none for an invalid filter."""
    if form.is_valid():
        data = form.cleaned_data
        if data["team"]:
            rows = rows.filter(team_id=int(data["team"]))
        if data["status"]:
            rows = rows.filter(status=data["status"])
        if data["phase"]:
            rows = rows.filter(phase__slug=data["phase"])
    elif form.is_bound:
        rows = rows.none()
    return rows


@login_required
@require_GET
def console_submissions(request: SignedInRequest, slug: str) -> HttpResponse:
    """Every submission of the challenge, filtered by team, status and phase, with its actions."""
    challenge = organised_challenge(request, slug)
    teams = list(challenge.teams.order_by("name"))
    phases = list(challenge.phases.order_by("order", "id"))
    form = OrganiserSubmissionFilterForm(request.GET or None, teams=teams, phases=phases)
    rows = (
        Submission.objects.filter(phase__challenge=challenge)
        .select_related("team", "phase", "result")
        .order_by("-created_at", "-id")
    )
    shown = list(_submissions_filtered(rows, form)[:SUBMISSIONS_SHOWN])
    for s in shown:  # what the table shows beside the row's fields
        extra = {
            "score": getattr(getattr(s, "result", None), "primary_score", None),
            "cancellable": s.status in (Submission.Status.SUBMITTED, Submission.Status.QUEUED),
        }
        for name, value in extra.items():
            setattr(s, name, value)
    return render(
        request,
        "challenge/organiser_submissions.html",
        {"challenge": challenge, "form": form, "rows": shown, "phases": phases, "filtered": form.is_bound},
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


@login_required
@require_GET
def console_teams(request: SignedInRequest, slug: str) -> HttpResponse:
    """The challenge's teams and participants: approve, withdraw approval, remove a member."""
    challenge = organised_challenge(request, slug)
    teams = challenge.teams.prefetch_related("memberships__user").order_by("name")
    return render(request, "challenge/organiser_teams.html", {"challenge": challenge, "teams": teams})


@login_required
@require_GET
def console_log(request: SignedInRequest, slug: str) -> HttpResponse:
    """Every organiser action on the challenge, newest first: who, what, when."""
    challenge = organised_challenge(request, slug)
    actions = OrganiserAction.objects.filter(challenge=challenge).order_by("-created_at", "-id")[:1000]
    return render(request, "challenge/organiser_log.html", {"challenge": challenge, "actions": actions})


@login_required
def submissions_csv(request: SignedInRequest, phase_id: int) -> StreamingHttpResponse:
    """Every submission's metadata (never the files) for one phase, streamed."""
    phase = get_object_or_404(Phase.objects.select_related("challenge"), id=phase_id)
    organiser_only(phase.challenge_id, request)
    writer = csv_writer(Echo())
    response = StreamingHttpResponse(
        (writer.writerow(r) for r in _header_then(phase)), content_type="text/csv"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{phase.challenge.slug}-{phase.slug}-submissions.csv"'
    )
    return response


def _header_then(phase: Phase) -> Iterator[list[Any]]:
    yield list(METADATA_COLUMNS)
    yield from submission_metadata_rows(phase=phase)
