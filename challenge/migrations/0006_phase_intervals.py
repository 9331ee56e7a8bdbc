import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("challenge", "0005_phase_blind_publication"),
    ]

    operations = [
        migrations.AddField(
            model_name="phase",
            name="intervals_enabled",
            field=models.BooleanField(
                default=True,
                help_text="Show confidence intervals of every score and mark leaderboard entries that are tied "
                "within noise (docs/uncertainty.md). Off: scores are shown without them.",
            ),
        ),
        migrations.AddField(
            model_name="phase",
            name="interval_level",
            field=models.FloatField(
                default=0.95,
                help_text="Confidence level of the intervals and of the paired tests, e.g. 0.95 for 95 %.",
                validators=[
                    django.core.validators.MinValueValidator(0.5),
                    django.core.validators.MaxValueValidator(0.999),
                ],
            ),
        ),
    ]
