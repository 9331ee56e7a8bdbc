"""Challenges from the console: create one, edit its settings, or load, validate and export it as a
YAML bundle (`challenge.bundle`)."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from challenge.bundle import BundleError, bundle_dump, bundle_load, bundle_parse, bundle_validate
from challenge.forms import ChallengeCreateForm, ChallengeForm, ChallengePagesBase, ChallengePagesFormSet
from challenge.models import Challenge
from challenge.organiser_views.access import (
    NOT_ORGANISER,
    SignedInRequest,
    form_errors_show,
    organised_challenge,
    organiser_only,
)
from challenge.selectors import challenge_organised_list
from challenge.services.organiser import challenge_create, challenge_settings_update
from core.exceptions import PermissionDeniedError

CHALLENGE_CREATED = "Challenge {title!r} created; you organise it. Add its phases next."
CHALLENGE_SAVED = "{title}: settings saved."


@login_required
@require_http_methods(["GET", "POST"])
def challenge_create_view(request: SignedInRequest) -> HttpResponse:
    """Create a challenge (site staff; the creator becomes its organiser), through `challenge_create`."""
    if not (request.user.is_staff or request.user.is_superuser):
        raise Http404(NOT_ORGANISER)
    form = ChallengeCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            challenge = challenge_create(actor=request.user, **data)
        except ValidationError as exc:
            form_errors_show(form, exc)
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
def challenge_settings_view(request: SignedInRequest, slug: str) -> HttpResponse:
    """Edit the challenge's pages, rules, metric, approval and datasets through `challenge_settings_update`.

    The extra pages are a formset beside the form; a POST without it (a script posting the settings
    alone) leaves the pages as they are."""
    challenge = organised_challenge(request, slug)
    form = ChallengeForm(request.POST or None, instance=Challenge.objects.get(id=challenge.id))
    posted_pages = request.method == "POST" and "pages-TOTAL_FORMS" in request.POST
    pages = cast(
        ChallengePagesBase,
        ChallengePagesFormSet(
            request.POST if posted_pages else None, initial=list(challenge.pages or []), prefix="pages"
        ),
    )
    if request.method == "POST" and form.is_valid() and (not posted_pages or pages.is_valid()):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name != "datasets"}
        if posted_pages and pages.pages() != list(challenge.pages or []):
            changes["pages"] = pages.pages()
        try:
            challenge_settings_update(
                challenge=challenge, actor=request.user, datasets=form.cleaned_data["datasets"], **changes
            )
        except ValidationError as exc:
            form_errors_show(form, exc)
        else:
            messages.success(request, CHALLENGE_SAVED.format(title=challenge.title))
            return redirect("challenge:organiser", slug=challenge.slug)
    invalid = bool(form.errors) or (posted_pages and not pages.is_valid())
    return render(
        request,
        "challenge/organiser_challenge.html",
        {"form": form, "challenge": challenge, "pages": pages},
        status=400 if invalid else 200,
    )


@login_required
def bundle_page(request: SignedInRequest) -> HttpResponse:
    """Paste or upload a YAML bundle; "Validate" lists every problem, "Load" creates or updates the challenge.

    Open to staff (who may create challenges) and to organisers (who may update theirs); the loader
    refuses a challenge the user does not organise.
    """
    organised = challenge_organised_list(user=request.user)
    if not (request.user.is_staff or organised.exists()):
        raise Http404(NOT_ORGANISER)
    text = request.POST.get("bundle", "")
    upload = request.FILES.get("file")
    if upload:
        text = upload.read().decode("utf-8", errors="replace")
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
def bundle_export_view(request: SignedInRequest, slug: str) -> HttpResponse:
    challenge = get_object_or_404(Challenge, slug=slug)
    organiser_only(challenge.id, request)
    response = HttpResponse(bundle_dump(challenge=challenge), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{challenge.slug}.yaml"'
    return response
