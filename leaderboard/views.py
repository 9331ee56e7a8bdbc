"""Public leaderboard pages."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from challenge.selectors import challenge_get, phase_get, phase_list
from challenge.views import domain_errors
from leaderboard.selectors import leaderboard_datasets, leaderboard_rows


@domain_errors
def leaderboard_page(request: HttpRequest, slug: str, phase_slug: str) -> HttpResponse:
    challenge = challenge_get(slug=slug, user=request.user)
    phase = phase_get(challenge=challenge, slug=phase_slug, user=request.user)
    visible = phase.results_published or request.user.is_staff
    return render(request, "leaderboard/leaderboard.html", {
        "challenge": challenge, "phase": phase, "phases": phase_list(challenge=challenge),
        "visible": visible, "datasets": leaderboard_datasets(phase=phase),
        "rows": leaderboard_rows(phase=phase) if visible else [],
    })
