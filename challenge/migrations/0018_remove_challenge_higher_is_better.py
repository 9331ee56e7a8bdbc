"""A challenge's direction is its primary metric's (`Challenge.higher_is_better`, read from the metric
registry), so the stored flag, which could contradict the metric, goes. Removing it needs no data step:
a challenge whose flag disagreed with its metric now ranks the way its metric does."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("challenge", "0017_userprofile_to_accounts"),
    ]

    operations = [
        migrations.RemoveField(model_name="challenge", name="higher_is_better"),
    ]
