"""Submission.lost_attempts: claims lost with their worker, capped by PENTATHLON_MAX_LOST_ATTEMPTS
(SECURITY.md, finding 14: a file that kills its worker must not be retried forever)."""

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
