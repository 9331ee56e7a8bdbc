"""Production: every secret and host comes from the environment; nothing has a default.

`DJANGO_SETTINGS_MODULE=config.settings.prod manage.py check --deploy --fail-level WARNING` is clean
with only DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and DATABASE_URL set (tests/security/test_web.py).
"""

from config.env import env

from .base import *  # noqa: F403
from .base import BOARD_CACHE, CACHES

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {
    "default": {
        **env.db("DATABASE_URL"),
        "ATOMIC_REQUESTS": True,
        "CONN_MAX_AGE": env.int("DJANGO_CONN_MAX_AGE", default=60),
        # A kept connection is checked before a request reuses it: after the database restarts or
        # drops connections, the request opens a new one instead of answering a 500.
        "CONN_HEALTH_CHECKS": True,
    }
}

# Shared by every web process: login lockout counters and API throttles (challenge.auth, DRF).
_REDIS_URL = env("REDIS_URL", default="")
CACHES = {
    "default": {
        **env.cache_url("CACHE_URL", default=_REDIS_URL or "locmemcache://pentathlon"),
        "KEY_PREFIX": env("DJANGO_CACHE_KEY_PREFIX", default="pentathlon"),
    },
    # Rendered leaderboards: REDIS_URL when set, else files under VAR_DIR (see base.py).
    BOARD_CACHE: CACHES[BOARD_CACHE],
}

# --- HTTPS, cookies and headers --------------------------------------------------------------------
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# The upload page's script reads the CSRF token from the form, not the cookie, but keep the cookie
# readable for the standard Django AJAX recipe.
CSRF_COOKIE_HTTPONLY = False
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=14 * 24 * 3600)
# HSTS: start with a short max-age and raise it (31536000) once every subdomain serves HTTPS.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
