"""Fixtures of the security suites: a clean cache (login lockout, throttles) for every test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
