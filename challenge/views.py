"""Server-rendered pages for participants and visitors. Thin: forms parse, services and selectors act."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from challenge.code_phases import submission_program_run_visible
from challenge.exceptions import DuplicateSubmissionError
from challenge.forms import (
    SubmissionFilterForm,
    SubmissionForm,
    SubmissionUpdateForm,
    TeamCreateForm,
    TeamJoinForm,
)
from challenge.models import Submission
from challenge.selectors import (
    challenge_get,
    challenge_is_organiser,
    challenge_list,
    phase_dataset_names,
    phase_get,
    phase_kit_get,
    phase_kit_published,
    phase_list,
    phase_status,
    submission_get,
    submission_list,
    submission_result,
    submission_results_visible,
    team_for_user,
    team_members,
    terms_acceptance_of,
    terms_accepted,
)
from challenge.services import (
    submission_cancel,
    submission_create,
    submission_update,
    team_create,
    team_invite_rotate,
    team_join,
    team_leave,
    team_member_remove,
    team_rename,
)
from challenge.services.terms import terms_accept, terms_ensure_accepted
from challenge.signed_in import signed_in_user
from challenge.starter_kit import starter_kit_readme
from challenge.throttles import THROTTLED, throttle_allows
from core.exceptions import ApplicationError, PermissionDeniedError
from core.views import domain_errors
from evaluation.metrics.registry import reported_metric_keys

SUBMISSION_CANCELLED = "Submission #{id} is cancelled; it does not count towards the quota."
SUBMISSION_FILE_GONE = "This submission's file is no longer stored (the retention period has passed)."


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "challenge/home.html", {"challenges": challenge_list(user=request.user)})


@domain_errors
def challenge_detail(request: HttpRequest, slug: str) -> HttpResponse:
    challenge = challenge_get(slug=slug, user=request.user)
    team = team_for_user(user=request.user, challenge=challenge)
    is_organiser = challenge_is_organiser(user=request.user, challenge=challenge)
    return render(
        request,
        "challenge/challenge_detail.html",
        {
            "challenge": challenge,
            "phases": [
                {
                    "phase": phase,
                    "status": phase_status(phase=phase, team=team),
                    "kit_published": phase_kit_published(phase=phase),
                }
                for phase in phase_list(challenge=challenge)
            ],
            "team": team,
            "is_organiser": is_organiser,
            "terms_ok": is_organiser or terms_accepted(challenge=challenge, user=request.user),
            "terms_acceptance": terms_acceptance_of(challenge=challenge, user=request.user),
        },
    )


@login_required
@require_POST
@domain_errors
def terms_accept_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Accept the challenge's current rules (recorded with the time and the version)."""
    user = signed_in_user(request)
    challenge = challenge_get(slug=slug, user=user)
    try:
        acceptance = terms_accept(challenge=challenge, user=user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"You accepted the rules of {challenge.title} (version {acceptance.version}); "
            "the starter kit and submissions are open to you.",
        )
    return redirect(reverse("challenge:detail", args=[challenge.slug]) + "#rules")


@require_GET
@domain_errors
def kit_readme(request: HttpRequest, slug: str, phase_slug: str) -> HttpResponse:
    """The starter kit's README as plain text: what to download and the shapes a submission must have.
    Part of the kit: a challenge with rules to accept shows it only after they are accepted."""
    challenge = challenge_get(slug=slug, user=request.user)
    phase = phase_kit_get(challenge=challenge, slug=phase_slug, user=request.user)
    terms_ensure_accepted(challenge=challenge, user=request.user, what="reading the starter kit")
    return HttpResponse(starter_kit_readme(phase=phase), content_type="text/plain; charset=utf-8")


@login_required
@domain_errors
def team_page(request: HttpRequest, slug: str) -> HttpResponse:
    user = signed_in_user(request)
    challenge = challenge_get(slug=slug, user=user)
    create_form = TeamCreateForm(request.POST if request.POST.get("action") == "create" else None)
    join_form = TeamJoinForm(request.POST if request.POST.get("action") == "join" else None)
    if request.method == "POST":
        form = create_form if request.POST.get("action") == "create" else join_form
        if form.is_valid():
            try:
                if form is create_form:
                    wait = throttle_allows(request, scope="team_create", per_address=True)
                    if wait is not None:
                        raise ApplicationError(THROTTLED.format(wait=wait))
                    created = team_create(challenge=challenge, user=user, name=form.cleaned_data["name"])
                    messages.success(
                        request, f"Team {created.name!r} created. Share the invite code with your team mates."
                    )
                else:
                    joined = team_join(
                        challenge=challenge, user=user, invite_code=form.cleaned_data["invite_code"]
                    )
                    messages.success(request, f"You joined team {joined.name!r}.")
                return redirect("challenge:team", slug=challenge.slug)
            except (ApplicationError, ValidationError) as exc:
                form.add_error(
                    None, getattr(exc, "message", None) or " ".join(getattr(exc, "messages", [str(exc)]))
                )
    team = team_for_user(user=user, challenge=challenge)
    members = list(team_members(team=team)) if team else []
    return render(
        request,
        "challenge/team.html",
        {
            "challenge": challenge,
            "team": team,
            "members": members,
            "is_owner": any(m.user_id == user.id and m.role == m.Role.OWNER for m in members),
            "create_form": create_form,
            "join_form": join_form,
        },
        status=400 if (create_form.errors or join_form.errors) else 200,
    )


TEAM_ACTION_UNKNOWN = "The change could not be understood; use the buttons on the team page."


@login_required
@require_POST
@domain_errors
def team_manage(request: HttpRequest, slug: str) -> HttpResponse:
    """The team page's management buttons: rename, new invite code, remove a member, leave."""
    user = signed_in_user(request)
    challenge = challenge_get(slug=slug, user=user)
    team = team_for_user(user=user, challenge=challenge)
    if team is None:
        messages.info(request, "You are not in a team of this challenge; create or join one.")
        return redirect("challenge:team", slug=challenge.slug)
    action = request.POST.get("action")
    try:
        if action == "rename":
            form = TeamCreateForm(request.POST)
            if not form.is_valid():
                raise ApplicationError("Enter the team's new name (at most 100 characters).")
            team_rename(team=team, user=user, name=form.cleaned_data["name"])
            messages.success(request, f"The team is now called {team.name!r}.")
        elif action == "rotate":
            team_invite_rotate(team=team, user=user)
            messages.success(request, "A new invite code was made; the previous one no longer works.")
        elif action == "remove":
            member = team_members(team=team).filter(user_id=request.POST.get("member_id") or 0).first()
            team_member_remove(team=team, user=user, member_id=member.user_id if member else 0)
            if member is not None:  # removing nobody raised above
                messages.success(request, f"{member.user.get_username()} was removed from the team.")
        elif action == "leave":
            deleted = team_leave(team=team, user=user)
            messages.success(
                request,
                f"You left team {team.name!r}."
                + (" It had no other member and was deleted." if deleted else ""),
            )
            return redirect("challenge:detail", slug=challenge.slug)
        else:
            messages.error(request, TEAM_ACTION_UNKNOWN)
    except PermissionDeniedError as exc:
        messages.error(request, exc.message)
    except (ApplicationError, ValidationError) as exc:
        messages.error(
            request, getattr(exc, "message", None) or " ".join(getattr(exc, "messages", [str(exc)]))
        )
    return redirect("challenge:team", slug=challenge.slug)


@transaction.non_atomic_requests  # the upload streams outside any transaction; the service opens a short one
@login_required
@domain_errors
def submission_new(request: HttpRequest, slug: str, phase_slug: str) -> HttpResponse:
    user = signed_in_user(request)
    challenge = challenge_get(slug=slug, user=user)
    phase = phase_get(challenge=challenge, slug=phase_slug, user=user)
    team = team_for_user(user=user, challenge=challenge)
    if team is None:
        messages.info(request, "Create or join a team before you submit.")
        return redirect("challenge:team", slug=challenge.slug)
    status = phase_status(phase=phase, team=team)
    is_organiser = challenge_is_organiser(user=user, challenge=challenge)
    form = SubmissionForm(request.POST or None, request.FILES or None)
    duplicate = None
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        upload = data.pop("file")
        try:
            wait = throttle_allows(request, scope="upload")  # the API's upload throttle, on the form too
            if wait is not None:
                raise ApplicationError(THROTTLED.format(wait=wait))
            submission = submission_create(user=user, phase=phase, file=upload, filename=upload.name, **data)
        except DuplicateSubmissionError as exc:  # shown with a link to the earlier submission
            duplicate = {
                "message": exc.page_message,
                "id": exc.submission_id,
                "path": reverse("challenge:submission", kwargs={"submission_id": exc.submission_id}),
            }
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            url = reverse("challenge:submission", kwargs={"submission_id": submission.id})
            messages.success(request, f"Submission #{submission.id} received; it is queued for scoring.")
            if request.headers.get("X-Requested-With") == "XMLHttpRequest":
                return JsonResponse({"redirect": url, "id": submission.id}, status=201)
            return redirect(url)
    return render(
        request,
        "challenge/submission_new.html",
        {
            "challenge": challenge,
            "phase": phase,
            "team": team,
            "form": form,
            "chunked_above": settings.UPLOAD_CHUNKED_THRESHOLD,
            "status": status,
            "terms_ok": is_organiser or terms_accepted(challenge=challenge, user=user),
            # organisers may submit baselines outside the phase's dates (phase_ensure_open)
            "show_form": status.accepts_submissions or (is_organiser and status.state != "not_ready"),
            "splits": phase.splits.select_related("dataset").order_by("dataset__order", "dataset__id"),
            "duplicate": duplicate,
        },
        status=409 if duplicate else 400 if form.errors else 200,
    )


@login_required
@domain_errors
def submission_mine(request: HttpRequest, slug: str) -> HttpResponse:
    """The user's teams' submissions: score (where the phase shows the team its scores), status, file,
    filter by phase and status, and cancel while waiting."""
    user = signed_in_user(request)
    challenge = challenge_get(slug=slug, user=user)
    phases = list(phase_list(challenge=challenge))
    form = SubmissionFilterForm(request.GET or None, phases=phases)
    submissions = submission_list(user=user, challenge=challenge).select_related("result")
    if form.is_valid():
        if form.cleaned_data["phase"]:
            submissions = submissions.filter(phase__slug=form.cleaned_data["phase"])
        if form.cleaned_data["status"]:
            submissions = submissions.filter(status=form.cleaned_data["status"])
    else:
        submissions = submissions.none() if form.is_bound else submissions
    rows = list(submissions)
    for s in rows:
        result = submission_result(submission=s, user=user)
        shown = {  # what the template shows of each row, set on the instance for it
            "visible_score": None if result is None else result.primary_score,
            "scores_hidden": not submission_results_visible(submission=s, user=user),
            "cancellable": s.status in (Submission.Status.SUBMITTED, Submission.Status.QUEUED),
        }
        for attribute, value in shown.items():
            setattr(s, attribute, value)
    return render(
        request,
        "challenge/submission_list.html",
        {
            "challenge": challenge,
            "team": team_for_user(user=user, challenge=challenge),
            "submissions": rows,
            "form": form,
            "filtered": form.is_bound,
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


@login_required
@require_POST
@domain_errors
def submission_cancel_view(request: HttpRequest, submission_id: int) -> HttpResponse:
    """A member cancels a waiting submission from My submissions or its page; refusals say why."""
    user = signed_in_user(request)
    submission = submission_get(submission_id=submission_id, user=user)
    try:
        submission_cancel(submission=submission, user=user)
        messages.success(request, SUBMISSION_CANCELLED.format(id=submission.id))
    except ApplicationError as exc:
        if isinstance(exc, PermissionDeniedError):
            raise
        messages.error(request, exc.message)
    return redirect("challenge:submissions", slug=submission.phase.challenge.slug)


@login_required
@require_GET
@domain_errors
def submission_file(request: HttpRequest, submission_id: int) -> HttpResponseBase:
    """The uploaded file, for its team's members and the challenge's organisers (404 for anyone else,
    and once retention has removed the file)."""
    submission = submission_get(submission_id=submission_id, user=request.user)
    if not submission.file:
        raise Http404(SUBMISSION_FILE_GONE)
    try:
        handle = submission.file.open("rb")
    except OSError as exc:
        raise Http404(SUBMISSION_FILE_GONE) from exc
    name = submission.original_filename or (submission.file.name or "").rsplit("/", 1)[-1]
    return FileResponse(handle, as_attachment=True, filename=name)


@login_required
@domain_errors
def submission_detail(request: HttpRequest, submission_id: int) -> HttpResponse:
    user = signed_in_user(request)
    submission = submission_get(submission_id=submission_id, user=user)
    visible = submission_results_visible(submission=submission, user=user)
    result = submission_result(submission=submission, user=user)
    datasets = phase_dataset_names(phase=submission.phase)
    progress_datasets = (submission.progress or {}).get("datasets") or {}
    rows = []
    # Aggregate intervals only (never per-query ranks), shown where the scores are, if the phase shows them.
    intervals = (
        (result.intervals or None) if result is not None and submission.phase.intervals_enabled else None
    )
    if result is not None:
        for name in datasets:
            entry = result.metrics.get(name)
            if entry is not None:
                interval = None if intervals is None else (intervals.get("datasets") or {}).get(name)
                rows.append({"name": name, **entry, "interval": interval})
    return render(
        request,
        "challenge/submission_detail.html",
        {
            "submission": submission,
            "result": result,
            "results_visible": visible,
            "overall_interval": None if intervals is None else intervals.get("overall_score"),
            "dataset_rows": rows,
            # the rank metrics, then the relevance metrics the result reports (mAP@10, nDCG, ...)
            "metric_keys": reported_metric_keys(row.get(d) for row in rows for d in ("t2v", "v2t")),
            "is_member": submission.team.memberships.filter(user=user).exists(),
            "is_organiser": challenge_is_organiser(user=user, challenge=submission.phase.challenge_id),
            # code phases: run time, memory, hardware; the program's output only where the phase shows it
            "program_run": submission_program_run_visible(
                submission=submission,
                organiser=challenge_is_organiser(user=user, challenge=submission.phase.challenge_id),
            ),
            # per-dataset evaluation progress, updated live by static/js/poll.js from the API
            "progress_rows": [
                {"name": name, "fraction": float(progress_datasets.get(name) or 0.0)} for name in datasets
            ],
        },
    )


@login_required
@require_POST
@domain_errors
def submission_change(request: HttpRequest, submission_id: int) -> HttpResponse:
    user = signed_in_user(request)
    submission = submission_get(submission_id=submission_id, user=user)
    form = SubmissionUpdateForm(request.POST)
    if form.is_valid():
        try:
            submission_update(
                submission=submission,
                user=user,
                is_public=form.cleaned_data["is_public"],
                is_final=form.cleaned_data["is_final"],
            )
            messages.success(request, "Submission updated.")
        except ApplicationError as exc:
            if isinstance(exc, PermissionDeniedError):
                raise
            messages.error(request, exc.message)
    else:
        messages.error(request, "The change could not be understood; use the buttons on this page.")
    return redirect("challenge:submission", submission_id=submission.id)
