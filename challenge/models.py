"""Challenges, their datasets and phases, teams, and submissions.

Writes go through `challenge.services`; reads with joins through `challenge.selectors`.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def private_storage():
    """Storage outside MEDIA_ROOT with no URL: uploaded submissions and hidden ground truth."""
    return storages["private"]


def submission_upload_to(instance: Submission, filename: str) -> str:
    """A generated name; the user's file name is kept only as data (`original_filename`)."""
    return f"submissions/{instance.phase_id}/{uuid.uuid4().hex}.{instance.file_format}"


def ground_truth_upload_to(instance: Phase, filename: str) -> str:
    return f"ground_truth/{instance.challenge_id}/{instance.slug}-{uuid.uuid4().hex}.h5"


def new_invite_code() -> str:
    return secrets.token_urlsafe(12)


def new_blinding_secret() -> str:
    """256 bits, hex: the key of a phase's opaque query ids and secret query order."""
    return secrets.token_hex(32)


class PrimaryMetric(models.TextChoices):
    """The t2v metric a challenge ranks by (per dataset; the overall score aggregates it over datasets)."""

    GEOMETRIC_MEAN = "geometric_mean_R1-R5-R10", "Geometric mean of R@1, R@5, R@10"
    R1 = "R1", "R@1"
    R5 = "R5", "R@5"
    R10 = "R10", "R@10"
    R50 = "R50", "R@50"
    MEDR = "MedR", "Median rank"
    MEANR = "MeanR", "Mean rank"


#: Metrics where a lower value is better (the default sort direction of their columns).
LOWER_IS_BETTER_METRICS = frozenset({PrimaryMetric.MEDR.value, PrimaryMetric.MEANR.value})


def validate_pages(value: object) -> None:
    if not isinstance(value, list) or not all(
        isinstance(p, dict) and set(p) <= {"slug", "title", "body"} and p.get("slug") and p.get("title")
        for p in value
    ):
        raise ValidationError('Use a list of {"slug": ..., "title": ..., "body": ...} pages.')


class Challenge(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    rules = models.TextField(blank=True)
    is_public = models.BooleanField(default=True, help_text="Visible to participants and visitors.")
    primary_metric = models.CharField(
        max_length=32,
        choices=PrimaryMetric.choices,
        default=PrimaryMetric.GEOMETRIC_MEAN,
        help_text="Per-dataset score (t2v); the overall score aggregates it.",
    )
    higher_is_better = models.BooleanField(default=True, help_text="Direction of the primary metric.")
    score_decimals = models.PositiveSmallIntegerField(
        default=2, validators=[MaxValueValidator(6)], help_text="Decimals shown on leaderboards and exports."
    )
    teams_need_approval = models.BooleanField(
        default=False, help_text="New teams may submit only once an organiser has approved them."
    )
    pages = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_pages],
        help_text='Extra pages: [{"slug": "data", "title": "Data", "body": "..."}].',
    )
    #: Who runs this challenge: they see its hidden results and ground truth and use its organiser
    #: tools. Checked only through `challenge.selectors.challenge_is_organiser` (superusers pass too;
    #: `is_staff` alone does not).
    organisers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="organised_challenges",
        blank=True,
        help_text="Users who run this challenge: hidden results, ground truth, re-scoring, publishing, "
        "moderation, exports. Give them staff status too if they should use the admin.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.title


class Dataset(models.Model):
    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(
        max_length=64, help_text="Canonical name, e.g. MSRVTT; matches the ground truth's groups."
    )
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["challenge", "name"], name="dataset_unique_name")]

    def __str__(self) -> str:
        return self.name


class SubmissionFormat(models.TextChoices):
    ZIP = "zip", "ZIP archive (.npy similarities or CodaLab top-k CSV)"
    NPZ = "npz", "NumPy .npz (similarities or embeddings)"
    H5 = "h5", "HDF5 .h5 (similarities or embeddings)"


class Phase(models.Model):
    class Aggregation(models.TextChoices):
        MEAN = "mean", "Mean of the per-dataset scores"
        SUM = "sum", "Sum of the per-dataset scores"

    class LeaderboardVisibility(models.TextChoices):
        PUBLIC = "public", "Public: results are shown as they arrive"
        OWNERS = "owners", "Team and organisers: each team sees its own scores; no public leaderboard yet"
        HIDDEN = "hidden", "Hidden: only the organisers see scores until they publish them"

    class QueryOrder(models.TextChoices):
        BLIND = "blind", "Blind: opaque query ids in a secret order (recommended)"
        AS_UPLOADED = "as_uploaded", "As uploaded: the organisers' query ids and order, published verbatim"

    class FinalSubmission(models.TextChoices):
        BEST = "best", "Each team's best submission counts"
        SELECTED = "selected", "The submission the team selects as final counts (else its last one)"
        LAST = "last", "Each team's last scored submission counts"

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="phases")
    slug = models.SlugField(help_text="Short name used in file names, e.g. val or test.")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    max_submissions_per_day = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Per team and UTC day; empty = no limit.",
    )
    max_submissions_total = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Per team; empty = no limit."
    )
    allowed_formats = models.JSONField(
        default=list, blank=True, help_text='Subset of ["zip", "npz", "h5"]; empty = all.'
    )
    aggregation = models.CharField(max_length=8, choices=Aggregation.choices, default=Aggregation.MEAN)
    leaderboard_visibility = models.CharField(
        max_length=8, choices=LeaderboardVisibility.choices, default=LeaderboardVisibility.PUBLIC
    )
    final_submission = models.CharField(
        max_length=8,
        choices=FinalSubmission.choices,
        default=FinalSubmission.BEST,
        help_text="Which submission of a team the leaderboard shows.",
    )
    public_choice_locked = models.BooleanField(
        default=False, help_text="Participants can no longer change which submissions are public."
    )
    ground_truth = models.FileField(
        storage=private_storage, upload_to=ground_truth_upload_to, blank=True, max_length=300, editable=False
    )
    ground_truth_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    query_order = models.CharField(
        max_length=16,
        choices=QueryOrder.choices,
        default=QueryOrder.BLIND,
        help_text="Blind publishes each query under an opaque id in a secret order, so nothing public reveals "
        "the answers. As uploaded publishes the ground truth's own query ids and order (the 2020 files "
        "unchanged): participants can read the answers off them when the ids name the videos or the "
        "queries are grouped by video.",
    )
    #: Key of the opaque ids and the secret order (`evaluation.blinding`); never shown.
    blinding_secret = models.CharField(max_length=64, default=new_blinding_secret, editable=False)
    #: `evaluation.blinding.audit_ground_truth` of the uploaded file: what its ids and order reveal.
    ground_truth_audit = models.JSONField(default=dict, blank=True, editable=False)
    ground_truth_uploaded_at = models.DateTimeField(null=True, blank=True, editable=False)
    intervals_enabled = models.BooleanField(
        default=True,
        help_text="Show confidence intervals of every score and mark leaderboard entries that are tied within "
        "noise (docs/uncertainty.md). Off: scores are shown without them.",
    )
    interval_level = models.FloatField(
        default=0.95,
        validators=[MinValueValidator(0.5), MaxValueValidator(0.999)],
        help_text="Confidence level of the intervals and of the paired tests, e.g. 0.95 for 95 %.",
    )
    evaluation_soft_limit_s = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(10)],
        help_text="Seconds after which an evaluation of this phase fails with a readable message; empty = the "
        "server default (PENTATHLON_EVALUATION_SOFT_LIMIT).",
    )
    evaluation_hard_limit_s = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(10)],
        help_text="Seconds after which the worker process running the evaluation is killed; empty = the server "
        "default (PENTATHLON_EVALUATION_HARD_LIMIT). At most PENTATHLON_EVALUATION_MAX_LIMIT.",
    )

    class Meta:
        ordering = ["challenge", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "slug"], name="phase_unique_slug"),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="phase_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.challenge.slug} / {self.slug}"

    def clean(self) -> None:
        known = {choice.value for choice in SubmissionFormat}
        if not isinstance(self.allowed_formats, list) or not set(self.allowed_formats) <= known:
            raise ValidationError(
                {"allowed_formats": f'Use a list drawn from {sorted(known)}, e.g. ["npz", "zip"].'}
            )
        soft, hard = self.time_limits
        ceiling = settings.PENTATHLON_EVALUATION_MAX_LIMIT
        if hard > ceiling:
            raise ValidationError(
                {
                    "evaluation_hard_limit_s": f"At most {ceiling} seconds (PENTATHLON_EVALUATION_MAX_LIMIT); "
                    "the broker re-delivers unfinished messages after that."
                }
            )
        if soft >= hard:
            raise ValidationError(
                {
                    "evaluation_soft_limit_s": f"The soft limit ({soft} s) must be below the hard limit ({hard} s)."
                }
            )

    @property
    def time_limits(self) -> tuple[int, int]:
        """(soft, hard) evaluation time limits in seconds: the phase's own, else the server defaults."""
        return (
            self.evaluation_soft_limit_s or settings.CELERY_TASK_SOFT_TIME_LIMIT,
            self.evaluation_hard_limit_s or settings.CELERY_TASK_TIME_LIMIT,
        )

    @property
    def higher_is_better(self) -> bool:
        """Direction of the primary score: the challenge's setting (default: higher is better)."""
        return self.challenge.higher_is_better

    @property
    def results_published(self) -> bool:
        return self.leaderboard_visibility == self.LeaderboardVisibility.PUBLIC

    @property
    def results_visible_to_owners(self) -> bool:
        """Teams see their own scores (published, or the owners-and-organisers setting)."""
        return self.leaderboard_visibility != self.LeaderboardVisibility.HIDDEN

    @property
    def is_blind(self) -> bool:
        return self.query_order == self.QueryOrder.BLIND

    @property
    def blinding_key(self) -> bytes:
        return bytes.fromhex(self.blinding_secret)

    @property
    def formats(self) -> list[str]:
        return list(self.allowed_formats) or [choice.value for choice in SubmissionFormat]


class Split(models.Model):
    """Phase x Dataset: the counts read from the phase's hidden ground-truth file."""

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="splits")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="splits")
    num_queries = models.PositiveIntegerField()
    num_videos = models.PositiveIntegerField()
    captions_per_video = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["phase", "dataset__order", "dataset__id"]
        constraints = [models.UniqueConstraint(fields=["phase", "dataset"], name="split_unique_dataset")]

    def __str__(self) -> str:
        return f"{self.phase} / {self.dataset.name}"


class Team(models.Model):
    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    #: `challenge.team_names.team_name_key(name)`: NFKC and case-folded, unique within the challenge, so
    #: "Alpha", "ALPHA" and a full-width "Ａｌｐｈａ" are one name even when created concurrently.
    name_key = models.CharField(max_length=200, editable=False, default="")
    invite_code = models.CharField(max_length=32, unique=True, default=new_invite_code, editable=False)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams")
    is_baseline = models.BooleanField(default=False, help_text="The organisers' reference entries.")
    is_approved = models.BooleanField(
        default=True, help_text="Needed to submit when the challenge requires approval."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["challenge", "name"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "name"], name="team_unique_name"),
            models.UniqueConstraint(fields=["challenge", "name_key"], name="team_unique_name_casefold"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.name_key:  # a caller that skipped full_clean still gets the key the constraint needs
            from challenge.team_names import team_name_key

            try:
                self.name_key = team_name_key(self.name)
            except Exception:  # an unnormalisable name saved without clean(): still one key per name
                self.name_key = self.name.casefold()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Store the name normalised and its key (the admin's forms go through here too)."""
        from challenge.exceptions import ApplicationError
        from challenge.team_names import team_name_key, team_name_normalise

        try:
            self.name = team_name_normalise(self.name)
        except ApplicationError as exc:
            raise ValidationError({"name": exc.message}) from exc
        self.name_key = team_name_key(self.name)


class TeamMembership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    # Denormalised from the team so the database enforces one team per user and challenge.
    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["challenge", "user"], name="membership_one_team_per_challenge")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


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
    metadata = models.JSONField(default=dict, blank=True)
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


class UserProfile(models.Model):
    """Per-user preferences (created on first use)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pentathlon_profile"
    )
    email_notifications = models.BooleanField(
        default=True, help_text="Email me when a submission of my team finishes or fails."
    )

    def __str__(self) -> str:
        return f"profile of {self.user}"
