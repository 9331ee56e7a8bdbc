"""Phases (dates, quotas, formats, publication, ground truth) and their per-dataset splits."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from .catalog import CatalogQuerySet
from .challenges import Challenge, Dataset
from .storage import gallery_inputs_upload_to, ground_truth_upload_to, new_blinding_secret, private_storage


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

    class SubmissionKind(models.TextChoices):
        PREDICTIONS = "predictions", "Predictions: participants upload similarities, embeddings or rank lists"
        CODE = "code", "Code: participants upload a program (.zip with main.py) that the server runs"

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
        help_text="Blind publishes each query under an opaque id in a secret order, so neither the ids nor the "
        "order reveal the answers (the query text can: see publish_query_text). As uploaded publishes the ground truth's own query ids and order (the 2020 files "
        "unchanged): participants can read the answers off them when the ids name the videos or the "
        "queries are grouped by video.",
    )
    #: Key of the opaque ids and the secret order (`evaluation.blinding`); never shown.
    blinding_secret = models.CharField(max_length=64, default=new_blinding_secret, editable=False)
    #: `evaluation.blinding.audit_ground_truth` of the uploaded file: what its ids and order reveal.
    ground_truth_audit = models.JSONField(default=dict, blank=True, editable=False)
    ground_truth_uploaded_at = models.DateTimeField(null=True, blank=True, editable=False)
    publish_query_text = models.BooleanField(
        default=True,
        help_text="Publish what each query says (its caption) in the starter kit's queries.tsv. Blinding hides "
        "ids and order, not text: captions taken from a public release can be looked up there, so withhold "
        "them (or write new captions) when the caption audit finds them (docs/blind-phases.md).",
    )
    #: `evaluation.caption_audit.audit_captions` of the uploaded file: what its query texts give away.
    caption_audit = models.JSONField(default=dict, blank=True, editable=False)
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

    # Code phases (docs/code-phases.md): the queries never leave the server; the program comes to them.
    submission_kind = models.CharField(
        max_length=16,
        choices=SubmissionKind.choices,
        default=SubmissionKind.PREDICTIONS,
        help_text="Code: participants upload a .zip holding main.py, which the server runs in a sandbox on "
        "the phase's inputs (queries, video list, gallery inputs) and scores; the queries are never published.",
    )
    runtime = models.CharField(
        max_length=64,
        blank=True,
        help_text="Code phases: the runtime programs run in (PENTATHLON_SANDBOX_RUNTIMES); empty = the "
        "site's default.",
    )
    code_wall_limit_s = models.PositiveIntegerField(
        default=600, validators=[MinValueValidator(1)], help_text="Code phases: seconds a program may run."
    )
    code_memory_limit_mb = models.PositiveIntegerField(
        default=8192,
        validators=[MinValueValidator(64)],
        help_text="Code phases: MiB of memory a program may use.",
    )
    code_cpus = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1)], help_text="Code phases: CPU cores a program may use."
    )
    code_output_limit_mb = models.PositiveIntegerField(
        default=1024,
        validators=[MinValueValidator(1)],
        help_text="Code phases: MiB a program may write to /output (and, separately, to /tmp).",
    )
    code_gpu = models.BooleanField(
        default=False, help_text="Code phases: run programs on the GPU workers (when the site has them)."
    )
    code_show_output = models.BooleanField(
        default=False,
        help_text="Code phases: show participants their program's output (stdout, stderr) and the reason it "
        "failed. Leave off on a test phase: a program could print the hidden queries.",
    )
    code_failures_count = models.BooleanField(
        default=True,
        help_text="Code phases: a program's own failure (crash, limit, bad output) counts towards the quota. "
        "Failures of the site (a lost worker, a sandbox that could not start) never count.",
    )
    gallery_inputs = models.FileField(
        storage=private_storage,
        upload_to=gallery_inputs_upload_to,
        blank=True,
        max_length=300,
        editable=False,
        help_text="Code phases: an optional .zip of gallery inputs (features, lists) unpacked at /input/gallery.",
    )

    objects = CatalogQuerySet.as_manager()

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
        if self.is_code and self.runtime:
            from sandbox import runtimes

            offered = runtimes(settings.PENTATHLON_SANDBOX_RUNTIMES)
            if self.runtime not in offered:
                raise ValidationError(
                    {
                        "runtime": f"Unknown runtime {self.runtime!r}; this site offers {', '.join(sorted(offered))}."
                    }
                )
        if self.is_code and self.code_wall_limit_s + 60 > soft:
            raise ValidationError(
                {
                    "code_wall_limit_s": f"At most {soft - 60} seconds: the program and the scoring must end "
                    f"within the phase's evaluation limit of {soft} s."
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
        """Direction of the primary score: that of the challenge's primary metric (`Challenge.higher_is_better`)."""
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
    def publishes_query_text(self) -> bool:
        """Participants get the queries' text (the kit's queries.tsv); never in a code phase, whose
        program reads the queries on the server."""
        return self.publish_query_text and not self.is_code

    @property
    def blinding_key(self) -> bytes:
        return bytes.fromhex(self.blinding_secret)

    @property
    def is_code(self) -> bool:
        return self.submission_kind == self.SubmissionKind.CODE

    @property
    def formats(self) -> list[str]:
        if self.is_code:  # a program archive
            return [SubmissionFormat.ZIP.value]
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
