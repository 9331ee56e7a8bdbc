"""Site-wide error views: the API answers in JSON even for URLs no route matches."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views import defaults
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)
    return defaults.permission_denied(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": "Internal server error; the operators have been notified."}, status=500
        )
    return defaults.server_error(request)


class ApiIndex(APIView):
    """`/api/v1/`: where to start, for a person or a client that opens the API's root."""

    permission_classes = [AllowAny]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        def url(name: str, *args: object) -> str:
            return request.build_absolute_uri(reverse(name, args=args))

        return Response(
            {
                "detail": "The Pentathlon API, version 1. Its whole description is at `schema`; "
                "send `Authorization: Token <key>` (from `token`, or your profile's API token page).",
                "schema": url("openapi-schema"),
                "docs": url("openapi-docs"),
                "token": url("api:token"),
                "challenges": url("api:challenge-list"),
                "submissions": url("api:submission-list"),
                "team": request.build_absolute_uri("/api/v1/challenges/<slug>/team/"),
                "leaderboard": request.build_absolute_uri("/api/v1/phases/<phase id>/leaderboard/"),
            }
        )
