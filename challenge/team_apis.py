"""The signed-in user's team in a challenge, over the API: show it, create one, join one (what the team
page does, through the same services). Used by `pentathlon team`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenge.models import Team
from challenge.selectors import challenge_get, team_members
from challenge.services import team_create, team_join
from challenge.services.teams import team_of
from challenge.signed_in import signed_in_user
from challenge.throttles import THROTTLED, throttle_allows
from core.exceptions import ApplicationError


class TeamSerializer(serializers.Serializer[Team]):
    name = serializers.CharField()
    is_approved = serializers.BooleanField()
    invite_code = serializers.CharField()
    members = serializers.SerializerMethodField()

    def get_members(self, team: Team) -> list[dict[str, Any]]:
        return [{"username": m.user.get_username(), "role": m.role} for m in team_members(team=team)]


def _answer(request: Request, team: Team, code: int = status.HTTP_200_OK) -> Response:
    data = TeamSerializer(team).data
    data["challenge"] = team.challenge.slug
    data["team_page"] = request.build_absolute_uri(f"/c/{team.challenge.slug}/team/")
    return Response(data, status=code)


class TeamMineApi(APIView):
    """GET your team in the challenge (403 naming the team page when you have none); POST `{"name"}`
    to create one, with you as its owner."""

    permission_classes = [IsAuthenticated]

    class CreateSerializer(serializers.Serializer[Any]):
        name = serializers.CharField(max_length=100)

    @extend_schema(responses={200: TeamSerializer, 403: OpenApiResponse(description="in no team of it")})
    def get(self, request: Request, slug: str) -> Response:
        user = signed_in_user(request)
        challenge = challenge_get(slug=slug, user=user)
        return _answer(request, team_of(user=user, challenge=challenge))

    @extend_schema(request=CreateSerializer, responses={201: TeamSerializer})
    def post(self, request: Request, slug: str) -> Response:
        user = signed_in_user(request)
        challenge = challenge_get(slug=slug, user=user)
        data = self.CreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wait = throttle_allows(request, scope="team_create", per_address=True)
        if wait is not None:
            raise ApplicationError(THROTTLED.format(wait=wait))
        team = team_create(challenge=challenge, user=user, name=data.validated_data["name"])
        return _answer(request, team, status.HTTP_201_CREATED)


class TeamJoinApi(APIView):
    """POST `{"invite_code"}`: join the team that gave you its code."""

    permission_classes = [IsAuthenticated]

    class JoinSerializer(serializers.Serializer[Any]):
        invite_code = serializers.CharField(max_length=32)

    @extend_schema(request=JoinSerializer, responses={200: TeamSerializer})
    def post(self, request: Request, slug: str) -> Response:
        user = signed_in_user(request)
        challenge = challenge_get(slug=slug, user=user)
        data = self.JoinSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = team_join(challenge=challenge, user=user, invite_code=data.validated_data["invite_code"])
        return _answer(request, team)
