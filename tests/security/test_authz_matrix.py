"""The authorisation matrix, generated from the URL configuration.

Every URL pattern of `get_resolver()` (walked recursively, admin included) x every role x
GET/POST/PUT/PATCH/DELETE. Path converters are filled with the ids and slugs of objects owned by
the *subject*: the challenge "video-pentathlon", its hidden test phase (shuffled queries, results
unpublished) and the submission of the subject team. Checked for every request:

* no 500 (the client never re-raises: a server error is a status, recorded and reported);
* the expectation of the endpoint: roles allowed to read get 2xx/3xx (a redirect that is not to a
  login page), roles allowed to write get anything below 500, every other role gets a refusal
  (a redirect to a login page, 400, 401, 403, 404 or 405) and never a 2xx;
* nobody but the challenge's organisers (its `Challenge.organisers` and superusers) ever receives
  ground-truth bytes, the hidden phase's query->video mapping, its hidden scores or their interval
  bounds; zip bodies (starter kits) are scanned member by member;
* nobody at all, organisers included, receives a result's stored per-query ranks (they name each
  query's video, and no route serves them).

A URL without an expectation entry (and outside a namespace with a default rule) fails
`test_every_endpoint_has_an_expectation`, so a new endpoint cannot be missed; it is still checked
by the generic invariants in the meantime.

Roles: "organiser" is a staff account (not a superuser) listed in the subject challenge's
organisers; "other_organiser" is a staff account that organises a second challenge only; "staff" is a
staff account that organises nothing; "superuser" is the site administrator. Only "organiser" and
"superuser" may see the subject challenge's secrets; staff status alone opens the admin, not the
challenge (see SECURITY.md).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from django.core.files import File
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import (
    ChallengeFactory,
    DatasetFactory,
    MembershipFactory,
    OrganiserFactory,
    PhaseFactory,
    ResultFactory,
    SubmissionFactory,
    SuperuserFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "participant", "other_team", "other_organiser", "organiser", "staff", "superuser")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ALL = frozenset(ROLES)
NONE: frozenset[str] = frozenset()
AUTH = ALL - {"anonymous"}
#: The subject challenge's organisers: its listed organiser and the superuser.
ORG = frozenset({"organiser", "superuser"})
#: Every account with staff status (the admin lets them in; what they see there is scoped).
STAFF = ORG | {"other_organiser", "staff"}
#: Staff accounts that organise some challenge (scoped admin lists and add forms).
ORGANISES_ANY = ORG | {"other_organiser"}
SUPER = frozenset({"superuser"})
MEMBER_OR_ORG = frozenset({"participant"}) | ORG
#: Who may see hidden results and ground truth: the challenge's organisers.
MAY_SEE_SECRETS = ORG

HIDDEN_SCORE = 87.654321
VISIBLE_SCORE = 42.424242
HIDDEN_DATASET_SCORE = 71.234567
#: The hidden results' interval bounds (overall and per dataset): as secret as their scores.
HIDDEN_LOW = 81.123457
HIDDEN_HIGH = 93.876543
HIDDEN_DATASET_LOW = 66.345678
HIDDEN_DATASET_HIGH = 77.765432
DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")


@dataclass(frozen=True)
class Expect:
    """Who may read (GET) and who may write (POST/PUT/PATCH/DELETE) an endpoint."""

    read: frozenset[str]
    write: frozenset[str]
    data: str | None = None  # a body builder name, see `World.body`


#: Explicit entries, keyed by URL name (or route, for unnamed patterns).
EXPECTATIONS: dict[str, Expect] = {
    # pages
    "home": Expect(ALL, ALL),  # renders for any method; POST changes nothing
    # accounts (django-allauth): the entrance pages send logged-in users on (a redirect, not to a login)
    "account_signup": Expect(ALL, ALL),
    "account_login": Expect(ALL, ALL),
    "account_logout": Expect(ALL, ALL),  # GET: a confirmation page (anonymous: sent home); POST logs out
    "account_inactive": Expect(ALL, ALL),
    "account_reset_password": Expect(ALL, ALL),
    "password-reset-legacy": Expect(ALL, ALL),  # /accounts/password_reset/ redirects to the reset page
    "account_reset_password_done": Expect(ALL, ALL),
    "account_reset_password_from_key": Expect(ALL, ALL),  # filled with a bad key: "this link is invalid"
    "account_reset_password_from_key_done": Expect(ALL, ALL),
    "account_email_verification_sent": Expect(ALL, ALL),
    "account_confirm_email": Expect(ALL, ALL),  # filled with a bad key: "this link is invalid"
    "account_email": Expect(AUTH, AUTH),
    "account_change_password": Expect(AUTH, AUTH),
    "account_set_password": Expect(AUTH, AUTH),  # accounts with a password are sent to the change page
    "account_reauthenticate": Expect(AUTH, AUTH),
    # login codes are off: logged-in users are sent on, visitors to the login page
    "account_request_reauthentication_code": Expect(AUTH, AUTH),
    "account_confirm_reauthentication_code": Expect(AUTH, AUTH),
    "account_confirm_login_code": Expect(AUTH, AUTH),
    "socialaccount_login_cancelled": Expect(ALL, ALL),
    "socialaccount_login_error": Expect(NONE, NONE),  # the error page answers 401
    "socialaccount_signup": Expect(NONE, NONE),  # no social login in progress: sent to the login page
    "socialaccount_connections": Expect(AUTH, AUTH),
    # allauth's old addresses of the social pages, redirecting to the new ones
    "? accounts/social/login/cancelled/": Expect(ALL, ALL),
    "? accounts/social/login/error/": Expect(ALL, ALL),
    "? accounts/social/signup/": Expect(ALL, ALL),
    "? accounts/social/connections/": Expect(ALL, ALL),
    # social providers: absent (404) until their client id is configured (tests/accounts/test_allauth.py)
    "github_login": Expect(NONE, NONE),
    "github_callback": Expect(NONE, NONE),
    "orcid_login": Expect(NONE, NONE),
    "orcid_callback": Expect(NONE, NONE),
    "challenge:detail": Expect(ALL, ALL),
    "challenge:team": Expect(AUTH, AUTH),
    "challenge:submissions": Expect(AUTH, AUTH),
    "challenge:submit": Expect(AUTH, AUTH, data="upload_form"),  # no team: redirect to the team page
    "challenge:submission": Expect(MEMBER_OR_ORG, MEMBER_OR_ORG),
    "challenge:submission-change": Expect(NONE, frozenset({"participant"}), data="visibility_form"),
    # a member cancels (finished: a message and back to the list); the file is for members and organisers
    "challenge:submission-cancel": Expect(NONE, frozenset({"participant"})),
    "challenge:submission-file": Expect(MEMBER_OR_ORG, NONE),
    # the organiser console: its front page lists the user's challenges (none: a sentence saying so)
    "challenge:organiser-home": Expect(AUTH, NONE),
    # accepting the rules: POST only; a challenge that asks none answers with a message and back
    "challenge:terms-accept": Expect(NONE, AUTH),
    # creating a challenge: site staff (the creator organises it); an empty POST is the form's 400
    "challenge:challenge-create": Expect(STAFF, STAFF),
    "challenge:console-submissions": Expect(ORG, NONE),
    "challenge:console-teams": Expect(ORG, NONE),
    "challenge:console-log": Expect(ORG, NONE),
    "challenge:phase-settings": Expect(ORG, ORG),  # an empty POST: the form's errors (400)
    "challenge:console-submission-cancel": Expect(NONE, ORG),  # finished: a message and back
    "challenge:console-member-remove": Expect(NONE, ORG),  # no member given: a message and back
    "leaderboard:phase": Expect(ALL, ALL),
    # API
    "api:token": Expect(NONE, ALL, data="token"),
    "api:index": Expect(ALL, NONE),  # where to start: links, no data
    # your team: members of a team read it (others: 403 naming the team page); an empty POST is a 400
    "api:team-mine": Expect(frozenset({"participant", "other_team"}), AUTH),
    "api:team-join": Expect(NONE, AUTH),
    "api:challenge-list": Expect(ALL, NONE),
    "api:challenge-detail": Expect(ALL, NONE),
    "api:phase-list": Expect(ALL, NONE),
    "api:submission-list": Expect(AUTH, NONE),
    # A team member uploads for their own team (other_team is a member of another team: allowed,
    # for that team); users without a team in the challenge are refused (403).
    "api:submission-create": Expect(NONE, frozenset({"participant", "other_team"}), data="upload_api"),
    "api:submission-detail": Expect(MEMBER_OR_ORG, NONE),
    "api:submission-update": Expect(NONE, frozenset({"participant"}), data="visibility_api"),
    "api:submission-cancel": Expect(NONE, frozenset({"participant"})),  # finished: 400, too late
    "api:phase-kit": Expect(ALL, NONE),
    # organisers' ground-truth summary and upload (empty body: 400), and the query order (empty: 400)
    "api:phase-ground-truth": Expect(ORG, ORG),
    "api:phase-query-order": Expect(NONE, ORG),
    "api:phase-query-text": Expect(NONE, ORG),
    # the dashboard's ground-truth upload (POST only; without a file: a message and back to the dashboard)
    "challenge:phase-ground-truth-upload": Expect(NONE, ORG),
    # the dashboard's gallery-inputs upload (POST only; without a file: a message and back; a phase
    # that takes predictions: refused with a message)
    "challenge:phase-gallery-inputs-upload": Expect(NONE, ORG),
    # the starter kit's README, as text (counts only): like the kit, for anyone who sees the phase
    "challenge:kit-readme": Expect(ALL, NONE),
    "challenge:team-manage": Expect(
        NONE, AUTH
    ),  # POST only; without a team or an action: back to the team page
    "api:leaderboard": Expect(ALL, NONE),
    "api:schema": Expect(ALL, ALL),  # a redirect to /api/schema/ for every method (one schema URL)
    # OpenAPI schema and browsable docs outside the versioned API
    "openapi-schema": Expect(ALL, NONE),
    "openapi-docs": Expect(ALL, NONE),
    "openapi-redoc": Expect(ALL, NONE),
    "api:upload-create": Expect(NONE, AUTH),  # chunked upload session: empty body is a 400 for everyone
    "api:upload-detail": Expect(NONE, NONE),  # filled with an unknown upload id: 404 (or 401)
    "api:upload-complete": Expect(NONE, NONE),
    "api:leaderboard-history": Expect(ALL, NONE),  # the hidden phase's history is scanned for scores
    "api:submission-charts": Expect(MEMBER_OR_ORG, NONE),
    # accounts
    "accounts:api-token": Expect(AUTH, AUTH),
    "accounts:api-token-rotate": Expect(NONE, AUTH),
    "accounts:api-token-revoke": Expect(NONE, AUTH),
    "challenge:profile": Expect(AUTH, AUTH),
    # public leaderboard variants (the hidden phase's are scanned for hidden scores)
    "leaderboard:embed": Expect(ALL, ALL),
    "leaderboard:csv": Expect(ORG, ORG),  # the subject phase is hidden: its CSV is for organisers only
    # public entry pages: filled with the hidden phase's entry, so 404 for everyone, organisers included
    # (they have the submission page); tests/leaderboard/test_entry.py covers the public case
    "leaderboard:entry": Expect(NONE, NONE),
    "api:entry-charts": Expect(NONE, NONE),
    # admin views that refuse everyone (no add form: rows come from services)
    "admin:challenge_split_add": Expect(NONE, NONE),
    "admin:leaderboard_result_add": Expect(NONE, NONE),
}

#: Admin views any staff user reaches (no model permission needed).
_ADMIN_STAFF_VIEWS = {"admin:index", "admin:password_change", "admin:password_change_done", "admin:jsi18n"}


def admin_rule(name: str, route: str) -> Expect | None:
    """Default rule of the admin namespace: superusers only, except the staff-wide pages."""
    if name == "admin:login":
        return Expect(ALL, ALL)
    if name == "admin:logout":
        # POST logs out whoever asks; GET is 405 for staff (Django 5) and a redirect for the rest
        return Expect(ALL - STAFF, ALL)
    if name == "admin:autocomplete":
        return Expect(NONE, SUPER)  # refused without its query parameters, even to superusers
    if name == "admin:app_list":
        return Expect(STAFF, STAFF)  # filled with "challenge": any staff account may create a challenge
    if name in _ADMIN_STAFF_VIEWS:
        return Expect(STAFF, STAFF)
    if name == "admin:view_on_site":
        return Expect(NONE, NONE)  # no model has get_absolute_url: 404 for everyone
    if name == "admin:?" and "(?P<url>" in route:
        return Expect(NONE, NONE)  # the catch-all: login redirect or 404
    if name == "admin:?":
        return Expect(STAFF, STAFF)  # "<id>/" redirects staff to the change page (which checks permissions)
    scoped = re.match(r"admin:(challenge|leaderboard)_(\w+?)_(changelist|add|change|delete|history)$", name)
    if scoped:
        model, view = scoped.group(2), scoped.group(3)
        if view in ("change", "delete", "history"):
            return Expect(ORG, ORG)  # the subject challenge's objects: its organisers only (others: 404)
        if model == "challenge":
            return Expect(STAFF, STAFF)  # staff may create challenges; the list shows only their own
        return Expect(ORGANISES_ANY, ORGANISES_ANY)  # lists and add forms scoped to the user's challenges
    if name.startswith("admin:"):
        return Expect(SUPER, SUPER)  # users, groups, tokens: site administrators only
    return None


def organiser_rule(name: str, route: str) -> Expect | None:
    """Organiser tools live under /organiser/: the subject challenge's organisers only. The bundle page
    (no challenge in its URL) also serves staff, who may create challenges with it."""
    if not route.startswith("organiser/"):
        return None
    if route == "organiser/bundle/":
        return Expect(STAFF, STAFF)
    if re.search(r"/(lock|approve|moderate|refund|publish)/$", route):
        return Expect(NONE, ORG)  # actions: POST only
    return Expect(ORG, ORG)


NAMESPACE_RULES = {"admin": admin_rule, "challenge": organiser_rule, "leaderboard": organiser_rule}


# --- URL walking ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    key: str  # URL name, or "namespace:?" for unnamed patterns
    route: str  # the pattern as written, e.g. "api/v1/submissions/<int:submission_id>/"
    namespace: str
    params: tuple[str, ...]

    @property
    def ident(self) -> str:
        return self.key if not self.key.endswith(":?") and self.key != "?" else f"{self.key} {self.route}"


def _pattern_params(pattern) -> tuple[str, ...]:
    converters = getattr(pattern.pattern, "converters", None)
    if converters:
        return tuple(converters)
    return tuple(re.findall(r"\(\?P<(\w+)>", str(pattern.pattern)))


def walk_urls(patterns=None, prefix: str = "", namespace: str = "") -> list[Endpoint]:
    """Every leaf pattern of the URL configuration, with its full route and namespace."""
    patterns = get_resolver().url_patterns if patterns is None else patterns
    out: list[Endpoint] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = ":".join(p for p in (namespace, pattern.namespace or "") if p)
            out.extend(walk_urls(pattern.url_patterns, prefix + str(pattern.pattern), ns))
        elif isinstance(pattern, URLPattern):
            name = pattern.name or "?"
            key = f"{namespace}:{name}" if namespace else name
            out.append(
                Endpoint(
                    key=key,
                    route=prefix + str(pattern.pattern),
                    namespace=namespace.split(":")[0],
                    params=tuple(_pattern_params(pattern)),
                )
            )
    return out


def expectation_of(endpoint: Endpoint) -> Expect | None:
    if endpoint.key in EXPECTATIONS:
        return EXPECTATIONS[endpoint.key]
    if endpoint.ident in EXPECTATIONS:
        return EXPECTATIONS[endpoint.ident]
    rule = NAMESPACE_RULES.get(endpoint.namespace)
    return rule(endpoint.key, endpoint.route) if rule else None


#: For an endpoint nobody has described yet: the invariants only (anonymous never writes).
FALLBACK = Expect(ALL, AUTH)


# --- the world --------------------------------------------------------------------------------------


@dataclass
class World:
    users: dict
    challenge: object
    hidden_phase: object
    visible_phase: object
    submission: object
    objects: dict
    secrets: list[bytes]
    mapping_regex: re.Pattern
    upload_path: Path
    rank_secrets: list[bytes] = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    def body(self, kind: str | None, role: str) -> dict:
        if kind == "upload_api":
            return {
                "phase": str(self.hidden_phase.id),
                "method_name": f"matrix {role}",
                "file": open(self.upload_path, "rb"),
            }  # noqa: SIM115 - closed by the client
        if kind == "upload_form":
            return {"method_name": f"matrix {role}", "file": open(self.upload_path, "rb")}  # noqa: SIM115
        if kind == "visibility_api":
            return {"is_public": "false"}
        if kind == "visibility_form":
            return {"is_public": "0"}
        if kind == "token":
            return {"username": "alice", "password": "wrong-password-1"}
        return {}


def _fill(endpoint: Endpoint, world: World) -> str:
    values = {
        "slug": world.challenge.slug,
        "phase_slug": world.hidden_phase.slug,
        "submission_id": str(world.submission.id),
        "phase_id": str(world.hidden_phase.id),
        "app_label": "challenge",
        "url": "no-such-admin-page/",
        "team_id": str(world.objects["challenge.team"].pk),
        # objects the world does not create (e.g. chunked uploads): an unknown id, answered 404
        "upload_id": "00000000-0000-4000-8000-000000000000",
        # allauth's e-mail confirmation and password reset links: keys that match no account
        "key": "no-such-key",
        "uidb36": "zz",
    }
    route = endpoint.route
    model_object = None
    match = re.match(r"admin:(\w+?)_(\w+?)_(\w+)$", endpoint.key)
    admin_model = re.match(r"admin/(\w+)/(\w+)/", route)
    if admin_model:
        model_object = world.objects.get(f"{admin_model.group(1)}.{admin_model.group(2)}")
    if match or admin_model:
        values["object_id"] = str(model_object.pk) if model_object is not None else "1"
        values["id"] = values["object_id"]
    if endpoint.key == "admin:view_on_site":
        from django.contrib.contenttypes.models import ContentType

        values["content_type_id"] = str(ContentType.objects.get_for_model(world.challenge).id)
        values["object_id"] = str(world.challenge.id)

    def substitute(m: re.Match) -> str:
        name = m.group("name")
        if name not in values:
            raise AssertionError(f"{endpoint.ident}: no fixture value for the path parameter {name!r}")
        return values[name]

    url = re.sub(r"<(?:\w+:)?(?P<name>\w+)>", substitute, route) if "(?P<" not in route else route
    while "(?P<" in url:  # regex patterns: replace each named group, nested parentheses included
        start = url.index("(?P<")
        name = url[start + 4 : url.index(">", start)]
        depth, end = 0, start
        for end in range(start, len(url)):
            depth += {"(": 1, ")": -1}.get(url[end], 0)
            if depth == 0:
                break
        if name not in values:
            raise AssertionError(f"{endpoint.ident}: no fixture value for the path parameter {name!r}")
        url = url[:start] + values[name] + url[end + 1 :]
    url = url.replace("^", "").replace("$", "")
    return "/" + url


def _build_world(tmp_path_factory) -> World:
    from challenge.services import phase_ground_truth_set
    from evaluation import synthetic
    from evaluation.ground_truth import write_ground_truth

    root = tmp_path_factory.mktemp("matrix")
    challenge = ChallengeFactory(slug="video-pentathlon", title="Video Pentathlon")
    for order, name in enumerate(DATASETS):
        DatasetFactory(challenge=challenge, name=name, order=order)
    truths = {}
    phases = {}
    for slug, hidden in (("val", False), ("test", True)):
        truth = synthetic.pentathlon_ground_truth(phase=slug, scale="tiny", seed=3, shuffled=hidden)
        path = root / f"{slug}.h5"
        write_ground_truth(path, truth)
        phase = PhaseFactory(
            challenge=challenge,
            slug=slug,
            title=slug.title(),
            max_submissions_total=None,
            leaderboard_visibility="hidden" if hidden else "public",
        )
        with open(path, "rb") as handle:
            phase_ground_truth_set(phase=phase, file=File(handle))
        truths[slug], phases[slug] = (truth, path), phase

    participant = UserFactory(username="alice")
    team = TeamFactory(challenge=challenge, name="Alpha")
    MembershipFactory(team=team, user=participant, role="owner")
    other = UserFactory(username="bob")
    other_team = TeamFactory(challenge=challenge, name="Beta")
    MembershipFactory(team=other_team, user=other, role="owner")
    other_challenge = ChallengeFactory(slug="other-challenge", title="Other challenge")
    DatasetFactory(challenge=other_challenge, name="MSRVTT")
    PhaseFactory(challenge=other_challenge, slug="val")
    # Staff, organiser of the other challenge only (and owner of its baseline team).
    other_organiser = OrganiserFactory(username="carol", organises=[other_challenge])
    MembershipFactory(
        team=TeamFactory(challenge=other_challenge, name="Carol baselines", is_baseline=True),
        user=other_organiser,
        role="owner",
    )
    organiser = OrganiserFactory(username="org", organises=[challenge])
    staff = UserFactory(username="support", is_staff=True)
    superuser = SuperuserFactory(username="root")

    metrics = {
        name: {"score": HIDDEN_DATASET_SCORE, "t2v": {"R1": HIDDEN_DATASET_SCORE}, "v2t": None}
        for name in DATASETS
    }
    hidden_sub = SubmissionFactory(team=team, phase=phases["test"], method_name="hidden entry")
    hidden_results = [ResultFactory(submission=hidden_sub, primary_score=HIDDEN_SCORE, metrics=metrics)]
    other_hidden = SubmissionFactory(team=other_team, phase=phases["test"], method_name="other hidden entry")
    hidden_results.append(
        ResultFactory(submission=other_hidden, primary_score=HIDDEN_SCORE + 1, metrics=metrics)
    )
    # Their per-query ranks (with each query's video) and intervals, as the worker stores them.
    hidden_ranks = _store_ranks_and_intervals(hidden_results, truths["test"][0])
    visible_sub = SubmissionFactory(team=team, phase=phases["val"], method_name="visible entry")
    ResultFactory(submission=visible_sub, primary_score=VISIBLE_SCORE)

    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    Token.objects.create(user=participant)
    from challenge.models import Dataset, Split, TeamMembership
    from leaderboard.models import Result

    objects = {
        "challenge.challenge": challenge,
        "challenge.phase": phases["test"],
        "challenge.submission": hidden_sub,
        "challenge.team": team,
        "challenge.dataset": Dataset.objects.filter(challenge=challenge).first(),
        "challenge.split": Split.objects.filter(phase=phases["test"]).first(),
        "challenge.teammembership": TeamMembership.objects.filter(team=team).first(),
        "leaderboard.result": Result.objects.get(submission=hidden_sub),
        "auth.user": participant,
        "authtoken.tokenproxy": participant,  # TokenProxy's pk is the user's
    }
    from django.contrib.auth.models import Group

    objects["auth.group"] = Group.objects.create(name="judges")
    # allauth's admin pages (site administrators only), each filled with a real row
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken

    objects["account.emailaddress"] = EmailAddress.objects.create(
        user=participant, email=participant.email, primary=True, verified=True
    )
    # a provider the site does not install: GitHub and ORCID stay unconfigured here
    social_app = SocialApp.objects.create(provider="gitlab", name="GitLab", client_id="id", secret="s")
    social_account = SocialAccount.objects.create(user=UserFactory(), provider="gitlab", uid="42")
    objects["socialaccount.socialapp"] = social_app
    objects["socialaccount.socialaccount"] = social_account
    objects["socialaccount.socialtoken"] = SocialToken.objects.create(
        app=social_app, account=social_account, token="not-a-real-token"
    )
    assert get_user_model().objects.filter(is_superuser=True).count() == 1

    # What must never reach a non-organiser: ground-truth bytes, the hidden mapping, hidden scores.
    secrets: list[bytes] = [b"\x89HDF\r\n\x1a\n"]
    for _truth, path in truths.values():
        raw = path.read_bytes()
        secrets.append(hashlib.sha256(raw).hexdigest().encode())
        secrets.extend(
            raw[i : i + 48]
            for i in range(len(raw) // 3, len(raw), len(raw) // 3)
            if raw[i : i + 48].strip(b"\x00")
        )
    hidden_truth = truths["test"][0]
    pairs = []
    for d in hidden_truth.datasets.values():
        qv = d.query_video
        secrets.append(qv[:16].astype("<i4").tobytes())
        secrets.append(qv[:16].astype("<i8").tobytes())
        secrets.append(",".join(str(int(v)) for v in qv[:12]).encode())
        secrets.append(", ".join(str(int(v)) for v in qv[:12]).encode())
        pairs.extend((d.query_ids[i], d.videos[int(qv[i])]) for i in range(len(d.query_ids)))
    for score in (
        HIDDEN_SCORE,
        HIDDEN_SCORE + 1,
        HIDDEN_DATASET_SCORE,
        HIDDEN_LOW,
        HIDDEN_HIGH,
        HIDDEN_DATASET_LOW,
        HIDDEN_DATASET_HIGH,
    ):
        secrets.extend({repr(score).encode(), f"{score:.2f}".encode(), f"{score:.4f}".encode()})
    # Per-query ranks, in any form a page or an export could print them, and the stored blob's bytes:
    # never served to anyone, organisers included.
    rank_secrets: list[bytes] = []
    for blob, ranks in hidden_ranks:
        rank_secrets.extend(blob[i : i + 32] for i in range(64, len(blob) - 32, max(len(blob) // 4, 1)))
        for entry in ranks.values():
            head = [float(r) for r in entry["t2v"][:12]]
            rank_secrets.append(json.dumps(head).encode())
            rank_secrets.append(", ".join(f"{r:g}" for r in head).encode())
            rank_secrets.append(np.asarray(entry["t2v"][:12], dtype="<f4").tobytes())
    secrets.extend(rank_secrets)
    mapping_regex = re.compile(
        "|".join(
            f"{re.escape(q)}[^A-Za-z0-9]{{1,8}}{re.escape(v)}|{re.escape(v)}[^A-Za-z0-9]{{1,8}}{re.escape(q)}"
            for q, v in pairs
        ).encode()
    )

    upload_path = root / "upload.npz"
    np.savez(upload_path, **synthetic.similarity_matrices(hidden_truth, seed=1))
    return World(
        users={
            "participant": participant,
            "other_team": other,
            "other_organiser": other_organiser,
            "organiser": organiser,
            "staff": staff,
            "superuser": superuser,
        },
        challenge=challenge,
        hidden_phase=phases["test"],
        visible_phase=phases["val"],
        submission=hidden_sub,
        objects=objects,
        secrets=secrets,
        mapping_regex=mapping_regex,
        upload_path=upload_path,
        rank_secrets=rank_secrets,
    )


def _store_ranks_and_intervals(results: list, truth) -> list[tuple[bytes, dict]]:
    """Give each hidden result stored per-query ranks (random, with the hidden query->video groups)
    and intervals with the secret bounds; returns (blob, ranks) per result."""
    from evaluation.uncertainty import pack_ranks
    from leaderboard.services.intervals import result_intervals_set, result_ranks_set

    rng = np.random.default_rng(11)
    stored = []
    for result in results:
        ranks = {
            name: {
                "t2v": rng.integers(0, d.num_videos, size=len(d.query_ids)).astype(np.float64) + 0.5,
                "v2t": None,
                "groups": np.asarray(d.query_video, dtype=np.int32),
                "topk": None,
            }
            for name, d in truth.datasets.items()
        }
        blob = pack_ranks(ranks)
        result_ranks_set(result=result, blob=blob)

        def interval(low: float, high: float) -> dict:
            return {"estimate": (low + high) / 2, "low": low, "high": high, "level": 0.95}

        dataset_interval = interval(HIDDEN_DATASET_LOW, HIDDEN_DATASET_HIGH)
        result_intervals_set(
            result=result,
            intervals={
                "method": "percentile bootstrap",
                "level": 0.95,
                "overall_score": interval(HIDDEN_LOW, HIDDEN_HIGH),
                "datasets": {
                    name: {"score": dataset_interval, "t2v": {"R1": dataset_interval}, "v2t": None}
                    for name in truth.datasets
                },
            },
        )
        stored.append((blob, ranks))
    return stored


# --- checks ---------------------------------------------------------------------------------------

LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


def _is_login_redirect(response) -> bool:
    return response.status_code in (301, 302, 303) and response.get("Location", "").startswith(LOGIN_PATHS)


def _is_refusal(response) -> bool:
    return _is_login_redirect(response) or response.status_code in (400, 401, 403, 404, 405)


def _bodies(response) -> list[bytes]:
    if getattr(response, "streaming", False):
        body = b"".join(response.streaming_content)
    else:
        body = response.content
    bodies = [body]
    if body[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for info in archive.infolist():
                member = archive.read(info)
                bodies.append(member)
                if member[:4] == b"PK\x03\x04":  # the example .npz inside the kit
                    with zipfile.ZipFile(io.BytesIO(member)) as inner:
                        bodies.extend(inner.read(i) for i in inner.infolist())
    return bodies


def leaks(response, world: World) -> list[str]:
    found = []
    for body in _bodies(response):
        for secret in world.secrets:
            if secret and secret in body:
                found.append(f"secret bytes {secret[:24]!r}")
        match = world.mapping_regex.search(body)
        if match:
            found.append(f"query->video pair {match.group(0)[:60]!r}")
    return found


_CLIENTS: dict[str, Client] = {}


def _client(world: World, role: str) -> Client:
    """One client per role, logged in again whenever a response (a logout) dropped its session."""
    from django.conf import settings

    client = _CLIENTS.get(role)
    if client is None:
        client = _CLIENTS[role] = Client(raise_request_exception=False)
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    if role != "anonymous" and (cookie is None or not cookie.value):
        client.force_login(world.users[role])
    return client


def _request(world: World, endpoint: Endpoint, expect: Expect, role: str, method: str):
    client = _client(world, role)
    url = _fill(endpoint, world)
    data = world.body(expect.data, role) if method == "POST" else {}
    with transaction.atomic():  # each request is rolled back: the world stays the same for the next
        if method == "GET":
            response = client.get(url)
        elif method == "POST":
            response = client.post(url, data)
        else:
            response = client.generic(method, url, b"", content_type="application/json")
        transaction.set_rollback(True)
    for value in data.values():
        if hasattr(value, "close"):
            value.close()
    return url, response


def check_role(world: World, role: str) -> tuple[int, list[str]]:
    _CLIENTS.clear()
    problems: list[str] = []
    checked = 0
    for endpoint in walk_urls():
        expect = expectation_of(endpoint) or FALLBACK
        for method in METHODS:
            url, response = _request(world, endpoint, expect, role, method)
            checked += 1
            status = response.status_code
            where = f"{role:15} {method:6} {url} ({endpoint.ident}) -> {status}"
            if status >= 500:
                problems.append(f"{where}: server error")
                continue
            allowed = expect.read if method == "GET" else expect.write
            if role in allowed:
                if method == "GET" and not (200 <= status < 400 and not _is_login_redirect(response)):
                    problems.append(f"{where}: expected success for this role")
            elif not _is_refusal(response):
                problems.append(f"{where}: expected a refusal (login redirect, 400, 401, 403, 404 or 405)")
            if role not in MAY_SEE_SECRETS and 200 <= status < 300:
                problems.extend(f"{where}: leaks {leak}" for leak in leaks(response, world))
            elif 200 <= status < 300:
                problems.extend(
                    f"{where}: serves per-query ranks {secret[:24]!r}"
                    for body in _bodies(response)
                    for secret in world.rank_secrets
                    if secret in body
                )
    return checked, problems


@pytest.fixture
def world(tmp_path_factory, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return _build_world(tmp_path_factory)


TOTALS: dict[str, int] = {}


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_authorisation_matrix(world, role, capsys):
    checked, problems = check_role(world, role)
    TOTALS[role] = checked
    endpoints = len(walk_urls())
    with capsys.disabled():
        print(
            f"\n[authz matrix] role {role}: {endpoints} endpoints x {len(METHODS)} methods = {checked} requests"
            f" checked, {len(problems)} problem(s)"
            + (f"; total so far {sum(TOTALS.values())} over {len(TOTALS)} role(s)" if TOTALS else "")
        )
    assert not problems, "\n".join(problems)


def test_every_endpoint_has_an_expectation():
    missing = [f"{e.ident}  ({e.route})" for e in walk_urls() if expectation_of(e) is None]
    assert not missing, (
        "endpoints without an expectation entry in tests/security/test_authz_matrix.py "
        "(add one to EXPECTATIONS):\n" + "\n".join(missing)
    )


def test_the_scan_would_catch_a_leak(world):
    """The leak detector itself: a body holding a mapping pair, a hidden score or GT bytes is caught."""
    truth_pair = world.mapping_regex.pattern.split(b"|")[0]
    q, v = re.sub(rb"\[\^A-Za-z0-9\]\{1,8\}", b"\x00", truth_pair).split(b"\x00")
    for body in (
        re.sub(rb"\\(.)", rb"\1", q) + b"," + re.sub(rb"\\(.)", rb"\1", v),
        f"score {HIDDEN_SCORE:.2f}".encode(),
        f"interval [{HIDDEN_LOW:.2f}, {HIDDEN_HIGH:.2f}]".encode(),
        world.secrets[0],
    ):

        class Fake:
            content = body
            streaming = False

        assert leaks(Fake(), world), body
