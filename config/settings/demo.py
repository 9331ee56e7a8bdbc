"""`make demo` (bin/demo): the development settings with DEBUG off.

The demo may listen on a public address (HOST=0.0.0.0): an error there must show the site's own
error page, never Django's debug page with settings, paths and SQL. Static files are still served
from the apps (whitenoise's finders), so nothing needs collecting.
"""

from .dev import *  # noqa: F403

DEBUG = False
