"""Submission.lost_attempts: claims lost with their worker, capped by PENTATHLON_MAX_LOST_ATTEMPTS
(issue 16, finding 2)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("challenge", "0007_team_name_casefold_unique"),
    ]

    operations = [
        migrations.AddField(
            model_name="submission",
            name="lost_attempts",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
