"""Local development: DEBUG on, a fake secret, the embedded default (SQLite + filesystem broker)."""

from config.env import env

from .base import *  # noqa: F403
from .base import VAR_DIR

# The embedded default keeps its SQLite file, media, private store and broker folders here.
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-insecure-not-a-secret-pentathlon")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

# Serve static files straight from the apps and static/ (no collectstatic needed in development).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
