"""The organisers' ground-truth API: upload a phase's hidden ground truth (with the public annotations
for the caption audit), choose how it is published (query order, query text).

All go through the services the admin and `manage.py phase_ground_truth` use; the response carries
the leak audit of the uploaded ids and order and the caption audit of its texts (docs/blind-phases.md).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenge.models import Phase
from challenge.publication import (
    phase_caption_findings,
    phase_caption_warning,
    phase_leak_findings,
    phase_query_order_warning,
)
from challenge.selectors import challenge_is_organiser, phase_get, phase_not_found
from challenge.services import phase_ground_truth_set, phase_query_order_set, phase_query_text_set
from core.exceptions import ApplicationError

QUERY_TEXT_REQUIRED = (
    "Give publish_query_text: true (publish the queries' text in the kit) or false (withhold it)."
)


def _organised_phase(*, phase_id: int, user: User | AnonymousUser) -> Phase:
    """The phase, if `user` organises its challenge; others get the 404 an unknown phase gets."""
    phase = phase_get(phase_id=phase_id, user=user)
    if not challenge_is_organiser(user=user, challenge=phase.challenge_id):
        raise phase_not_found(user=user, phase_id=phase_id)
    return phase


class PhaseGroundTruthOutput(serializers.Serializer[Any]):
    phase = serializers.IntegerField(source="id")
    query_order = serializers.CharField()
    publish_query_text = serializers.BooleanField()
    ground_truth_sha256 = serializers.CharField()
    ground_truth_uploaded_at = serializers.DateTimeField(allow_null=True)
    datasets = serializers.SerializerMethodField()
    audit = serializers.JSONField(source="ground_truth_audit")
    findings = serializers.SerializerMethodField()
    warning = serializers.SerializerMethodField()
    caption_audit = serializers.JSONField()
    caption_findings = serializers.SerializerMethodField()
    caption_warning = serializers.SerializerMethodField()

    def get_datasets(self, phase: Phase) -> list[dict[str, Any]]:
        return [
            {"name": s.dataset.name, "num_queries": s.num_queries, "num_videos": s.num_videos}
            for s in phase.splits.select_related("dataset")
        ]

    def get_findings(self, phase: Phase) -> list[str]:
        return phase_leak_findings(phase=phase)

    def get_warning(self, phase: Phase) -> str | None:
        return phase_query_order_warning(phase=phase)

    def get_caption_findings(self, phase: Phase) -> list[str]:
        return phase_caption_findings(phase=phase)

    def get_caption_warning(self, phase: Phase) -> str | None:
        return phase_caption_warning(phase=phase)


def _validation_error(exc: ValidationError) -> ApplicationError:
    return ApplicationError(" ".join(exc.messages))


class PhaseGroundTruthApi(APIView):
    """GET the ground truth's summary and audits; POST (multipart `file`) a new ground-truth HDF5, with
    optional `annotations`: the public caption -> video table the caption audit looks the texts up in
    (TSV or CSV with the columns caption and video_id; `evaluation.caption_audit`).

    Organisers of the phase's challenge only; the file itself is never served back.
    """

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "upload"

    @extend_schema_serializer(component_name="GroundTruthUploadInput")
    class InputSerializer(serializers.Serializer[Any]):
        file = serializers.FileField(max_length=255)
        annotations = serializers.FileField(max_length=255, required=False)

    @extend_schema(responses=PhaseGroundTruthOutput)
    def get(self, request: Request, phase_id: int) -> Response:
        phase = _organised_phase(phase_id=phase_id, user=request.user)
        return Response(PhaseGroundTruthOutput(phase).data)

    @extend_schema(request=InputSerializer, responses=PhaseGroundTruthOutput)
    def post(self, request: Request, phase_id: int) -> Response:
        phase = _organised_phase(phase_id=phase_id, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            phase = phase_ground_truth_set(
                phase=phase,
                file=serializer.validated_data["file"],
                annotations=serializer.validated_data.get("annotations"),
            )
        except ValidationError as exc:
            raise _validation_error(exc) from exc
        phase.refresh_from_db()
        return Response(PhaseGroundTruthOutput(phase).data, status=201)


class PhaseQueryOrderApi(APIView):
    """PUT {"query_order": "blind" | "as_uploaded"}: how the phase publishes its queries."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="QueryOrderInput")
    class InputSerializer(serializers.Serializer[Any]):
        query_order = serializers.ChoiceField(choices=Phase.QueryOrder.choices)

    @extend_schema(request=InputSerializer, responses=PhaseGroundTruthOutput)
    def put(self, request: Request, phase_id: int) -> Response:
        phase = _organised_phase(phase_id=phase_id, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        phase = phase_query_order_set(phase=phase, query_order=serializer.validated_data["query_order"])
        return Response(PhaseGroundTruthOutput(phase).data)


class PhaseQueryTextApi(APIView):
    """PUT {"publish_query_text": true | false}: publish the queries' text in the kit, or withhold it."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="QueryTextInput")
    class InputSerializer(serializers.Serializer[Any]):
        publish_query_text = serializers.BooleanField()

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            # A form body without the field would read as false (HTML checkbox rule): require it.
            if "publish_query_text" not in self.initial_data:
                raise serializers.ValidationError({"publish_query_text": [QUERY_TEXT_REQUIRED]})
            return attrs

    @extend_schema(request=InputSerializer, responses=PhaseGroundTruthOutput)
    def put(self, request: Request, phase_id: int) -> Response:
        phase = _organised_phase(phase_id=phase_id, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        phase = phase_query_text_set(phase=phase, publish=serializer.validated_data["publish_query_text"])
        return Response(PhaseGroundTruthOutput(phase).data)
