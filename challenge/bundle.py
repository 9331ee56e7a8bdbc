"""A whole challenge as one YAML bundle: validate (every problem at once), load (create or update), export.

The bundle:

    challenge:   {slug, title, summary, description, rules, is_public, primary_metric, metrics,
                  query_modality, gallery_modality, query_noun, query_noun_singular, item_noun,
                  item_noun_singular, score_decimals, teams_need_approval}
                 metrics: the registry metrics the boards show, in order ([mAP@10, mAP@16, R1]);
                 primary_metric must be one of them when they are given, or the geometric mean
                 query_modality, gallery_modality: text, video, audio or image (default text, video);
                 the nouns name queries and gallery items in the pages (blank: the modality's)
                 higher_is_better is optional and never sets anything: the direction is the primary
                 metric's; a value that contradicts it is a problem (docs/design.md section 4)
    pages:       [{slug, title, body}]
    datasets:    [{name, description}]        (or plain names); the list order is the column order
    phases:      [{slug, title, description, starts_at, ends_at, max_submissions_per_day,
                   max_submissions_total, allowed_formats, aggregation, leaderboard_visibility,
                   final_submission, public_choice_locked, query_order, publish_query_text}]
                 query_order: blind (the default: opaque ids in a secret order) or as_uploaded
                 submission_kind: predictions (the default) or code, with runtime, code_wall_limit_s,
                 code_memory_limit_mb, code_cpus, code_output_limit_mb, code_gpu, code_show_output,
                 code_failures_count (docs/code-phases.md)
                 publish_query_text: true (the default: the kit's queries.tsv carries each query's
                 text) or false (withheld: captions from a public release can be looked up there)
    organisers:  [username, ...]              (optional) existing accounts made organisers of the challenge
    preset:      (optional) a preset of `evaluation.presets` (pentathlon-2020, audio-retrieval,
                 dcase-audio-retrieval, epic-kitchens-mir): the challenge fields the bundle leaves out
                 (title, summary, description, primary_metric, metrics, the modalities and the
                 item nouns) and, without a
                 datasets list, its datasets come from the preset

Loading is idempotent, keyed by the challenge slug, dataset names and phase slugs. Datasets and
phases missing from the bundle are kept (deleting them would delete ground truth and submissions);
so are organisers (remove them in the admin). Given a `user` (the web page), loading or validating
a bundle of an existing challenge needs that user to organise it, creating one needs staff status,
and the creator becomes an organiser of the new challenge. The management command passes no user:
whoever runs it on the server is trusted.
Ground truth is uploaded per phase separately (admin), never part of a bundle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from challenge.models import Challenge, Dataset, Phase
from challenge.selectors import challenge_is_organiser
from challenge.services.dispatch import intervals_refresh_on_commit, phase_interval_settings_changed
from core.exceptions import PermissionDeniedError
from evaluation.metrics.registry import is_metric

CHALLENGE_KEYS = (
    "slug",
    "title",
    "summary",
    "description",
    "rules",
    "is_public",
    "primary_metric",
    "metrics",
    "query_modality",
    "gallery_modality",
    "query_noun",
    "query_noun_singular",
    "item_noun",
    "item_noun_singular",
    "score_decimals",
    "teams_need_approval",
)
#: Text fields a null leaves blank (a YAML key without a value).
_BLANK_WHEN_NULL = frozenset(
    "summary description rules query_noun query_noun_singular item_noun item_noun_singular".split()
)
#: Accepted, never stored: it must agree with the primary metric, which alone sets the direction.
DIRECTION_KEY = "higher_is_better"
PHASE_KEYS = (
    "slug",
    "title",
    "description",
    "order",
    "starts_at",
    "ends_at",
    "max_submissions_per_day",
    "max_submissions_total",
    "allowed_formats",
    "aggregation",
    "leaderboard_visibility",
    "final_submission",
    "public_choice_locked",
    "query_order",
    "publish_query_text",
    "intervals_enabled",
    "interval_level",
    "submission_kind",
    "runtime",
    "code_wall_limit_s",
    "code_memory_limit_mb",
    "code_cpus",
    "code_output_limit_mb",
    "code_gpu",
    "code_show_output",
    "code_failures_count",
)
TOP_KEYS = ("preset", "challenge", "pages", "datasets", "phases", "organisers")
BUNDLE_NOT_ORGANISER = (
    "You do not organise the challenge {slug!r}; only its organisers may change it with a bundle."
)
BUNDLE_CREATE_NEEDS_STAFF = "Only staff accounts may create a challenge; ask the site's administrators."
BUNDLE_DIRECTION_CONTRADICTS = (
    "challenge.higher_is_better: the primary metric {metric} ranks {direction} values first "
    "(higher_is_better: {expected}) and the direction follows the metric; write {expected} or leave the "
    "key out, or choose a primary_metric that ranks the other way"
)
BUNDLE_DIRECTION_NOT_BOOLEAN = (
    "challenge.higher_is_better: give true or false, or leave it out, not {value!r}"
)


class BundleError(Exception):
    """The bundle has problems; `problems` lists every one, each naming where it is."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            f"{len(problems)} problem(s) in the bundle:\n" + "\n".join(f"- {p}" for p in problems)
        )
        self.problems = problems


def bundle_parse(text: str | bytes) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BundleError([f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise BundleError(["the bundle must be a mapping with the keys challenge, pages, datasets, phases"])
    return data


def _messages(exc: ValidationError, where: str, instance: Any = None) -> list[str]:
    """Django's validation messages as 'where.field: message', each naming the accepted values where
    the field has choices (Django's own sentence names only the value refused)."""
    if not hasattr(exc, "error_dict"):
        return [f"{where}: {message}" for message in exc.messages]
    out = []
    for field, errors in exc.error_dict.items():
        for error in errors:
            message = " ".join(error.messages)
            if error.code == "invalid_choice" and instance is not None:
                choices = [str(value) for value, _ in instance._meta.get_field(field).flatchoices]
                message = f"{message.rstrip('.')}; expected one of {', '.join(choices)}."
            out.append(f"{where}.{field}: {message}" if field != "__all__" else f"{where}: {message}")
    return out


def _datetime(value: Any, where: str, problems: list[str]) -> datetime | None:
    if value is None or isinstance(value, datetime):
        result = value
    else:
        result = parse_datetime(str(value))
        if result is None:
            problems.append(
                f"{where}: {value!r} is not a date and time (use ISO 8601, e.g. 2020-06-01T00:00:00Z)"
            )
            return None
    if result is not None and timezone.is_naive(result):
        result = timezone.make_aware(result, UTC)
    return result


def _unknown(data: dict[str, Any], allowed: tuple[str, ...], where: str, problems: list[str]) -> None:
    for key in data:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r} (allowed: {', '.join(allowed)})")


Actor = User | AnonymousUser | None


def _check_permission(*, challenge: Challenge, user: Actor) -> None:
    """Raises PermissionDeniedError unless `user` (None: the trusted command line) may load this bundle."""
    if user is None:
        return
    if challenge.pk is not None:
        if not challenge_is_organiser(user=user, challenge=challenge):
            raise PermissionDeniedError(BUNDLE_NOT_ORGANISER.format(slug=challenge.slug))
    elif not (user.is_authenticated and user.is_active and user.is_staff):
        raise PermissionDeniedError(BUNDLE_CREATE_NEEDS_STAFF)


def _organisers(data: dict[str, Any], problems: list[str]) -> list[User]:
    raw = data.get("organisers") or []
    if not isinstance(raw, list) or not all(isinstance(name, str) and name for name in raw):
        problems.append("organisers: give a list of usernames")
        return []
    found = {
        u.get_username(): u
        for u in get_user_model().objects.filter(**{f"{get_user_model().USERNAME_FIELD}__in": raw})
    }
    for i, name in enumerate(raw):
        if name not in found:
            problems.append(f"organisers[{i}]: no account named {name!r}; create it first")
    return [found[name] for name in dict.fromkeys(raw) if name in found]


def _with_preset(data: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """The bundle with the fields it leaves out taken from its preset (none: unchanged)."""
    from evaluation.presets import preset

    key = data.get("preset")
    if key is None:
        return data
    try:
        chosen = preset(str(key))
    except KeyError as exc:
        problems.append(f"preset: {exc.args[0]}")
        return data
    out = dict(data)
    raw = data.get("challenge")
    if isinstance(raw, dict):
        out["challenge"] = {**chosen.bundle_fields(), **raw}
    if "datasets" not in data:
        out["datasets"] = chosen.bundle_datasets()
    return out


def _check_direction(raw: dict[str, Any], challenge: Challenge, problems: list[str]) -> None:
    """A bundle's `higher_is_better`, when given, must agree with its primary metric (an unknown metric
    is reported by the model's validation already)."""
    if DIRECTION_KEY not in raw:
        return
    value = raw[DIRECTION_KEY]
    if not isinstance(value, bool):
        problems.append(BUNDLE_DIRECTION_NOT_BOOLEAN.format(value=value))
    elif is_metric(str(challenge.primary_metric)) and value != challenge.higher_is_better:
        problems.append(
            BUNDLE_DIRECTION_CONTRADICTS.format(
                metric=str(challenge.primary_metric),
                direction="higher" if challenge.higher_is_better else "lower",
                expected=str(challenge.higher_is_better).lower(),
            )
        )


def _build(data: dict[str, Any]) -> tuple[Challenge, list[Dataset], list[Phase], list[User], list[str]]:
    """Unsaved model instances for the bundle, its organisers, plus every problem found (model
    validation included)."""
    problems: list[str] = []
    _unknown(data, TOP_KEYS, "bundle", problems)
    data = _with_preset(data, problems)
    challenge = _build_challenge(data, problems)
    datasets = _build_datasets(data, problems)
    phases = _build_phases(data, problems)
    organisers = _organisers(data, problems)
    return challenge, datasets, phases, organisers, problems


def _build_challenge(data: dict[str, Any], problems: list[str]) -> Challenge:
    """The challenge the bundle names (the stored one, updated, when its slug exists), validated."""
    raw = data.get("challenge")
    if not isinstance(raw, dict):
        problems.append("challenge: missing, or not a mapping")
        raw = {}
    _unknown(raw, (*CHALLENGE_KEYS, DIRECTION_KEY), "challenge", problems)
    existing = (
        Challenge.objects.filter(slug=raw.get("slug")).first() if isinstance(raw.get("slug"), str) else None
    )
    challenge = existing or Challenge()
    for key in CHALLENGE_KEYS:
        if key in raw:
            value = raw[key]
            if value is None and (key in _BLANK_WHEN_NULL or key == "metrics"):
                value = [] if key == "metrics" else ""
            setattr(challenge, key, value)
    pages = data.get("pages") or []
    challenge.pages = pages
    try:
        challenge.full_clean(exclude=["slug"] if existing else None, validate_unique=not existing)
    except ValidationError as exc:
        problems += _messages(exc, "challenge", challenge)
    _check_direction(raw, challenge, problems)
    return challenge


def _build_datasets(data: dict[str, Any], problems: list[str]) -> list[Dataset]:
    """The bundle's datasets in order: names or mappings with a name and a description."""
    datasets: list[Dataset] = []
    raw_datasets = data.get("datasets")
    if not isinstance(raw_datasets, list) or not raw_datasets:
        problems.append("datasets: give a non-empty list of datasets")
        raw_datasets = []
    seen: set[str] = set()
    for i, item in enumerate(raw_datasets):
        where = f"datasets[{i}]"
        item = {"name": item} if isinstance(item, str) else item
        if not isinstance(item, dict):
            problems.append(f"{where}: a name or a mapping with name and description")
            continue
        _unknown(item, ("name", "description"), where, problems)
        name = str(item.get("name") or "")
        if name.lower() in seen:
            problems.append(f"{where}.name: {name!r} appears twice")
        seen.add(name.lower())
        dataset = Dataset(name=name, description=item.get("description") or "", order=i)
        try:
            dataset.full_clean(exclude=["challenge"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            problems += _messages(exc, where, dataset)
        datasets.append(dataset)
    return datasets


def _build_phases(data: dict[str, Any], problems: list[str]) -> list[Phase]:
    """The bundle's phases, each validated as the model would (dates, formats, code settings)."""
    phases: list[Phase] = []
    raw_phases = data.get("phases")
    if not isinstance(raw_phases, list) or not raw_phases:
        problems.append("phases: give a non-empty list of phases")
        raw_phases = []
    slugs: set[str] = set()
    for i, item in enumerate(raw_phases):
        where = f"phases[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: a mapping")
            continue
        _unknown(item, PHASE_KEYS, where, problems)
        slug = str(item.get("slug") or "")
        if slug in slugs:
            problems.append(f"{where}.slug: {slug!r} appears twice")
        slugs.add(slug)
        phase = Phase(slug=slug, order=item.get("order", i))
        for key in PHASE_KEYS:
            if key in item and key not in ("starts_at", "ends_at", "slug", "order"):
                value = item[key]
                setattr(phase, key, "" if value is None and key in ("description",) else value)
        # None until the problem is reported: a bundle with problems is refused before anything is saved
        phase.starts_at = _datetime(item.get("starts_at"), f"{where}.starts_at", problems)  # type: ignore[assignment]
        phase.ends_at = _datetime(item.get("ends_at"), f"{where}.ends_at", problems)
        if phase.starts_at is None and "starts_at" not in item:
            problems.append(f"{where}.starts_at: required (when the phase opens)")
        if phase.starts_at and phase.ends_at and phase.ends_at <= phase.starts_at:
            problems.append(f"{where}.ends_at: must be after starts_at")
        if phase.allowed_formats is None:
            phase.allowed_formats = []
        try:
            phase.full_clean(
                exclude=["challenge", "starts_at"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            problems += _messages(exc, where, phase)
        except (
            Exception
        ) as exc:  # a value of the wrong type (e.g. a mapping for a list) must be reported, not raised
            problems.append(f"{where}: {exc}")
        phases.append(phase)
    return phases


def bundle_validate(*, data: dict[str, Any], user: Actor = None) -> list[str]:
    """Every problem of the bundle at once (empty: it loads).

    Raises:
        PermissionDeniedError: `user` may not load it (see the module's docstring).
    """
    challenge, _datasets, _phases, _organisers_, problems = _build(data)
    _check_permission(challenge=challenge, user=user)
    return problems


@transaction.atomic
def bundle_load(*, data: dict[str, Any], user: Actor = None) -> Challenge:
    """Create or update the challenge, its datasets, phases and organisers from a valid bundle.

    Raises:
        BundleError: with every problem, before anything is written.
        PermissionDeniedError: `user` may not load it (see the module's docstring).
    """
    challenge, datasets, phases, organisers, problems = _build(data)
    _check_permission(challenge=challenge, user=user)
    if problems:
        raise BundleError(problems)
    created = challenge.pk is None
    challenge.save()
    if created and user is not None and user.is_authenticated:  # signed in: checked above for a new one
        organisers = [*organisers, user]
    if organisers:
        challenge.organisers.add(*organisers)
    for dataset in datasets:
        stored = Dataset.objects.filter(challenge=challenge, name=dataset.name).first()
        if stored is None:
            dataset.challenge = challenge
            dataset.save()
        else:
            stored.description, stored.order = dataset.description, dataset.order
            stored.save(update_fields=["description", "order"])
    for phase in phases:
        stored_phase = Phase.objects.filter(challenge=challenge, slug=phase.slug).first()
        if stored_phase is not None and phase_interval_settings_changed(before=stored_phase, after=phase):
            intervals_refresh_on_commit(phase_id=stored_phase.id)
        if stored_phase is not None:
            phase.pk, phase.id = stored_phase.pk, stored_phase.id
            phase._state.adding = False
            for field in ("ground_truth", "ground_truth_sha256", "ground_truth_uploaded_at"):
                setattr(phase, field, getattr(stored_phase, field))
            for (
                model_field
            ) in Phase._meta.concrete_fields:  # fields the bundle does not manage keep their values
                if model_field.name not in PHASE_KEYS and model_field.name not in ("id", "challenge"):
                    setattr(phase, model_field.attname, getattr(stored_phase, model_field.attname))
        phase.challenge = challenge
        phase.full_clean()
        phase.save()
    return challenge


def bundle_export(*, challenge: Challenge) -> dict[str, Any]:
    """The challenge as a bundle that `bundle_load` turns back into the same rows."""

    def when(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def plain(value: Any) -> Any:  # a TextChoices default of an unsaved-then-saved instance is an enum
        return value.value if isinstance(value, Enum) else value

    return {
        "challenge": {key: plain(getattr(challenge, key)) for key in CHALLENGE_KEYS},
        "pages": list(challenge.pages or []),
        "datasets": [{"name": d.name, "description": d.description} for d in challenge.datasets.all()],
        "phases": [
            {
                **{key: plain(getattr(p, key)) for key in PHASE_KEYS if key not in ("starts_at", "ends_at")},
                "starts_at": when(p.starts_at),
                "ends_at": when(p.ends_at),
            }
            for p in challenge.phases.order_by("order", "id")
        ],
        "organisers": sorted(u.get_username() for u in challenge.organisers.all()),
    }


def bundle_dump(*, challenge: Challenge) -> str:
    return yaml.safe_dump(bundle_export(challenge=challenge), sort_keys=False, allow_unicode=True, width=110)
