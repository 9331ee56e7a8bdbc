"""REST API of the challenge app: one APIView per operation, no logic (services and selectors do it)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from challenge.code_phases import phase_code_description, submission_program_run_visible
from challenge.models import Challenge, Phase, Submission
from challenge.selectors import (
    challenge_get,
    challenge_is_organiser,
    challenge_list,
    phase_get,
    phase_list,
    submission_get,
    submission_list,
    submission_result,
    submission_results_visible,
)
from challenge.services import submission_cancel, submission_create, submission_update
from challenge.signed_in import signed_in_user

#: The newest submissions listed by the API (a team makes a few a day).
SUBMISSION_LIST_LIMIT = 500


class TokenObtainApi(ObtainAuthToken):
    """POST username and password, get the token for `Authorization: Token <key>`.

    Throttled per client IP (scope "login") on top of the per-username lockout of `challenge.auth`.
    """

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"


class PhaseSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    max_submissions_per_day = serializers.IntegerField(allow_null=True)
    max_submissions_total = serializers.IntegerField(allow_null=True)
    allowed_formats = serializers.ListField(source="formats", child=serializers.CharField())
    aggregation = serializers.CharField()
    results_published = serializers.BooleanField()
    query_order = serializers.ChoiceField(
        choices=["blind", "as_uploaded"],
        help_text="blind: queries are opaque ids in a secret order (the kit's queries.tsv), compact Q x V rows "
        "only and top-k rows that name their query; as_uploaded: the organisers' ids and order.",
    )
    publish_query_text = serializers.BooleanField(
        source="publishes_query_text",
        help_text="true: the kit's queries.tsv carries what each query says; false: the organisers withhold it.",
    )
    datasets = serializers.SerializerMethodField()
    submission_kind = serializers.ChoiceField(
        choices=["predictions", "code"],
        help_text="predictions: upload a file of scores; code: upload a .zip holding main.py, which the server "
        "runs on the phase's hidden queries (docs/code-phases.md).",
    )
    code = serializers.SerializerMethodField(
        help_text="Code phases: the runtime, its packages, the command, the limits and what a team sees of a run."
    )

    def get_code(self, phase: Phase) -> dict[str, Any] | None:
        return phase_code_description(phase=phase) if phase.is_code else None

    def get_datasets(self, phase: Phase) -> list[dict[str, Any]]:
        # A blind phase accepts one row per query only: the padded layout's K does not apply.
        return [
            {
                "name": split.dataset.name,
                "num_queries": split.num_queries,
                "num_videos": split.num_videos,
                "captions_per_video": 1 if phase.is_blind else split.captions_per_video,
            }
            for split in phase.splits.all()
        ]


class ChallengeListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="ChallengeSummary")
    class OutputSerializer(serializers.Serializer[Any]):
        slug = serializers.CharField()
        title = serializers.CharField()
        summary = serializers.CharField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(challenge_list(user=request.user), many=True).data)


class ChallengeDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="ChallengeDetail")
    class OutputSerializer(serializers.Serializer[Any]):
        slug = serializers.CharField()
        title = serializers.CharField()
        summary = serializers.CharField()
        description = serializers.CharField()
        rules = serializers.CharField()
        primary_metric = serializers.CharField()
        higher_is_better = serializers.BooleanField()
        metrics = serializers.ListField(child=serializers.CharField(), source="metric_set")
        query_modality = serializers.CharField()
        gallery_modality = serializers.CharField()
        words = serializers.SerializerMethodField()

        def get_words(self, challenge: Challenge) -> dict[str, str]:
            """The nouns and direction labels the pages use for this challenge's queries and items."""
            words = challenge.words
            return {**words.nouns(), "forward": words.forward, "backward": words.backward}

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        challenge = challenge_get(slug=slug, user=request.user)
        data = self.OutputSerializer(challenge).data
        data["phases"] = PhaseSerializer(phase_list(challenge=challenge), many=True).data
        return Response(data)


class PhaseListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=PhaseSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        challenge = challenge_get(slug=slug, user=request.user)
        return Response(PhaseSerializer(phase_list(challenge=challenge), many=True).data)


@extend_schema_serializer(component_name="SubmissionProgress")
class SubmissionProgressSerializer(serializers.Serializer[Any]):
    """Where the evaluation is: the current stage, the overall fraction and one fraction per dataset
    started so far (every dataset at 1.0 once finished; empty while queued)."""

    stage = serializers.CharField()
    fraction = serializers.FloatField(min_value=0.0, max_value=1.0)
    datasets = serializers.DictField(child=serializers.FloatField(min_value=0.0, max_value=1.0))


def _progress_of(submission: Submission) -> dict[str, Any]:
    """`Submission.progress` with every key present (it is `{}` before the first worker touches the row)."""
    raw = submission.progress if isinstance(submission.progress, dict) else {}
    datasets = raw["datasets"] if isinstance(raw.get("datasets"), dict) else {}
    return {
        "stage": str(raw.get("stage") or ""),
        "fraction": float(raw.get("fraction") or 0.0),
        "datasets": {str(name): float(value or 0.0) for name, value in datasets.items()},
    }


class SubmissionOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    challenge = serializers.CharField(source="phase.challenge.slug")
    phase = serializers.IntegerField(source="phase_id")
    phase_slug = serializers.CharField(source="phase.slug")
    team = serializers.CharField(source="team.name")
    status = serializers.CharField()
    progress = serializers.SerializerMethodField()
    attempts = serializers.IntegerField(
        help_text="How many times a worker claimed the evaluation (1 normally; "
        "more after a worker died or a transient error)"
    )
    queue = serializers.CharField(
        help_text="The queue the evaluation was last sent to (blank before queueing)"
    )
    heartbeat_at = serializers.DateTimeField(
        allow_null=True, help_text="The running worker's last sign of life"
    )
    error_message = serializers.CharField()
    method_name = serializers.CharField()
    description = serializers.CharField()
    paper_url = serializers.CharField()
    code_url = serializers.CharField()
    is_public = serializers.BooleanField()
    is_baseline = serializers.BooleanField()
    is_final = serializers.BooleanField()
    file_format = serializers.CharField()
    file_size = serializers.IntegerField()
    checksum_sha256 = serializers.CharField()
    original_filename = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(SubmissionProgressSerializer)
    def get_progress(self, submission: Submission) -> dict[str, Any]:
        return _progress_of(submission)


def _with_results(submission: Submission, user: User) -> dict[str, Any]:
    data = dict(SubmissionOutputSerializer(submission).data)
    result = submission_result(submission=submission, user=user)
    data["results_visible"] = submission_results_visible(submission=submission, user=user)
    # code phases: the run's time, memory, hardware and, where the phase shows it, the program's output
    data["program_run"] = (
        submission_program_run_visible(
            submission=submission,
            organiser=challenge_is_organiser(user=user, challenge=submission.phase.challenge_id),
        )
        or None
    )
    data["results"] = (
        None
        if result is None
        else {
            "overall_score": result.primary_score,
            "aggregation": result.aggregation,
            "scorer_version": result.scorer_version,
            "datasets": result.metrics,
            "missing_datasets": result.missing_datasets,
            # aggregate bounds only (evaluation.uncertainty.submission_intervals), when the phase shows them
            "intervals": result.intervals if submission.phase.intervals_enabled else None,
        }
    )
    return data


@extend_schema_serializer(component_name="DuplicateFile")
class DuplicateFileSerializer(serializers.Serializer[Any]):
    """409: the team already submitted this file (same sha256) to the phase; nothing was stored and no
    quota was used. `extra` names the earlier submission."""

    @extend_schema_serializer(component_name="DuplicateFileEarlier")
    class EarlierSerializer(serializers.Serializer[Any]):
        submission = serializers.IntegerField(help_text="The earlier submission's id")
        url = serializers.URLField(help_text="The earlier submission's page")

    detail = serializers.CharField()
    extra = EarlierSerializer()


class SubmissionMetadataInput(serializers.Serializer[Any]):
    """What every way of submitting asks for: the phase and the entry's description."""

    phase = serializers.IntegerField()
    method_name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    paper_url = serializers.URLField(required=False, allow_blank=True, default="")
    code_url = serializers.URLField(required=False, allow_blank=True, default="")
    is_public = serializers.BooleanField(required=False, default=True)


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class SubmissionCreateApi(APIView):
    """Multipart upload: `phase` (id), `file`, `method_name` and optional metadata.

    Not wrapped in the request transaction: the body streams to disk outside any transaction (on
    SQLite an open transaction would hold the write lock for the whole upload); the service opens
    its own short one for the quota check and the insert.
    """

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "upload"

    @extend_schema_serializer(component_name="SubmissionCreateInput")
    class InputSerializer(SubmissionMetadataInput):
        file = serializers.FileField(max_length=255, allow_empty_file=True)

    @extend_schema(
        request=InputSerializer, responses={201: SubmissionOutputSerializer, 409: DuplicateFileSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        user = signed_in_user(request)
        phase = phase_get(phase_id=data.pop("phase"), user=user)
        upload = data.pop("file")
        submission = submission_create(user=user, phase=phase, file=upload, filename=upload.name, **data)
        return Response(_with_results(submission, user), status=201)


class SubmissionListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=SubmissionOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        submissions = submission_list(user=signed_in_user(request))[:SUBMISSION_LIST_LIMIT]
        return Response(SubmissionOutputSerializer(submissions, many=True).data)


class SubmissionDetailApi(APIView):
    """Status, progress, error and (when the phase's results are published) the scores."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=SubmissionOutputSerializer)
    def get(self, request: Request, submission_id: int) -> Response:
        user = signed_in_user(request)
        submission = submission_get(submission_id=submission_id, user=user)
        return Response(_with_results(submission, user))


class SubmissionUpdateApi(APIView):
    """Set the public flag or choose the team's final submission."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="SubmissionUpdateInput")
    class InputSerializer(serializers.Serializer[Any]):
        is_public = serializers.BooleanField(required=False)
        is_final = serializers.BooleanField(required=False)

    @extend_schema(request=InputSerializer, responses=SubmissionOutputSerializer)
    def post(self, request: Request, submission_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = signed_in_user(request)
        submission = submission_get(submission_id=submission_id, user=user)
        submission = submission_update(submission=submission, user=user, **serializer.validated_data)
        return Response(_with_results(submission, user))


class SubmissionCancelApi(APIView):
    """Cancel a submission that has not started running; it then does not count towards the quota."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=SubmissionOutputSerializer)
    def post(self, request: Request, submission_id: int) -> Response:
        user = signed_in_user(request)
        submission = submission_get(submission_id=submission_id, user=user)
        submission_cancel(submission=submission, user=user)
        submission.refresh_from_db()
        return Response(_with_results(submission, user))
