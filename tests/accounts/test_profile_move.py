"""`UserProfile` moved from `challenge` to `accounts` by state only: rows written under the old model
are the new model's rows, and no migration is left to make."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import UserProfile
from accounts.services import user_profile_get
from tests.factories import UserFactory

BEFORE = [("challenge", "0014_organiseraction"), ("accounts", "0001_email_addresses_for_existing_users")]


def _latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return [key for key in executor.loader.graph.leaf_nodes() if key[0] in {"challenge", "accounts"}]


@pytest.mark.django_db(transaction=True)
def test_a_profile_written_before_the_move_is_read_after_it():
    user = UserFactory()
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_state = executor.loader.project_state(BEFORE).apps
    old_state.get_model("challenge", "UserProfile").objects.create(user_id=user.pk, email_notifications=False)

    executor = MigrationExecutor(connection)
    executor.migrate(_latest())

    assert UserProfile._meta.db_table == "challenge_userprofile"
    assert user_profile_get(user=user).email_notifications is False
    assert UserProfile.objects.count() == 1


@pytest.mark.django_db
def test_the_models_and_the_migrations_agree():
    out = io.StringIO()
    call_command("makemigrations", "accounts", "challenge", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
