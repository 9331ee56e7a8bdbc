"""Web security: CSRF, deployment settings, passwords, login lockout, throttles, uploads, storage, pickles."""

from __future__ import annotations

import os
import re
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files import File
from django.test import Client
from rest_framework.test import APIClient

REPO = Path(__file__).resolve().parents[2]


# --- CSRF -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url, data",
    [
        ("/accounts/login/", {"login": "alice", "password": "correct-horse-battery"}),
        (
            "/accounts/signup/",
            {"username": "mallory", "password1": "Xy7-long-enough-pw", "password2": "Xy7-long-enough-pw"},
        ),
        ("/accounts/logout/", {}),
        ("/c/video-pentathlon/team/", {"action": "create", "name": "CSRF team"}),
        ("/c/video-pentathlon/val/submit/", {"method_name": "csrf"}),
        ("/submissions/{id}/change/", {"is_public": "0"}),
    ],
)
def test_forms_refuse_a_post_without_the_csrf_token(url, data, upload, participant):
    submission = upload("npz")
    client = Client(enforce_csrf_checks=True)
    if "login" not in url and "signup" not in url:
        client.force_login(participant)
    response = client.post(url.format(id=submission.id), data)
    assert response.status_code == 403
    submission.refresh_from_db()
    assert submission.is_public is True


@pytest.mark.django_db
def test_the_login_form_works_with_its_csrf_token(participant):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(
        "/accounts/login/",
        {"login": "alice", "password": "correct-horse-battery", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_session_authenticated_api_writes_need_the_csrf_token(upload, participant):
    """DRF's SessionAuthentication enforces CSRF; token authentication (no cookie) does not need it."""
    submission = upload("npz")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(participant)
    response = client.post(f"/api/v1/submissions/{submission.id}/update/", {"is_public": False})
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


# --- deployment settings ------------------------------------------------------------------------------


def _prod_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PENTATHLON_", "CACHE_URL"))}
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.prod",
            "DJANGO_SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(50)),
            "DJANGO_ALLOWED_HOSTS": "example.org",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env


@pytest.mark.slow
def test_production_settings_pass_check_deploy_at_warning_level():
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=_prod_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.slow
def test_production_settings_values():
    code = (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.SECURE_CONTENT_TYPE_NOSNIFF, s.X_FRAME_OPTIONS, "
        "s.SESSION_COOKIE_HTTPONLY, s.DEBUG, s.CACHES['default']['BACKEND'].rsplit('.', 1)[-1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO,
        env=_prod_env(REDIS_URL="redis://127.0.0.1:6379/5"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == [
        "True",
        "True",
        "True",
        "True",
        "True",
        "DENY",
        "True",
        "False",
        "RedisCache",
    ], done.stdout + done.stderr


def test_production_settings_refuse_to_start_without_a_secret():
    env = _prod_env()
    del env["DJANGO_SECRET_KEY"]
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0 and "DJANGO_SECRET_KEY" in done.stderr


# --- passwords and login lockout -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "password, reason",
    [
        ("short1!", "too short"),
        ("password123", "too common"),
        ("8462917305", "entirely numeric"),
        ("mallory-the-user", "too similar"),
    ],
)
def test_signup_refuses_weak_passwords(password, reason):
    response = Client().post(
        "/accounts/signup/",
        {
            "username": "mallory-the-user",
            "email": "m@example.org",
            "password1": password,
            "password2": password,
        },
    )
    assert response.status_code == 400
    assert reason in response.content.decode()
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="mallory-the-user").exists()


@pytest.mark.django_db
def test_login_page_locks_out_after_repeated_failures(participant, settings):
    settings.PENTATHLON_LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        response = client.post("/accounts/login/", {"login": "alice", "password": "wrong"})
        assert response.status_code == 400 and "_auth_user_id" not in client.session
    # locked: even the right password is refused, without checking it
    response = client.post("/accounts/login/", {"login": "alice", "password": "correct-horse-battery"})
    assert "_auth_user_id" not in client.session
    # another address, or another username from this address, is not affected
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert (
        other.post("/accounts/login/", {"login": "alice", "password": "correct-horse-battery"}).status_code
        == 302
    )
    from django.core.cache import cache

    cache.clear()  # the window expires
    assert (
        client.post("/accounts/login/", {"login": "alice", "password": "correct-horse-battery"}).status_code
        == 302
    )


@pytest.mark.django_db
def test_token_api_shares_the_lockout(participant, settings):
    settings.PENTATHLON_LOGIN_MAX_FAILURES = 2
    client = APIClient()
    for _ in range(2):
        assert (
            client.post("/api/v1/auth/token/", {"username": "ALICE ", "password": "nope"}).status_code == 400
        )
    response = client.post("/api/v1/auth/token/", {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 400 and "token" not in response.json()


@pytest.mark.django_db
def test_a_successful_login_clears_the_failures(participant, settings):
    from challenge.auth import login_failures

    settings.PENTATHLON_LOGIN_MAX_FAILURES = 3
    client = Client()
    client.post("/accounts/login/", {"login": "alice", "password": "wrong"})
    client.post("/accounts/login/", {"login": "alice", "password": "correct-horse-battery"})
    request = type("R", (), {"META": {"REMOTE_ADDR": "127.0.0.1"}})()
    assert login_failures(request=request, username="alice") == 0


# --- API throttling -------------------------------------------------------------------------------------


@pytest.fixture
def rates(monkeypatch):
    """Set throttle rates for one test (DRF reads them once, at import, into the class attribute)."""
    from rest_framework.throttling import SimpleRateThrottle

    def set_rates(**values: str) -> None:
        monkeypatch.setattr(
            SimpleRateThrottle,
            "THROTTLE_RATES",
            {"anon": None, "user": None, "upload": None, "login": None, **values},
        )

    return set_rates


@pytest.mark.slow
def test_throttle_rates_come_from_the_environment():
    code = "from django.conf import settings as s; print(s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "PENTATHLON_THROTTLE_ANON": "7/min",
        "PENTATHLON_THROTTLE_UPLOAD": "off",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "'anon': '7/min'" in done.stdout and "'upload': None" in done.stdout, done.stdout + done.stderr


@pytest.mark.django_db
def test_anonymous_api_requests_are_throttled_per_address(rates, challenge):
    rates(anon="3/min")
    client = APIClient()
    codes = [client.get("/api/v1/challenges/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert APIClient(REMOTE_ADDR="10.1.1.1").get("/api/v1/challenges/").status_code == 200


@pytest.mark.django_db
def test_authenticated_api_requests_are_throttled_per_user(rates, participant, other_participant):
    rates(user="2/min")
    client = APIClient()
    client.force_authenticate(participant)
    assert [client.get("/api/v1/submissions/").status_code for _ in range(3)] == [200, 200, 429]
    other = APIClient()
    other.force_authenticate(other_participant)
    assert other.get("/api/v1/submissions/").status_code == 200


@pytest.mark.django_db
def test_uploads_have_their_own_scope(
    rates, participant, phase, make_submission_file, django_capture_on_commit_callbacks
):
    rates(upload="1/hour")
    client = APIClient()
    client.force_authenticate(participant)
    path = make_submission_file("npz")
    codes = []
    for i in range(2):
        with django_capture_on_commit_callbacks(execute=True), open(path, "rb") as handle:
            codes.append(
                client.post(
                    "/api/v1/submissions/create/",
                    {"phase": phase.id, "method_name": f"m{i}", "file": handle},
                    format="multipart",
                ).status_code
            )
    assert codes == [201, 429]


@pytest.mark.django_db
def test_token_logins_are_throttled(rates, participant):
    rates(login="2/min")
    client = APIClient()
    codes = [
        client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}).status_code for _ in range(3)
    ]
    assert codes == [400, 400, 429]


# --- uploads: extension, magic bytes, stored names ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, content, message",
    [
        ("model.pkl", b"\x80\x04\x95", "does not end in .zip, .npz or .h5"),
        ("submission.npy", b"\x93NUMPY", "does not end in .zip, .npz or .h5"),
        ("submission.exe", b"MZ\x90\x00", "does not end in .zip, .npz or .h5"),
        ("submission.h5.zip", b"\x89HDF\r\n\x1a\n" + b"\0" * 64, "first bytes do not match"),
        ("submission.npz", b"\x89HDF\r\n\x1a\n" + b"\0" * 64, "first bytes do not match"),
        ("submission.h5", b"PK\x03\x04" + b"\0" * 64, "first bytes do not match"),
        ("submission.zip", b"<html><script>alert(1)</script>", "first bytes do not match"),
    ],
)
def test_upload_extension_and_magic_bytes_must_agree(name, content, message, participant, phase, tmp_path):
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    client = APIClient()
    client.force_authenticate(participant)
    with open(path, "rb") as handle:
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile(name, handle.read(), content_type="application/zip")
    response = client.post(
        "/api/v1/submissions/create/",
        {"phase": phase.id, "method_name": "m", "file": upload},
        format="multipart",
    )
    assert response.status_code == 400 and message in response.json()["detail"], response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "filename",
    [
        "../../../../etc/cron.d/evil.npz",
        "..\\..\\evil.npz",
        "/abs/path.npz",
        "evil\u202egpj.npz",
        "con.npz",
        "a" * 250 + ".npz",
        "sub/dir/file.npz",
        "..npz",
    ],
)
def test_stored_names_are_generated_never_taken_from_the_user(
    filename, upload, participant, phase, make_submission_file, settings
):
    path = make_submission_file("npz")
    from challenge.services import submission_create

    submission = submission_create(
        user=participant,
        phase=phase,
        file=File(open(path, "rb"), name=path.name),  # noqa: SIM115
        method_name="m",
        filename=filename,
    )
    assert re.fullmatch(rf"submissions/{phase.id}/[0-9a-f]{{32}}\.npz", submission.file.name), (
        submission.file.name
    )
    stored = Path(submission.file.path).resolve()
    assert stored.is_relative_to(Path(settings.PRIVATE_STORAGE_ROOT).resolve())
    assert submission.original_filename == filename[:255]  # kept as data only
    assert not Path(settings.MEDIA_ROOT).exists() or not any(Path(settings.MEDIA_ROOT).rglob("*.npz"))


@pytest.mark.django_db
def test_ground_truth_names_are_generated(phase, settings):
    assert re.fullmatch(
        rf"ground_truth/{phase.challenge_id}/{phase.slug}-[0-9a-f]{{32}}\.h5", phase.ground_truth.name
    )
    with pytest.raises(ValueError, match="no URL"):
        phase.ground_truth.url  # noqa: B018 - the private storage has no URL


# --- no unpickling of user data ------------------------------------------------------------------------------

#: The one place allowed to unpickle: the organiser-run CE release converter behind --trust-pickles.
PICKLE_ALLOWED = {"baselines/convert.py"}
PICKLE_PATTERNS = [
    (re.compile(r"\bpickle\.loads?\s*\("), "pickle.load"),
    (re.compile(r"\b(?:cPickle|dill|joblib|shelve|marshal)\.(?:loads?|open)\s*\("), "unpickling module"),
    (re.compile(r"allow_pickle\s*=\s*True"), "np.load(..., allow_pickle=True)"),
    (re.compile(r"\bUnpickler\s*\("), "pickle.Unpickler"),
    (re.compile(r"\byaml\.load\s*\((?![^)]*SafeLoader)"), "yaml.load without SafeLoader"),
]


def _source_files() -> list[Path]:
    skip = {".venv", "node_modules", ".git", "var", "staticfiles", "static", "tests"}
    return [p for p in REPO.rglob("*.py") if not skip & set(p.relative_to(REPO).parts)]


def test_no_unpickling_outside_the_allowed_converter():
    found = []
    for path in _source_files():
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text(errors="replace")
        for pattern, what in PICKLE_PATTERNS:
            for match in pattern.finditer(text):
                if rel not in PICKLE_ALLOWED:
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"{rel}:{line}: {what}")
        for match in re.finditer(r"\btorch\.load\s*\(", text):
            call = text[match.start() : text.find(")", match.start()) + 1]
            if "weights_only=True" not in call and rel not in PICKLE_ALLOWED:
                found.append(
                    f"{rel}:{text.count(chr(10), 0, match.start()) + 1}: torch.load without weights_only=True"
                )
    assert not found, "user data must never be unpickled:\n" + "\n".join(found)


def test_the_converter_unpickles_only_behind_trust_pickles():
    text = (REPO / "baselines" / "convert.py").read_text()
    assert "trust_pickles" in text


def test_the_pickle_scan_would_catch_a_violation(tmp_path):
    sample = "import numpy as np\nx = np.load(path, allow_pickle=True)\ny = torch.load(f)\n"
    hits = [what for pattern, what in PICKLE_PATTERNS if pattern.search(sample)]
    assert hits == ["np.load(..., allow_pickle=True)"]
    assert re.search(r"\btorch\.load\s*\(", sample)
