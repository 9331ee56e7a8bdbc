from django.db import migrations, models

import challenge.models


def give_each_phase_its_own_secret(apps, schema_editor):
    """AddField computes a callable default once for all existing rows: draw one per phase instead.

    Existing phases become blind (the field's default): their kits change, see README's release notes.
    """
    Phase = apps.get_model("challenge", "Phase")
    for phase in Phase.objects.only("id"):
        Phase.objects.filter(id=phase.id).update(blinding_secret=challenge.models.new_blinding_secret())


class Migration(migrations.Migration):
    dependencies = [
        ("challenge", "0004_challenge_organisers"),
    ]

    operations = [
        migrations.AddField(
            model_name="phase",
            name="blinding_secret",
            field=models.CharField(
                default=challenge.models.new_blinding_secret, editable=False, max_length=64
            ),
        ),
        migrations.AddField(
            model_name="phase",
            name="ground_truth_audit",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="phase",
            name="query_order",
            field=models.CharField(
                choices=[
                    ("blind", "Blind: opaque query ids in a secret order (recommended)"),
                    ("as_uploaded", "As uploaded: the organisers' query ids and order, published verbatim"),
                ],
                default="blind",
                help_text="Blind publishes each query under an opaque id in a secret order, so nothing public reveals the answers. As uploaded publishes the ground truth's own query ids and order (the 2020 files unchanged): participants can read the answers off them when the ids name the videos or the queries are grouped by video.",
                max_length=16,
            ),
        ),
        migrations.RunPython(give_each_phase_its_own_secret, migrations.RunPython.noop),
    ]
