"""Submissions (one uploaded file, its status and lease) and resumable chunked uploads."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from .phases import Phase, SubmissionFormat
from .storage import private_storage, submission_upload_to
from .teams import Team


class Submission(models.Model):
    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINAL_STATES = (Status.FINISHED, Status.FAILED, Status.CANCELLED)

    class Moderation(models.TextChoices):
        NONE = "", "Shown"
        HIDDEN = "hidden", "Hidden by the organisers"
        DISQUALIFIED = "disqualified", "Disqualified"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="submissions")
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="submissions")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="submissions"
    )
    file = models.FileField(storage=private_storage, upload_to=submission_upload_to, max_length=300)
    original_filename = models.CharField(max_length=255, blank=True)
    file_format = models.CharField(max_length=8, choices=SubmissionFormat.choices)
    file_size = models.PositiveBigIntegerField()
    checksum_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED, db_index=True)
    progress = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True)
    method_name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    paper_url = models.URLField(blank=True)
    code_url = models.URLField(blank=True)
    is_public = models.BooleanField(default=True)
    is_baseline = models.BooleanField(default=False)
    is_final = models.BooleanField(default=False)
    moderation = models.CharField(
        max_length=16,
        choices=Moderation.choices,
        default=Moderation.NONE,
        blank=True,
        help_text="Hidden and disqualified entries are left off every leaderboard.",
    )
    moderation_reason = models.TextField(blank=True)
    quota_refunded = models.BooleanField(default=False, help_text="Does not count towards the team's quota.")
    #: Header-only description stored at upload: {"kinds": {dataset: kind}, "declared_bytes": int}.
    manifest = models.JSONField(default=dict, blank=True)
    #: Code phases: how the program's last run went (`sandbox.RunResult.as_dict`, its captured output
    #: and the hardware class); shown to the team as the phase allows (`code_show_output`).
    program_run = models.JSONField(default=dict, blank=True)
    #: The queue the evaluation was last sent to ("cpu" or "gpu" names from the settings).
    queue = models.CharField(max_length=64, blank=True)
    #: Claims by a worker (QUEUED/stale RUNNING -> RUNNING); above 1 after a worker died or a retry.
    attempts = models.PositiveIntegerField(default=0)
    #: Claims lost with their worker (a lease that expired: killed, out of memory); at
    #: PENTATHLON_MAX_LOST_ATTEMPTS the submission fails instead of being sent again.
    lost_attempts = models.PositiveIntegerField(default=0)
    #: Results written for this submission (each re-score adds one); 1 for a submission scored once.
    scored_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    #: The running worker's lease: bumped at a bounded interval while it scores.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "phase", "created_at"], name="submission_quota_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "phase"],
                condition=Q(is_final=True),
                name="submission_one_final_per_team_phase",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.method_name} ({self.status})"

    @property
    def is_final_state(self) -> bool:
        return self.status in self.FINAL_STATES


class ChunkedUpload(models.Model):
    """A resumable upload in progress: bytes arrive in chunks at increasing offsets, then `complete`
    turns the file into a Submission through `submission_create`.

    The partial file lives on the local disk under UPLOAD_PARTIAL_DIR (shared by the web processes);
    only the finished submission goes to the (possibly remote) private storage.
    """

    class Status(models.TextChoices):
        UPLOADING = "uploading", "Uploading"
        COMPLETE = "complete", "Complete"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chunked_uploads"
    )
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="chunked_uploads")
    filename = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    received = models.PositiveBigIntegerField(default=0)
    # Chunk writes so far, by any web process: a process's running digest is the file's only when
    # it made every one of them (`challenge.services.uploads`).
    writes = models.PositiveBigIntegerField(default=0, editable=False)
    metadata = models.JSONField(default=dict, blank=True)
    # the file's sha256 as the client declared it at the start (blank: not declared); checked at the end
    sha256 = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADING)
    submission = models.OneToOneField(
        Submission, on_delete=models.SET_NULL, null=True, blank=True, related_name="chunked_upload"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(received__lte=models.F("size")), name="chunked_upload_received_le_size"
            )
        ]

    def __str__(self) -> str:
        return f"upload {self.id} ({self.received}/{self.size})"
