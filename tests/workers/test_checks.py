"""The workers' system checks: settings that would lose or double-score evaluations are refused."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def test_system_check_refuses_a_visibility_timeout_below_the_longest_evaluation(settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
    with pytest.raises(SystemCheckError, match="workers.E001"):
        call_command("check")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 10 * settings.PENTATHLON_EVALUATION_MAX_LIMIT
    }
    settings.PENTATHLON_HEARTBEAT_STALE_AFTER = settings.PENTATHLON_HEARTBEAT_INTERVAL
    with pytest.raises(SystemCheckError, match="workers.E003"):
        call_command("check")
