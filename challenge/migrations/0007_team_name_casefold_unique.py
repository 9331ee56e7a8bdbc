"""Team names unique within a challenge case-insensitively (SECURITY.md, finding 16).

`Team.name_key` holds `challenge.team_names.team_name_key(name)` (NFKC, case-folded) under a unique
constraint, so two concurrent creations of "Alpha" and "ALPHA" cannot both commit. Existing teams get
their key here; a team whose key an older team already holds keeps a key suffixed with its id (its
name is left as it was, for the organisers to rename).
"""

from django.db import migrations, models


def fill_name_keys(apps, schema_editor):
    from challenge.team_names import team_name_key

    Team = apps.get_model("challenge", "Team")
    taken: set[tuple[int, str]] = set()
    for team in Team.objects.order_by("id").only("id", "challenge_id", "name"):
        try:
            key = team_name_key(team.name)
        except Exception:  # a name the new rules refuse (e.g. a bidi override): still one key per name
            key = team.name.casefold()
        if (team.challenge_id, key) in taken:
            key = f"{key}#{team.id}"
        taken.add((team.challenge_id, key))
        Team.objects.filter(id=team.id).update(name_key=key)


class Migration(migrations.Migration):
    dependencies = [
        ("challenge", "0006_phase_intervals"),
    ]

    operations = [
        migrations.AddField(
            model_name="team",
            name="name_key",
            field=models.CharField(default="", editable=False, max_length=200),
        ),
        migrations.RunPython(fill_name_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="team",
            constraint=models.UniqueConstraint(
                fields=("challenge", "name_key"), name="team_unique_name_casefold"
            ),
        ),
    ]
