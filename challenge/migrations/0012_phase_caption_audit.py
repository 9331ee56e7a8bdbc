"""Phase.publish_query_text (withhold the queries' text from the kit) and Phase.caption_audit (what the
uploaded query texts give away to a lookup in public annotations); docs/blind-phases.md."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("challenge", "0011_phase_code_submissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="phase",
            name="caption_audit",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="phase",
            name="publish_query_text",
            field=models.BooleanField(
                default=True,
                help_text="Publish what each query says (its caption) in the starter kit's queries.tsv. Blinding hides ids and order, not text: captions taken from a public release can be looked up there, so withhold them (or write new captions) when the caption audit finds them (docs/blind-phases.md).",
            ),
        ),
        migrations.AlterField(
            model_name="phase",
            name="query_order",
            field=models.CharField(
                choices=[
                    ("blind", "Blind: opaque query ids in a secret order (recommended)"),
                    ("as_uploaded", "As uploaded: the organisers' query ids and order, published verbatim"),
                ],
                default="blind",
                help_text="Blind publishes each query under an opaque id in a secret order, so neither the ids nor the order reveal the answers (the query text can: see publish_query_text). As uploaded publishes the ground truth's own query ids and order (the 2020 files unchanged): participants can read the answers off them when the ids name the videos or the queries are grouped by video.",
                max_length=16,
            ),
        ),
    ]
