"""A new password replaces the user's API token: a client holding the old one is logged out."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.authentication import TOKEN_NOT_VALID
from accounts.services import api_token_rotate
from tests.factories import PASSWORD, UserFactory
from tests.html import local_time

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-7"


def _refused(key: str) -> str:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get("/api/v1/submissions/")
    assert response.status_code == 401
    return response.json()["detail"]


def _works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/submissions/").status_code == 200


def test_the_old_token_is_refused_after_a_password_change():
    user = UserFactory(username="pat")
    old = api_token_rotate(user=user).key
    client = Client()
    client.force_login(user)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert _refused(old) == TOKEN_NOT_VALID
    new = Token.objects.get(user=user)
    assert new.key != old and _works(new.key)


def test_the_old_token_is_refused_after_a_password_reset(mailoutbox):
    user = UserFactory(username="erin", email="erin@example.org")
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
    old = api_token_rotate(user=user).key
    client = Client()
    client.post("/accounts/password/reset/", {"email": "erin@example.org"})
    link = re.search(r"https?://[^/\s]+(/accounts/\S+/)", mailoutbox[0].body).group(1)
    response = client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else response.request["PATH_INFO"]
    assert client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 302
    assert "no longer valid" in _refused(old)
    assert Token.objects.get(user=user).key != old


def test_an_administrator_setting_the_password_rotates_too(monkeypatch):
    user = UserFactory(username="sam")
    old = api_token_rotate(user=user).key
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
    call_command("changepassword", "sam", stdout=None)
    assert not _works(old)


def test_saves_and_logins_that_keep_the_password_keep_the_token():
    user = UserFactory(username="kim")
    key = api_token_rotate(user=user).key
    user.first_name = "Kim"
    user.save()
    client = Client()
    assert client.post("/accounts/login/", {"login": "kim", "password": PASSWORD}).status_code == 302
    assert _works(key)


def test_a_user_without_a_token_gets_none_from_a_password_change():
    user = UserFactory()
    user.set_password(NEW_PASSWORD)
    user.save()
    assert not Token.objects.filter(user=user).exists()


def test_the_token_page_says_when_the_token_was_last_rotated():
    user = UserFactory()
    token = api_token_rotate(user=user)
    client = Client()
    client.force_login(user)
    page = client.get("/accounts/api-token/").content.decode()
    assert f'last rotated <span data-role="token-rotated">{local_time(token.created)}</span>' in page
    assert "changing or resetting your password also replaces it" in page
