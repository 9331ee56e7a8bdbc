"""Participant-facing forms: input parsing only; the services decide."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from django import forms

from challenge.models import Challenge, Phase, PrimaryMetric, Submission, SubmissionFormat, Team
from challenge.services.organiser import CHALLENGE_SETTINGS, PHASE_ENDS_BEFORE_START, PHASE_SETTINGS

# Model forms are generic in django-stubs only; Django's class takes no subscript at run time.
if TYPE_CHECKING:
    _PhaseModelForm = forms.ModelForm[Phase]
    _ChallengeModelForm = forms.ModelForm[Challenge]
else:
    _PhaseModelForm = _ChallengeModelForm = forms.ModelForm


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label="Team name")


class TeamJoinForm(forms.Form):
    invite_code = forms.CharField(max_length=32, label="Invite code")


class SubmissionForm(forms.Form):
    file = forms.FileField(
        label="Submission file",
        allow_empty_file=True,
        help_text="A .zip, .npz or .h5 file holding some or all of the phase's datasets.",
    )
    method_name = forms.CharField(max_length=200, label="Method name")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    paper_url = forms.URLField(required=False, label="Paper URL", assume_scheme="https")
    code_url = forms.URLField(required=False, label="Code URL", assume_scheme="https")
    is_public = forms.BooleanField(required=False, initial=True, label="Show on the public leaderboard")


class SubmissionUpdateForm(forms.Form):
    is_public = forms.TypedChoiceField(
        choices=[("1", "public"), ("0", "private")],
        coerce=lambda v: v == "1",
        required=False,
        empty_value=None,
    )
    is_final = forms.TypedChoiceField(
        choices=[("1", "final"), ("0", "not final")],
        coerce=lambda v: v == "1",
        required=False,
        empty_value=None,
    )


class SubmissionFilterForm(forms.Form):
    """My submissions' filter (GET): one phase of the challenge and one status, either optional."""

    phase = forms.ChoiceField(required=False, label="Phase")
    status = forms.ChoiceField(
        required=False, label="Status", choices=[("", "any status"), *Submission.Status.choices]
    )

    def __init__(self, *args: Any, phases: Iterable[Phase] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        phase = cast(forms.ChoiceField, self.fields["phase"])  # declared above
        phase.choices = [("", "every phase"), *[(p.slug, p.title) for p in phases]]


class PhaseSettingsForm(_PhaseModelForm):
    """The organiser console's phase settings: the fields `phase_settings_update` accepts."""

    allowed_formats = forms.MultipleChoiceField(
        choices=[(choice.value, f".{choice.value}") for choice in SubmissionFormat],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Accepted formats",
        help_text="Leave all unticked to accept every format.",
    )

    class Meta:
        model = Phase
        fields = list(PHASE_SETTINGS)
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "final_submission": forms.RadioSelect,
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def clean(self) -> dict[str, Any]:
        super().clean()  # a model form's clean returns its cleaned_data
        cleaned = self.cleaned_data
        starts, ends = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", PHASE_ENDS_BEFORE_START)
        return cleaned

    def _post_clean(self) -> None:
        # the model's constraint would repeat the date error as a sentence naming the constraint
        if "ends_at" not in self.errors:  # the errors so far (this runs within full_clean)
            super()._post_clean()  # type: ignore[misc]  # private to Django, absent from django-stubs


class PhaseCreateForm(PhaseSettingsForm):
    """A new phase: its short name (fixed once created: it names the phase in URLs and files) and every
    setting the edit form has."""

    class Meta(PhaseSettingsForm.Meta):
        fields = ["slug", *PHASE_SETTINGS]
        labels = {"slug": "Short name"}


def _dataset_names(text: str) -> list[str]:
    names = [name.strip() for name in text.replace("\n", ",").split(",")]
    return list(dict.fromkeys(name for name in names if name))


def _metric_keys(text: str) -> list[str]:
    """The metric set as typed: keys separated by commas or spaces, in order (a key listed twice stays
    twice, so the model's validation can say so)."""
    return [key for key in text.replace("\n", ",").replace(" ", ",").split(",") if key]


class ChallengeForm(_ChallengeModelForm):
    """A challenge's pages, rules, metric set and primary metric, the words its pages use, approval
    settings, and its datasets (one list). The metric set is checked by the model
    (`challenge.models.vocabulary`), so the console, the bundle and the services say the same."""

    datasets = forms.CharField(
        required=False,
        label="Datasets",
        help_text="Names separated by commas, in the order the boards show them (e.g. MSRVTT, MSVD); "
        "each must match a group of the ground-truth files.",
    )
    metrics = forms.CharField(
        required=False,
        label="Metrics",
        help_text="Registry metrics the boards show, in order, separated by commas (e.g. mAP@10, mAP@16, "
        "R1, R5); cut-offs of mAP@K, nDCG@K and Recall@K may be declared. Empty: R@1, R@5, R@10, R@50, "
        "MedR, MeanR and the primary metric.",
    )
    primary_metric = forms.ChoiceField(
        label="Primary metric",
        help_text="What the boards rank by (its direction is the metric's own); one of the metrics above "
        "when they are given, or the geometric mean.",
    )

    class Meta:
        model = Challenge
        fields = [name for name in CHALLENGE_SETTINGS if name != "pages"]  # pages: ChallengePagesFormSet
        widgets = {
            "description": forms.Textarea(attrs={"rows": 5}),
            "rules": forms.Textarea(attrs={"rows": 6}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["datasets"] = ", ".join(self.instance.datasets.values_list("name", flat=True))
        if not self.is_bound:
            self.initial["metrics"] = ", ".join(self.instance.metrics or [])
        # the registry's named metrics, and the cut-offs the challenge declares (stored or being typed)
        declared = _metric_keys(str(self.data.get("metrics") or "")) if self.is_bound else []
        extra = [k for k in (*(self.instance.metrics or []), *declared) if k not in PrimaryMetric.values]
        primary = cast(forms.ChoiceField, self.fields["primary_metric"])  # declared above
        primary.choices = [*PrimaryMetric.choices, *[(k, k) for k in dict.fromkeys(extra)]]

    def clean_datasets(self) -> list[str]:
        return _dataset_names(self.cleaned_data["datasets"])

    def clean_metrics(self) -> list[str]:
        return _metric_keys(self.cleaned_data["metrics"])


#: Ids the challenge page uses itself: an extra page with one of them would break its links (#rules).
RESERVED_PAGE_SLUGS = frozenset({"rules"})
MAX_EXTRA_PAGES = 20


class ChallengePageForm(forms.Form):
    """One extra page of the challenge (a section of its page, linked as /c/<challenge>/#<address>)."""

    slug = forms.SlugField(max_length=50, label="Address", help_text="Its anchor: /c/<challenge>/#<address>.")
    title = forms.CharField(max_length=200, label="Title")
    body = forms.CharField(required=False, label="Text", widget=forms.Textarea(attrs={"rows": 6}))

    def clean_slug(self) -> str:
        slug = str(self.cleaned_data["slug"])
        if slug in RESERVED_PAGE_SLUGS:
            raise forms.ValidationError(
                f"'{slug}' is the address of the challenge's own section; choose another."
            )
        return slug


class ChallengePagesBase(forms.BaseFormSet):  # type: ignore[type-arg]  # django-stubs: generic in the form
    def clean(self) -> None:
        if any(self.errors):
            return
        seen: set[str] = set()
        for form in self.forms:
            if form.cleaned_data.get("DELETE"):
                continue
            slug = form.cleaned_data.get("slug")
            if slug and slug in seen:
                raise forms.ValidationError(f"Two pages have the address '{slug}'; each needs its own.")
            if slug:
                seen.add(slug)

    def pages(self) -> list[dict[str, str]]:
        """The pages kept, in order, as `Challenge.pages` stores them."""
        return [
            {
                "slug": f.cleaned_data["slug"],
                "title": f.cleaned_data["title"],
                "body": f.cleaned_data.get("body", ""),
            }
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]


ChallengePagesFormSet = forms.formset_factory(
    ChallengePageForm,
    formset=ChallengePagesBase,
    extra=1,
    can_delete=True,
    max_num=MAX_EXTRA_PAGES,
    validate_max=True,
)


class ChallengeCreateForm(ChallengeForm):
    """A new challenge: its address (fixed once created) and the settings the edit form has."""

    class Meta(ChallengeForm.Meta):
        fields = ["slug", *ChallengeForm.Meta.fields]
        labels = {"slug": "Address"}
        help_texts = {"slug": "The challenge's pages live at /c/<address>/; letters, digits, - and _."}


class OrganiserSubmissionFilterForm(forms.Form):
    """The console's submissions table filter (GET): team, status and phase, each optional."""

    team = forms.ChoiceField(required=False, label="Team")
    status = forms.ChoiceField(
        required=False, label="Status", choices=[("", "any status"), *Submission.Status.choices]
    )
    phase = forms.ChoiceField(required=False, label="Phase")

    def __init__(
        self, *args: Any, teams: Iterable[Team] = (), phases: Iterable[Phase] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        team = cast(forms.ChoiceField, self.fields["team"])  # declared above
        team.choices = [("", "every team"), *[(str(t.id), t.name) for t in teams]]
        phase = cast(forms.ChoiceField, self.fields["phase"])
        phase.choices = [("", "every phase"), *[(p.slug, p.title) for p in phases]]
