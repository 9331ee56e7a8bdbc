"""Tests: in-memory SQLite, MD5 hasher, eager Celery, temporary file roots."""

import tempfile
from pathlib import Path

from config.env import env

from .base import *  # noqa: F403
from .base import BOARD_CACHE, CACHES, REST_FRAMEWORK, STORAGES

DEBUG = False
SECRET_KEY = "test-insecure-not-a-secret"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
DATABASES = {"default": {**env.db("TEST_DATABASE_URL", default="sqlite://:memory:"), "ATOMIC_REQUESTS": True}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_TMP = Path(tempfile.mkdtemp(prefix="pentathlon-test-"))
VAR_DIR = _TMP
MEDIA_ROOT = _TMP / "media"
STATIC_ROOT = _TMP / "static"
STATIC_ROOT.mkdir()
WHITENOISE_USE_FINDERS = True
PRIVATE_STORAGE_ROOT = _TMP / "private"
PENTATHLON_BASELINE_CHECKPOINT_DIR = _TMP / "baselines" / "checkpoints"
# Boards are cached in files, as on the embedded default, but under this run's own folder.
CACHES = {
    **CACHES,
    BOARD_CACHE: {
        **CACHES[BOARD_CACHE],
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(_TMP / "cache" / "boards"),
        "KEY_PREFIX": "",
    },
}
STORAGES = {
    **STORAGES,
    "private": {**STORAGES["private"], "OPTIONS": {"location": str(PRIVATE_STORAGE_ROOT), "base_url": None}},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
SUBMISSION_MAX_BYTES = 5 * 1024**2
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Throttles off (a test run makes thousands of requests from one address); the throttle tests set
# rates on the throttle classes themselves. Login lockout stays on (tests clear the cache).
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {scope: None for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]},
}
# allauth's rate limits off for the same reason; tests/accounts set them where they test them.
ACCOUNT_RATE_LIMITS = False
