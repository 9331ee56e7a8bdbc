import pytest
from rest_framework.authtoken.models import Token

from accounts.services import api_token_revoke, api_token_rotate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_rotate_replaces_the_key_and_the_old_one_stops_working(api_client):
    user = UserFactory()
    old = api_token_rotate(user=user).key
    new = api_token_rotate(user=user).key
    assert old != new and Token.objects.filter(user=user).count() == 1
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert api_client.get("/api/v1/submissions/").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert api_client.get("/api/v1/submissions/").status_code == 200


def test_revoke_is_idempotent():
    user = UserFactory()
    api_token_rotate(user=user)
    assert api_token_revoke(user=user) is True
    assert api_token_revoke(user=user) is False
    assert not Token.objects.filter(user=user).exists()


def test_token_page_shows_rotates_and_revokes(client):
    user = UserFactory()
    client.force_login(user)
    page = client.get("/accounts/api-token/")
    assert page.status_code == 200 and b"You have no API token" in page.content
    assert page["Cache-Control"] == "no-store"
    client.post("/accounts/api-token/rotate/")
    key = Token.objects.get(user=user).key
    assert key.encode() in client.get("/accounts/api-token/").content
    client.post("/accounts/api-token/revoke/")
    assert not Token.objects.filter(user=user).exists()


def test_token_page_needs_login_and_post(client):
    assert client.get("/accounts/api-token/").status_code == 302
    user = UserFactory()
    client.force_login(user)
    assert client.get("/accounts/api-token/rotate/").status_code == 405
    assert not Token.objects.filter(user=user).exists()


def test_one_users_page_never_shows_another_users_token(client):
    owner, other = UserFactory(), UserFactory()
    key = api_token_rotate(user=owner).key
    client.force_login(other)
    assert key.encode() not in client.get("/accounts/api-token/").content
