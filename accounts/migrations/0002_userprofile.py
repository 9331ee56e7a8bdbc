"""`UserProfile` moves from `challenge` to `accounts`, which owns users. Only Django's state moves: the
table `challenge_userprofile` stays as it is (Meta.db_table), so no row is copied."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("accounts", "0001_email_addresses_for_existing_users"),
        ("challenge", "0003_challenge_leaderboard_settings_moderation_profiles"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="UserProfile",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "email_notifications",
                            models.BooleanField(
                                default=True,
                                help_text="Email me when a submission of my team finishes or fails.",
                            ),
                        ),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="pentathlon_profile",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"db_table": "challenge_userprofile"},
                ),
            ],
            database_operations=[],
        ),
    ]
