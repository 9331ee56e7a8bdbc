"""Public leaderboard API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenge.selectors import phase_get
from leaderboard.selectors import leaderboard_datasets, leaderboard_rows

RESULTS_HIDDEN = "The results of this phase are hidden until the organisers publish them."


class LeaderboardListApi(APIView):
    """One row per team: its best public finished submission (ties go to the earlier one)."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="LeaderboardEntry")
    class OutputSerializer(serializers.Serializer):
        rank = serializers.IntegerField()
        team = serializers.CharField()
        submission_id = serializers.IntegerField()
        method_name = serializers.CharField()
        paper_url = serializers.CharField()
        code_url = serializers.CharField()
        is_baseline = serializers.BooleanField()
        primary_score = serializers.FloatField()
        scores = serializers.DictField(child=serializers.FloatField(allow_null=True))
        submitted_at = serializers.DateTimeField()

    @extend_schema(responses=inline_serializer("Leaderboard", {
        "phase": serializers.IntegerField(), "phase_slug": serializers.CharField(),
        "challenge": serializers.CharField(), "published": serializers.BooleanField(),
        "datasets": serializers.ListField(child=serializers.CharField()), "detail": serializers.CharField(),
        "entries": OutputSerializer(many=True)}))
    def get(self, request: Request, phase_id: int) -> Response:
        phase = phase_get(phase_id=phase_id, user=request.user)
        visible = phase.results_published or request.user.is_staff
        rows = leaderboard_rows(phase=phase) if visible else []
        return Response({
            "phase": phase.id, "phase_slug": phase.slug, "challenge": phase.challenge.slug,
            "published": phase.results_published, "datasets": leaderboard_datasets(phase=phase),
            "detail": "" if visible else RESULTS_HIDDEN,
            "entries": self.OutputSerializer(rows, many=True).data,
        })
