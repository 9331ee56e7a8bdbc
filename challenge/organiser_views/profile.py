"""The signed-in user's profile page: email address and notifications."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from accounts.selectors import user_email_verified
from challenge.organiser import user_profile_get, user_profile_update
from challenge.organiser_views.access import SignedInRequest


@login_required
def profile_page(request: SignedInRequest) -> HttpResponse:
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
