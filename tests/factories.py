"""factory_boy factories for the site's models. Files are tiny real submissions or placeholders."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from challenge.models import Challenge, Dataset, Phase, Submission, Team, TeamMembership
from leaderboard.models import DatasetResult, Result
from leaderboard.selectors import METRIC_FIELDS
from leaderboard.services.results import extra_values

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy signature
        if create:
            obj.save()


class OrganiserFactory(UserFactory):
    """A staff account that organises the challenges passed as `organises=[...]` (and nothing else):
    the per-challenge organiser. It is not a superuser."""

    is_staff = True
    is_superuser = False
    username = factory.Sequence(lambda n: f"organiser{n}")

    @factory.post_generation
    def organises(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy signature
        if create and extracted:
            for challenge in extracted:
                challenge.organisers.add(obj)


class SuperuserFactory(UserFactory):
    """A site administrator: every challenge's organiser rights without being listed as one."""

    is_staff = True
    is_superuser = True
    username = factory.Sequence(lambda n: f"admin{n}")


class ChallengeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Challenge

    slug = factory.Sequence(lambda n: f"challenge-{n}")
    title = factory.LazyAttribute(lambda c: c.slug.replace("-", " ").title())
    summary = "A retrieval challenge."
    rules = "Be fair."


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    challenge = factory.SubFactory(ChallengeFactory)
    name = factory.Sequence(lambda n: f"Dataset{n}")
    order = factory.Sequence(int)


class PhaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Phase

    challenge = factory.SubFactory(ChallengeFactory)
    slug = factory.Sequence(lambda n: f"phase{n}")
    title = factory.LazyAttribute(lambda p: p.slug.title())
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = None
    allowed_formats = factory.LazyFunction(lambda: ["zip", "npz", "h5"])


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    challenge = factory.SubFactory(ChallengeFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMembership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    challenge = factory.LazyAttribute(lambda m: m.team.challenge)


class SubmissionFactory(factory.django.DjangoModelFactory):
    """A row with a placeholder file, for selector and permission tests (not for scoring)."""

    class Meta:
        model = Submission

    team = factory.SubFactory(TeamFactory)
    phase = factory.SubFactory(PhaseFactory, challenge=factory.SelfAttribute("..team.challenge"))
    file = factory.LazyFunction(lambda: ContentFile(b"PK\x05\x06" + b"\0" * 18, name="placeholder.zip"))
    file_format = "zip"
    file_size = 22
    checksum_sha256 = hashlib.sha256(b"PK\x05\x06" + b"\0" * 18).hexdigest()
    method_name = factory.Sequence(lambda n: f"Method {n}")
    status = Submission.Status.FINISHED
    is_public = True


class ResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Result
        skip_postgeneration_save = True

    submission = factory.SubFactory(SubmissionFactory)
    primary_score = 10.0
    aggregation = "mean"
    metrics = factory.LazyAttribute(lambda r: {"MSRVTT": {"score": r.primary_score, "t2v": {}, "v2t": None}})
    scorer_version = "test"

    @factory.post_generation
    def dataset_rows(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy signature
        """Per-dataset float rows mirroring `metrics` (what the scoring service stores)."""
        if not create:
            return
        keys = {key: field for key, field in METRIC_FIELDS.items() if key != "score"}
        DatasetResult.objects.bulk_create(
            [
                DatasetResult(
                    result=obj,
                    dataset=name,
                    score=entry.get("score"),
                    rank_histogram=entry.get("rank_histogram"),
                    values=extra_values(entry.get("t2v") or {}),
                    **{field: (entry.get("t2v") or {}).get(key) for key, field in keys.items()},
                )
                for name, entry in obj.metrics.items()
            ]
        )


def ranked_result(*, submission: Submission, ranks: dict, aggregation: str = "mean") -> Result:
    """A result scored from per-query `ranks` ({dataset: {"t2v": ranks, "groups": ... or None, and
    optionally "t2v_values": {relevance metric: per-query values}}}), stored as the worker stores one:
    metrics from the ranks and values, scores under the challenge's primary metric, the packed ranks,
    and the phase's intervals."""
    import numpy as np

    from evaluation.metrics import GEOMETRIC_MEAN_KEY, metrics_from_ranks
    from evaluation.scoring import overall_score
    from evaluation.uncertainty import pack_ranks
    from leaderboard.services.intervals import (
        result_intervals_compute,
        result_intervals_set,
        result_ranks_set,
    )

    full = {name: {"v2t": None, "groups": None, "topk": None, **entry} for name, entry in ranks.items()}
    phase = submission.phase
    primary = phase.challenge.primary_metric or GEOMETRIC_MEAN_KEY
    metrics = {}
    for name, entry in full.items():
        t2v = metrics_from_ranks(np.asarray(entry["t2v"], dtype=np.float64))
        t2v.update({key: 100.0 * float(np.mean(v)) for key, v in (entry.get("t2v_values") or {}).items()})
        metrics[name] = {"score": t2v.get(primary), "t2v": t2v, "v2t": None, "format": "similarity"}
    datasets = list(Dataset.objects.filter(challenge_id=phase.challenge_id).values_list("name", flat=True))
    overall = overall_score({n: m["score"] for n, m in metrics.items()}, datasets, aggregation)
    result = ResultFactory(
        submission=submission, primary_score=overall, aggregation=aggregation, metrics=metrics
    )
    result_ranks_set(result=result, blob=pack_ranks(full))
    result_intervals_set(result=result, intervals=result_intervals_compute(phase=phase, ranks=full))
    return result
