"""Organiser pages and the user's profile page. Thin: services and selectors act.

Every organiser page acts on one challenge and answers only that challenge's organisers (and
superusers), through `challenge_is_organiser`; anyone else signed in gets a 404, as if the object
did not exist, and visitors are sent to the login page. Staff status alone opens nothing here.
The bundle page also serves staff users, who may create new challenges with it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import user_email_verified
from challenge.bundle import BundleError, bundle_dump, bundle_load, bundle_parse, bundle_validate
from challenge.forms import (
    ChallengeCreateForm,
    ChallengeForm,
    OrganiserSubmissionFilterForm,
    PhaseCreateForm,
    PhaseSettingsForm,
)
from challenge.models import Challenge, OrganiserAction, Phase, Submission, Team
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
from challenge.publication import (
    phase_caption_findings,
    phase_caption_warning,
    phase_leak_findings,
    phase_query_order_warning,
)
from challenge.selectors import (
    challenge_is_organiser,
    challenge_organised_list,
    challenge_team_count,
    phase_dashboard_counts,
    phase_status,
)
from challenge.services.organiser import (
    challenge_create,
    challenge_settings_update,
    phase_create,
    phase_ground_truth_upload,
    phase_settings_update,
    submission_cancel_by_organiser,
    team_member_remove_as_organiser,
)
from core.csv_export import csv_writer
from core.exceptions import ApplicationError, PermissionDeniedError
from core.views import Echo

NOT_ORGANISER = "Nothing here: you do not organise this challenge."


def _back(request: HttpRequest, default: str) -> HttpResponse:
    """Back to the page the form was on (`next`, this site only), else `default`."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return redirect(target)


def organiser_only(challenge_id: int, request: HttpRequest) -> None:
    """404 unless the signed-in user organises the challenge (see `challenge_is_organiser`)."""
    if not challenge_is_organiser(user=request.user, challenge=challenge_id):
        raise Http404(NOT_ORGANISER)


@login_required
def organiser_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    challenge = get_object_or_404(Challenge, slug=slug)
    organiser_only(challenge.id, request)
    phases = list(challenge.phases.order_by("order", "id"))
    for phase in phases:
        phase.query_order_warning = phase_query_order_warning(phase=phase)
        phase.leak_findings = phase_leak_findings(phase=phase)
        phase.caption_warning = phase_caption_warning(phase=phase)
        phase.caption_findings = phase_caption_findings(phase=phase)
        phase.counts = phase_dashboard_counts(phase=phase)
        phase.state_now = phase_status(phase=phase)
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


GROUND_TRUTH_FILE_MISSING = "Choose the ground-truth HDF5 file to upload (see docs/blind-phases.md)."


@login_required
@require_POST
def phase_ground_truth_view(request: HttpRequest, phase_id: int) -> HttpResponse:
    """Upload a phase's hidden ground truth from the dashboard, through the one service (`phase_ground_truth_set`)
    that the admin, `manage.py phase_ground_truth` and the API use, with the optional public annotations
    (`annotations`) for the caption audit; both audits show on the dashboard, the upload in the log."""
    phase = get_object_or_404(Phase.objects.select_related("challenge"), id=phase_id)
    organiser_only(phase.challenge_id, request)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, GROUND_TRUTH_FILE_MISSING)
        return redirect("challenge:organiser", slug=phase.challenge.slug)
    try:
        phase = phase_ground_truth_upload(
            phase=phase, file=upload, annotations=request.FILES.get("annotations"), actor=request.user
        )
    except (ApplicationError, ValidationError) as exc:
        messages.error(
            request,
            f"{phase.title}: the ground truth was not stored. "
            + (getattr(exc, "message", None) or " ".join(getattr(exc, "messages", [str(exc)]))),
        )
    else:
        datasets = ", ".join(
            f"{s.dataset.name} ({s.num_queries} queries, {s.num_videos} videos)"
            for s in phase.splits.select_related("dataset").order_by("dataset__order")
        )
        messages.success(request, f"{phase.title}: ground truth stored for {datasets}.")
    return redirect("challenge:organiser", slug=phase.challenge.slug)


@login_required
def bundle_page(request: HttpRequest) -> HttpResponse:
    """Paste or upload a YAML bundle; "Validate" lists every problem, "Load" creates or updates the challenge.

    Open to staff (who may create challenges) and to organisers (who may update theirs); the loader
    refuses a challenge the user does not organise.
    """
    organised = challenge_organised_list(user=request.user)
    if not (request.user.is_staff or organised.exists()):
        raise Http404(NOT_ORGANISER)
    text = request.POST.get("bundle", "")
    if request.FILES.get("file"):
        text = request.FILES["file"].read().decode("utf-8", errors="replace")
    problems: list[str] = []
    status = 200
    if request.method == "POST":
        try:
            data = bundle_parse(text)
            if request.POST.get("action") == "load":
                challenge = bundle_load(data=data, user=request.user)
                messages.success(request, f"Loaded {challenge.title!r}.")
                return redirect("challenge:organiser", slug=challenge.slug)
            problems = bundle_validate(data=data, user=request.user)
            if not problems:
                messages.success(request, "The bundle is valid.")
        except BundleError as exc:
            problems = exc.problems
        except PermissionDeniedError as exc:
            problems, status = [exc.message], 403
        status = status if status == 403 else 400 if problems else 200
    return render(
        request,
        "challenge/bundle.html",
        {"bundle": text, "problems": problems, "challenges": organised},
        status=status,
    )


@login_required
def bundle_export_view(request: HttpRequest, slug: str) -> HttpResponse:
    challenge = get_object_or_404(Challenge, slug=slug)
    organiser_only(challenge.id, request)
    response = HttpResponse(bundle_dump(challenge=challenge), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{challenge.slug}.yaml"'
    return response


@login_required
def submissions_csv(request: HttpRequest, phase_id: int) -> StreamingHttpResponse:
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


def _header_then(phase: Phase):
    yield list(METADATA_COLUMNS)
    yield from submission_metadata_rows(phase=phase)


@login_required
@require_POST
def team_approve_view(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(Team.objects.select_related("challenge"), id=team_id)
    organiser_only(team.challenge_id, request)
    team_approve(team=team, approved=request.POST.get("approved", "1") == "1", actor=request.user)
    messages.success(request, f"Team {team.name!r} {'approved' if team.is_approved else 'unapproved'}.")
    return _back(request, reverse("challenge:organiser", args=[team.challenge.slug]))


@login_required
@require_POST
def phase_lock_view(request: HttpRequest, phase_id: int) -> HttpResponse:
    phase = get_object_or_404(Phase.objects.select_related("challenge"), id=phase_id)
    organiser_only(phase.challenge_id, request)
    phase_public_choice_lock(phase=phase, locked=request.POST.get("locked", "1") == "1", actor=request.user)
    messages.success(
        request,
        f"{phase.title}: participants' public choice "
        f"{'locked' if phase.public_choice_locked else 'unlocked'}.",
    )
    return redirect("challenge:organiser", slug=phase.challenge.slug)


@login_required
@require_POST
def submission_moderate_view(request: HttpRequest, submission_id: int) -> HttpResponse:
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
    return _back(request, reverse("challenge:submission", args=[submission.id]))


@login_required
@require_POST
def submission_refund_view(request: HttpRequest, submission_id: int) -> HttpResponse:
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
def profile_page(request: HttpRequest) -> HttpResponse:
    profile = user_profile_get(user=request.user)
    if request.method == "POST":
        try:
            user_profile_update(
                user=request.user,
                email=request.POST.get("email", request.user.email).strip(),
                email_notifications=request.POST.get("email_notifications") == "on",
            )
            messages.success(request, "Profile saved.")
            return redirect("challenge:profile")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return render(
        request,
        "challenge/profile.html",
        {"profile": profile, "email_verified": user_email_verified(user=request.user)},
    )


def _organised_challenge(request: HttpRequest, slug: str) -> Challenge:
    challenge = get_object_or_404(Challenge, slug=slug)
    organiser_only(challenge.id, request)
    return challenge


@login_required
@require_GET
def organiser_home(request: HttpRequest) -> HttpResponse:
    """The organiser console's front page: the challenges the user organises."""
    challenges = challenge_organised_list(user=request.user).order_by("title")
    return render(request, "challenge/organiser_home.html", {"challenges": challenges})


def _form_errors(form, exc: ValidationError) -> None:  # noqa: ANN001 - any Django form
    """A service's refusal shown next to the field it names (else above the form)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


CHALLENGE_CREATED = "Challenge {title!r} created; you organise it. Add its phases next."
CHALLENGE_SAVED = "{title}: settings saved."


@login_required
@require_http_methods(["GET", "POST"])
def challenge_create_view(request: HttpRequest) -> HttpResponse:
    """Create a challenge (site staff; the creator becomes its organiser), through `challenge_create`."""
    if not (request.user.is_staff or request.user.is_superuser):
        raise Http404(NOT_ORGANISER)
    form = ChallengeCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            challenge = challenge_create(actor=request.user, **data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, CHALLENGE_CREATED.format(title=challenge.title))
            return redirect("challenge:organiser", slug=challenge.slug)
    return render(
        request,
        "challenge/organiser_challenge.html",
        {"form": form, "challenge": None},
        status=400 if form.errors else 200,
    )


@login_required
def challenge_settings_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Edit the challenge's pages, rules, metric, approval and datasets through `challenge_settings_update`."""
    challenge = _organised_challenge(request, slug)
    form = ChallengeForm(request.POST or None, instance=Challenge.objects.get(id=challenge.id))
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name != "datasets"}
        try:
            challenge_settings_update(
                challenge=challenge, actor=request.user, datasets=form.cleaned_data["datasets"], **changes
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, CHALLENGE_SAVED.format(title=challenge.title))
            return redirect("challenge:organiser", slug=challenge.slug)
    return render(
        request,
        "challenge/organiser_challenge.html",
        {"form": form, "challenge": challenge},
        status=400 if form.errors else 200,
    )


PHASE_CREATED = "{phase}: phase created. Upload its ground truth: it accepts no submission until then."


@login_required
def phase_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Add a phase to the challenge (every setting of the edit form, and its short name), through
    `phase_create`."""
    challenge = _organised_challenge(request, slug)
    form = PhaseCreateForm(
        request.POST or None,
        instance=Phase(challenge=challenge),
        initial={"order": challenge.phases.count()},
    )
    if request.method == "POST" and form.is_valid():
        data = {name: value for name, value in form.cleaned_data.items()}
        try:
            phase = phase_create(challenge=challenge, actor=request.user, **data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, PHASE_CREATED.format(phase=phase.title))
            return redirect(f"{reverse('challenge:organiser', args=[challenge.slug])}#phase-{phase.slug}")
    return render(
        request,
        "challenge/organiser_phase.html",
        {"challenge": challenge, "phase": None, "form": form},
        status=400 if form.errors else 200,
    )


PHASE_SAVED = "{phase}: settings saved ({fields})."
PHASE_UNCHANGED = "{phase}: nothing changed."


@login_required
def phase_settings_view(request: HttpRequest, phase_id: int) -> HttpResponse:
    """Edit a phase's dates, quotas, formats, counting rule, visibility and limits (a Django form over
    `phase_settings_update`, which validates, refreshes the boards and logs the change)."""
    phase = get_object_or_404(Phase.objects.select_related("challenge"), id=phase_id)
    organiser_only(phase.challenge_id, request)
    form = PhaseSettingsForm(request.POST or None, instance=Phase.objects.get(id=phase.id))
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            phase_settings_update(phase=phase, actor=request.user, **changes)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            if changes:
                messages.success(request, PHASE_SAVED.format(phase=phase.title, fields=", ".join(changes)))
            else:
                messages.info(request, PHASE_UNCHANGED.format(phase=phase.title))
            return redirect("challenge:organiser", slug=phase.challenge.slug)
    return render(
        request,
        "challenge/organiser_phase.html",
        {"challenge": phase.challenge, "phase": phase, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def console_submissions(request: HttpRequest, slug: str) -> HttpResponse:
    """Every submission of the challenge, filtered by team, status and phase, with its actions."""
    challenge = _organised_challenge(request, slug)
    teams = list(challenge.teams.order_by("name"))
    phases = list(challenge.phases.order_by("order", "id"))
    form = OrganiserSubmissionFilterForm(request.GET or None, teams=teams, phases=phases)
    rows = (
        Submission.objects.filter(phase__challenge=challenge)
        .select_related("team", "phase", "result")
        .order_by("-created_at", "-id")
    )
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
    rows = list(rows[:500])
    for s in rows:
        s.score = getattr(getattr(s, "result", None), "primary_score", None)
        s.cancellable = s.status in (Submission.Status.SUBMITTED, Submission.Status.QUEUED)
    return render(
        request,
        "challenge/organiser_submissions.html",
        {"challenge": challenge, "form": form, "rows": rows, "phases": phases, "filtered": form.is_bound},
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


@login_required
@require_POST
def submission_cancel_org_view(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission = get_object_or_404(Submission.objects.select_related("phase__challenge"), id=submission_id)
    organiser_only(submission.phase.challenge_id, request)
    try:
        submission_cancel_by_organiser(
            submission=submission, reason=request.POST.get("reason", ""), actor=request.user
        )
        messages.success(request, f"Submission #{submission.id} cancelled.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(request, reverse("challenge:console-submissions", args=[submission.phase.challenge.slug]))


@login_required
@require_GET
def console_teams(request: HttpRequest, slug: str) -> HttpResponse:
    """The challenge's teams and participants: approve, withdraw approval, remove a member."""
    challenge = _organised_challenge(request, slug)
    teams = challenge.teams.prefetch_related("memberships__user").order_by("name")
    return render(request, "challenge/organiser_teams.html", {"challenge": challenge, "teams": teams})


@login_required
@require_POST
def team_member_remove_org_view(request: HttpRequest, team_id: int) -> HttpResponse:
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
@require_GET
def console_log(request: HttpRequest, slug: str) -> HttpResponse:
    """Every organiser action on the challenge, newest first: who, what, when."""
    challenge = _organised_challenge(request, slug)
    actions = OrganiserAction.objects.filter(challenge=challenge).order_by("-created_at", "-id")[:1000]
    return render(request, "challenge/organiser_log.html", {"challenge": challenge, "actions": actions})
