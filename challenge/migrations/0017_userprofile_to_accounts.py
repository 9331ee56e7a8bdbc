"""`UserProfile` now belongs to `accounts` (accounts/0002_userprofile); its table stays where it is."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("challenge", "0016_terms_acceptance"),
        ("accounts", "0002_userprofile"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="UserProfile")],
            database_operations=[],
        ),
    ]
