"""A challenge's phases from the console: create one, edit its settings, upload its ground truth and a
code phase's gallery inputs, lock the participants' public choice."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from challenge.forms import PhaseCreateForm, PhaseSettingsForm
from challenge.models import Phase
from challenge.organiser import phase_public_choice_lock
from challenge.organiser_views.access import (
    SignedInRequest,
    form_errors_show,
    organised_challenge,
    organiser_only,
)
from challenge.services.code import phase_gallery_inputs_upload
from challenge.services.organiser import phase_create, phase_ground_truth_upload, phase_settings_update
from core.exceptions import ApplicationError

GALLERY_FILE_MISSING = "Choose the .zip of gallery inputs to upload, or remove the current ones."
GROUND_TRUTH_FILE_MISSING = "Choose the ground-truth HDF5 file to upload (see docs/blind-phases.md)."
PHASE_CREATED = "{phase}: phase created. Upload its ground truth: it accepts no submission until then."
PHASE_SAVED = "{phase}: settings saved ({fields})."
PHASE_UNCHANGED = "{phase}: nothing changed."


@login_required
@require_POST
def phase_ground_truth_view(request: SignedInRequest, phase_id: int) -> HttpResponse:
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
@require_POST
def phase_gallery_inputs_view(request: SignedInRequest, phase_id: int) -> HttpResponse:
    """Upload (or remove, with `remove`) a code phase's gallery inputs from the dashboard, through the
    admin's one service; every later run gets them at /input/gallery/ (docs/code-phases.md)."""
    phase = get_object_or_404(Phase.objects.select_related("challenge"), id=phase_id)
    organiser_only(phase.challenge_id, request)
    upload = request.FILES.get("file")
    removing = request.POST.get("remove") == "1"
    if upload is None and not removing:
        messages.error(request, GALLERY_FILE_MISSING)
        return redirect("challenge:organiser", slug=phase.challenge.slug)
    try:
        phase = phase_gallery_inputs_upload(
            phase=phase, file=None if removing else upload, actor=request.user
        )
    except ApplicationError as exc:
        messages.error(request, f"{phase.title}: the gallery inputs were not stored. {exc.message}")
    else:
        if removing:
            messages.success(request, f"{phase.title}: gallery inputs removed; runs get no /input/gallery/.")
        else:
            messages.success(
                request,
                f"{phase.title}: gallery inputs stored ({phase.gallery_inputs.size:,} bytes); every run from now"
                " on gets them at /input/gallery/.",
            )
    return redirect("challenge:organiser", slug=phase.challenge.slug)


@login_required
def phase_create_view(request: SignedInRequest, slug: str) -> HttpResponse:
    """Add a phase to the challenge (every setting of the edit form, and its short name), through
    `phase_create`."""
    challenge = organised_challenge(request, slug)
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
            form_errors_show(form, exc)
        else:
            messages.success(request, PHASE_CREATED.format(phase=phase.title))
            return redirect(f"{reverse('challenge:organiser', args=[challenge.slug])}#phase-{phase.slug}")
    return render(
        request,
        "challenge/organiser_phase.html",
        {"challenge": challenge, "phase": None, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
def phase_settings_view(request: SignedInRequest, phase_id: int) -> HttpResponse:
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
            form_errors_show(form, exc)
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
@require_POST
def phase_lock_view(request: SignedInRequest, phase_id: int) -> HttpResponse:
    phase = get_object_or_404(Phase.objects.select_related("challenge"), id=phase_id)
    organiser_only(phase.challenge_id, request)
    phase_public_choice_lock(phase=phase, locked=request.POST.get("locked", "1") == "1", actor=request.user)
    messages.success(
        request,
        f"{phase.title}: participants' public choice "
        f"{'locked' if phase.public_choice_locked else 'unlocked'}.",
    )
    return redirect("challenge:organiser", slug=phase.challenge.slug)
