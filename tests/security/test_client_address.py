"""IP-based limits trust X-Forwarded-For only from the deployment's proxies (SECURITY.md, finding 12).

Why: with DRF's NUM_PROXIES unset, a throttle's client address is whatever the client writes in
X-Forwarded-For, so 40 failed token logins, each with another spoofed header, are all answered 400.
"""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient
from rest_framework.throttling import BaseThrottle

from challenge.client_address import client_ip
from tests.security.test_web import rates  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def _proxies(settings, count: int) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}  # DRF reloads on the signal


def test_the_default_ignores_x_forwarded_for(settings):
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == settings.PENTATHLON_NUM_PROXIES == 0


def test_forty_failed_logins_with_spoofed_addresses_are_still_throttled(rates):  # noqa: F811
    rates(login="30/min")
    client = APIClient()
    codes = [
        client.post(
            "/api/v1/auth/token/",
            {"username": f"user{i}", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(40)
    ]
    assert codes == [400] * 30 + [429] * 10


def test_behind_one_proxy_the_address_it_appended_counts(rates, settings):  # noqa: F811
    _proxies(settings, 1)
    rates(login="3/min")
    codes = [
        APIClient(REMOTE_ADDR="172.18.0.1")  # the proxy
        .post(
            "/api/v1/auth/token/",
            {"username": "x", "password": "y"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}, 192.0.2.7",  # spoofed, then what the proxy appended
        )
        .status_code
        for i in range(4)
    ]
    assert codes == [400, 400, 400, 429]
    other_client = APIClient(REMOTE_ADDR="172.18.0.1").post(
        "/api/v1/auth/token/", {"username": "x", "password": "y"}, HTTP_X_FORWARDED_FOR="192.0.2.8"
    )
    assert other_client.status_code == 400


@pytest.mark.parametrize("num_proxies", [0, 1, 2])
@pytest.mark.parametrize(
    "forwarded", [None, "", "192.0.2.7", "198.51.100.1, 192.0.2.7", "a, b, c, 192.0.2.7"]
)
def test_the_lockout_and_the_throttles_agree_on_the_address(settings, num_proxies, forwarded):
    _proxies(settings, num_proxies)
    extra = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **extra)
    assert client_ip(request) == (BaseThrottle().get_ident(request) or "unknown")


def test_the_login_lockout_ignores_spoofed_addresses(participant, settings):
    settings.PENTATHLON_LOGIN_MAX_FAILURES = 3
    client = APIClient()
    for i in range(3):
        client.post(
            "/api/v1/auth/token/",
            {"username": "alice", "password": "nope"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        )
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "correct-horse-battery"},
        HTTP_X_FORWARDED_FOR="203.0.113.99",
    )
    assert response.status_code == 400 and "token" not in response.json()
