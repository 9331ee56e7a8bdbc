"""What the pages render for shared fragments, so that tests assert the markup the visitor gets."""

from __future__ import annotations

from datetime import datetime

from django.utils import dateformat, timezone


def local_time(moment: datetime, *, seconds: bool = False) -> str:
    """templates/_time.html for `moment`: a <time> in UTC that static/js/localtime.js puts in the
    visitor's zone, UTC beside it."""
    utc = timezone.localtime(moment)  # the site's zone is UTC (TIME_ZONE), as the template's filter uses
    text = dateformat.format(utc, "Y-m-d H:i:s" if seconds else "Y-m-d H:i")
    return f'<time datetime="{dateformat.format(utc, "c")}" data-local-time>{text} UTC</time>'
