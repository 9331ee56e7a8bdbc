"""Accounts on django-allauth: sign-up with e-mail confirmation, password reset by e-mail, rate limits,
social login by configuration only, and existing accounts (and their API tokens) that keep working."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-7"


def _signup(client: Client, username: str = "carol", email: str = "carol@example.org"):
    return client.post(
        "/accounts/signup/",
        {
            "username": username,
            "email": email,
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
        },
    )


def _link(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/\S+/)", body).group(1)


def test_signup_logs_in_and_mails_a_confirmation_link_that_verifies_the_address(mailoutbox):
    client = Client()
    response = _signup(client)
    assert response.status_code == 302 and "_auth_user_id" in client.session
    address = EmailAddress.objects.get(email="carol@example.org")
    assert address.primary and not address.verified
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["carol@example.org"]
    confirm = _link(mailoutbox[0].body)
    assert client.get(confirm).status_code == 200  # a page with a button: a GET confirms nothing
    address.refresh_from_db()
    assert not address.verified
    client.post(confirm)
    address.refresh_from_db()
    assert address.verified


def test_signup_needs_an_email_address():
    response = Client().post(
        "/accounts/signup/",
        {"username": "nomail", "password1": "a-long-passphrase-9", "password2": "a-long-passphrase-9"},
    )
    assert response.status_code == 400 and "errorlist" in response.content.decode()
    assert not get_user_model().objects.filter(username="nomail").exists()


def test_password_reset_by_email_then_login_with_the_new_password(mailoutbox):
    user = UserFactory(username="erin", email="erin@example.org")
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
    client = Client()
    assert (
        client.get("/accounts/password_reset/", follow=True).redirect_chain[-1][0]
        == "/accounts/password/reset/"
    )
    response = client.post("/accounts/password/reset/", {"email": "erin@example.org"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["erin@example.org"]
    response = client.get(_link(mailoutbox[0].body), follow=True)  # the key moves into the session
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else response.request["PATH_INFO"]
    response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    fresh = Client()
    assert fresh.post("/accounts/login/", {"login": "erin", "password": NEW_PASSWORD}).status_code == 302
    assert "_auth_user_id" in fresh.session


def test_password_reset_for_an_unknown_address_sends_nothing(mailoutbox):
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.org"})
    assert response.status_code == 302  # the same answer: who has an account is not disclosed
    assert all("reset" not in m.body.lower() or "nobody" not in m.to[0] for m in mailoutbox)
    assert not any("/accounts/password/reset/key/" in m.body for m in mailoutbox)


def test_login_by_username_or_email(participant):
    for login in ("alice", participant.email):
        client = Client()
        assert client.post("/accounts/login/", {"login": login, "password": PASSWORD}).status_code == 302
        assert client.session["_auth_user_id"] == str(participant.id)


def test_signup_is_rate_limited_per_address(settings):
    settings.ACCOUNT_RATE_LIMITS = {"signup": "2/m/ip"}
    cache.clear()
    statuses = [_signup(Client(), f"user{i}", f"user{i}@example.org").status_code for i in range(3)]
    cache.clear()
    assert statuses == [302, 302, 429]


def test_failed_logins_are_rate_limited(participant, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "2/m/ip"}
    settings.PENTATHLON_LOGIN_MAX_FAILURES = 100  # only allauth's limit here
    cache.clear()
    client = Client()
    for _ in range(2):
        client.post("/accounts/login/", {"login": "alice", "password": "wrong"})
    response = client.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    cache.clear()
    assert "_auth_user_id" not in client.session
    assert response.status_code in (400, 429)


def test_social_login_is_offered_and_redirects_only_when_configured(settings):
    assert "GitHub" not in Client().get("/accounts/login/").content.decode()
    assert Client().post("/accounts/github/login/").status_code == 404
    settings.SOCIALACCOUNT_PROVIDERS = {
        "github": {"APPS": [{"client_id": "gh-client-id", "secret": "gh-secret", "key": ""}]},
        "orcid": {
            "APPS": [{"client_id": "APP-ORCID", "secret": "orcid-secret", "key": ""}],
            "BASE_DOMAIN": "orcid.org",
        },
    }
    page = Client().get("/accounts/login/").content.decode()
    assert 'data-provider="github"' in page and 'data-provider="orcid"' in page
    response = Client().post("/accounts/github/login/")
    assert response.status_code == 302
    assert response["Location"].startswith("https://github.com/login/oauth/authorize?")
    assert "client_id=gh-client-id" in response["Location"]
    response = Client().post("/accounts/orcid/login/")
    assert response.status_code == 302 and response["Location"].startswith(
        "https://orcid.org/oauth/authorize?"
    )


def test_existing_accounts_get_an_unverified_address_and_keep_their_token(api_client):
    migration = __import__(
        "accounts.migrations.0001_email_addresses_for_existing_users", fromlist=["email_addresses_create"]
    )
    old = UserFactory(username="old", email="Old@Example.org")
    twin = UserFactory(username="twin", email="old@example.org")  # same address, another account
    nomail = UserFactory(username="nomail", email="")
    token = Token.objects.create(user=old)
    migration.email_addresses_create(apps, None)
    migration.email_addresses_create(apps, None)  # idempotent
    address = EmailAddress.objects.get(user=old)
    assert (address.email, address.primary, address.verified) == ("old@example.org", True, False)
    assert not EmailAddress.objects.filter(user__in=[twin, nomail]).exists()
    client = Client()
    assert client.post("/accounts/login/", {"login": "old", "password": PASSWORD}).status_code == 302
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api_client.get("/api/v1/submissions/").status_code == 200


def test_changing_the_address_on_the_profile_needs_a_new_confirmation(participant):
    EmailAddress.objects.create(user=participant, email=participant.email, primary=True, verified=True)
    client = Client()
    client.force_login(participant)
    assert "Confirmed" in client.get("/accounts/profile/").content.decode()
    client.post("/accounts/profile/", {"email": "alice-new@example.org", "email_notifications": "on"})
    assert list(EmailAddress.objects.filter(user=participant).values_list("email", "verified")) == [
        ("alice-new@example.org", False)
    ]
    assert "Not confirmed yet" in client.get("/accounts/profile/").content.decode()
