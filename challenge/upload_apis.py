"""Resumable chunked upload API for big submission files.

    POST   uploads/                 {phase, filename, size, [sha256], method_name, ...}  -> 201 {id, chunk_size, offset: 0}
    PUT    uploads/<id>/            raw bytes; Content-Range: bytes START-END/SIZE (or Upload-Offset: START)
    HEAD   uploads/<id>/            Upload-Offset / Upload-Length headers: where to resume
    GET    uploads/<id>/            the same as JSON
    POST   uploads/<id>/complete/   {sha256}  -> 201 the submission (through `submission_create`)

A chunk sent again is harmless (same bytes, same offset); a chunk that starts beyond the received
offset is refused with 409 and the offset to resume from. Bodies are streamed to the partial file in
1 MiB blocks: the web process never holds a chunk in memory.

A file the team already submitted to the phase is refused with 409 and the earlier submission
(`extra: {submission, url}`): at the start when the client declares its sha256 (no byte is sent),
else at completion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any
from uuid import UUID

from django.contrib.auth.models import User
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenge.apis import (
    DuplicateFileSerializer,
    SubmissionMetadataInput,
    SubmissionOutputSerializer,
    _with_results,
)
from challenge.models import ChunkedUpload
from challenge.selectors import phase_get
from challenge.services import (
    UPLOAD_GAP,
    chunked_upload_complete,
    chunked_upload_create,
    chunked_upload_write,
)
from challenge.signed_in import signed_in_user
from core.exceptions import ApplicationError, NotFoundError

UPLOAD_NOT_FOUND = "No such upload; start a new one with POST /api/v1/uploads/."
BAD_RANGE = (
    "Send the chunk's position as `Content-Range: bytes START-END/SIZE` (END inclusive) or "
    "`Upload-Offset: START`, with a Content-Length."
)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class RawBodyParser(BaseParser):
    """Declares application/octet-stream; the view streams `request.stream` itself, so this never parses."""

    media_type = "*/*"

    def parse(  # pragma: no cover - never called
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return {}


def _upload_of(*, upload_id: UUID, user: User) -> ChunkedUpload:
    upload = ChunkedUpload.objects.select_related("phase").filter(id=upload_id, user_id=user.pk).first()
    if upload is None:
        raise NotFoundError(UPLOAD_NOT_FOUND)
    return upload


def _state(upload: ChunkedUpload) -> dict[str, Any]:
    from django.conf import settings

    return {
        "id": str(upload.id),
        "filename": upload.filename,
        "size": upload.size,
        "offset": upload.received,
        "chunk_size": settings.UPLOAD_CHUNK_BYTES,
        "status": upload.status,
        "submission": upload.submission_id,
    }


def _with_offset_headers(response: Response, upload: ChunkedUpload) -> Response:
    response["Upload-Offset"] = str(upload.received)
    response["Upload-Length"] = str(upload.size)
    response["Cache-Control"] = "no-store"
    return response


class UploadStateSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    filename = serializers.CharField()
    size = serializers.IntegerField()
    offset = serializers.IntegerField()
    chunk_size = serializers.IntegerField()
    status = serializers.CharField()
    submission = serializers.IntegerField(allow_null=True)


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class UploadCreateApi(APIView):
    """Start a resumable upload: the checks that need no byte of the file happen here.

    Declare the file's `sha256` to learn now, with a 409, that the team already submitted this file.

    Counted against the same per-user upload throttle as the direct upload (scope "upload").
    """

    permission_classes = [IsAuthenticated]
    throttle_scope = "upload"

    @extend_schema_serializer(component_name="UploadCreateInput")
    class InputSerializer(SubmissionMetadataInput):
        filename = serializers.CharField(max_length=255)
        size = serializers.IntegerField(min_value=1)
        sha256 = serializers.RegexField(
            r"^[0-9a-fA-F]{64}$",
            required=False,
            help_text="The file's sha256, when the client knows it: a file the team already submitted "
            "to the phase is refused now (409), before any byte is sent; checked again at completion.",
        )

    @extend_schema(
        request=InputSerializer, responses={201: UploadStateSerializer, 409: DuplicateFileSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        user = signed_in_user(request)
        phase = phase_get(phase_id=data.pop("phase"), user=user)
        upload = chunked_upload_create(
            user=user,
            phase=phase,
            filename=data.pop("filename"),
            size=data.pop("size"),
            sha256=data.pop("sha256", None),
            metadata=data,
        )
        return _with_offset_headers(Response(_state(upload), status=201), upload)


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class UploadDetailApi(APIView):
    """GET/HEAD: the received offset. PUT (or PATCH): one chunk of raw bytes at an offset."""

    permission_classes = [IsAuthenticated]
    parser_classes = [RawBodyParser]

    @extend_schema(responses=UploadStateSerializer)
    def get(self, request: Request, upload_id: UUID) -> Response:
        upload = _upload_of(upload_id=upload_id, user=signed_in_user(request))
        return _with_offset_headers(Response(_state(upload)), upload)

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses=UploadStateSerializer,
        parameters=[
            OpenApiParameter("Content-Range", str, OpenApiParameter.HEADER),
            OpenApiParameter("Upload-Offset", int, OpenApiParameter.HEADER),
        ],
    )
    def put(self, request: Request, upload_id: UUID) -> Response:
        user = signed_in_user(request)
        upload = _upload_of(upload_id=upload_id, user=user)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or "")
        except ValueError:
            raise ApplicationError(BAD_RANGE) from None
        content_range = request.headers.get("Content-Range")
        if content_range:
            match = _CONTENT_RANGE.match(content_range.strip())
            if not match or int(match.group(2)) - int(match.group(1)) + 1 != length:
                raise ApplicationError(BAD_RANGE)
            start = int(match.group(1))
        elif request.headers.get("Upload-Offset", "").isdigit():
            start = int(request.headers["Upload-Offset"])
        else:
            raise ApplicationError(BAD_RANGE)
        if start > upload.received:
            response = Response(
                {"detail": UPLOAD_GAP.format(start=start, received=upload.received), **_state(upload)},
                status=409,
            )
            return _with_offset_headers(response, upload)
        chunked_upload_write(upload=upload, user=user, start=start, stream=request.stream, length=length)
        return _with_offset_headers(Response(_state(upload)), upload)

    patch = put


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class UploadCompleteApi(APIView):
    """Check the sha256 and create the submission (same checks, quota and queueing as a direct upload)."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="UploadCompleteInput")
    class InputSerializer(serializers.Serializer[Any]):
        sha256 = serializers.RegexField(
            r"^[0-9a-fA-F]{64}$",
            required=False,
            help_text="The file's sha256; checked when given (browsers may omit it: "
            "the server computes and stores it either way).",
        )

    @extend_schema(
        request=InputSerializer, responses={201: SubmissionOutputSerializer, 409: DuplicateFileSerializer}
    )
    def post(self, request: Request, upload_id: UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = signed_in_user(request)
        upload = get_object_or_404(
            ChunkedUpload.objects.select_related("phase"), id=upload_id, user_id=user.pk
        )
        submission = chunked_upload_complete(
            upload=upload, user=user, sha256=serializer.validated_data.get("sha256")
        )
        return Response(_with_results(submission, user), status=201)
