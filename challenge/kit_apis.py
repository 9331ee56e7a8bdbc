"""Starter-kit download API (kept apart from `challenge.apis` while that module is being built)."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from challenge.selectors import phase_kit_get
from challenge.services.terms import terms_ensure_accepted
from challenge.starter_kit import starter_kit_filename, starter_kit_open


class PhaseStarterKitApi(APIView):
    """GET the phase's starter kit (orderings, shapes, README, example submission) as a zip attachment.

    Anyone may download the kit of a visible phase once it has opened; before that, and for a hidden
    challenge's phases, it answers 404 except to organisers. The kit never holds the ground truth (see `challenge.starter_kit`).
    """

    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="the starter kit (zip)"
            ),
            403: OpenApiResponse(description="the challenge asks participants to accept its rules first"),
            404: OpenApiResponse(
                description="no such visible phase, the phase has not opened yet, or its ground truth is not uploaded yet"
            ),
        }
    )
    def get(self, request: Request, phase_id: int) -> FileResponse:
        phase = phase_kit_get(phase_id=phase_id, user=request.user)
        terms_ensure_accepted(
            challenge=phase.challenge, user=request.user, what="downloading the starter kit"
        )
        # Streamed from the kit cached in the private storage (built on first use), never held in memory.
        response = FileResponse(
            starter_kit_open(phase=phase),
            as_attachment=True,
            filename=starter_kit_filename(phase=phase),
            content_type="application/zip",
        )
        response["Cache-Control"] = "private, max-age=300"
        return response
