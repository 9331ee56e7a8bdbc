"""The per-task memory limit (SECURITY.md, finding 14): an allocation beyond it is a MemoryError, not a
dead worker.

Applied in a child interpreter, so the test process keeps its own limits.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from workers.limits import memory_limit_bytes


def test_the_limit_follows_the_setting(settings):
    settings.PENTATHLON_WORKER_MEMORY_LIMIT_MB = 300
    assert memory_limit_bytes() == 300 * 1024**2
    settings.PENTATHLON_WORKER_MEMORY_LIMIT_MB = 0
    assert memory_limit_bytes() is None


def test_the_celery_child_limit_matches_the_setting(settings):
    assert settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD == settings.PENTATHLON_WORKER_MEMORY_LIMIT_MB * 1024


@pytest.mark.parametrize("mib", [400])
def test_an_allocation_beyond_the_limit_raises_memory_error_in_the_limited_process(mib):
    code = textwrap.dedent(
        f"""
        import django, os
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
        os.environ["PENTATHLON_WORKER_MEMORY_LIMIT_MB"] = "{mib}"
        django.setup()
        import numpy as np
        from django.conf import settings
        settings.PENTATHLON_WORKER_MEMORY_LIMIT_MB = {mib}
        from workers.limits import memory_limit_apply
        memory_limit_apply()
        small = np.ones(16 * 1024**2, dtype=np.uint8)  # 16 MiB: fine
        try:
            np.ones(2 * 1024**3, dtype=np.uint8)  # 2 GiB: beyond the limit
        except MemoryError:
            print("MemoryError")
        else:
            print("allocated")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "MemoryError"
