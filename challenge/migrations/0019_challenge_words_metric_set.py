"""A challenge names its query and gallery modalities, the nouns its pages use and its metric set; the
defaults (text, video, blank nouns, an empty set) keep the Pentathlon's words and columns. The primary
metric is validated against the registry instead of a fixed list of choices, so a declared cut-off
(mAP@16) can be one."""

from django.db import migrations, models

import challenge.models.vocabulary


class Migration(migrations.Migration):
    dependencies = [
        ("challenge", "0018_remove_challenge_higher_is_better"),
    ]

    operations = [
        migrations.AddField(
            model_name="challenge",
            name="gallery_modality",
            field=models.CharField(
                blank=True,
                choices=[("text", "text"), ("video", "video"), ("audio", "audio"), ("image", "image")],
                default="video",
                help_text="What the gallery items (the ranked columns) are (blank: video).",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="challenge",
            name="item_noun",
            field=models.CharField(
                blank=True,
                help_text="The gallery items in the pages' words, plural (\"audio clips\"); blank: the modality's.",
                max_length=40,
            ),
        ),
        migrations.AddField(
            model_name="challenge",
            name="item_noun_singular",
            field=models.CharField(
                blank=True,
                help_text='One gallery item ("audio clip"); blank: the modality\'s.',
                max_length=40,
            ),
        ),
        migrations.AddField(
            model_name="challenge",
            name="metrics",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text='The registry metrics the boards show, in order, e.g. ["mAP@10", "mAP@16", "R1"]; cut-offs of mAP@K, nDCG@K and Recall@K may be declared. Empty: R@1, R@5, R@10, R@50, MedR, MeanR (and the primary metric).',
            ),
        ),
        migrations.AddField(
            model_name="challenge",
            name="query_modality",
            field=models.CharField(
                blank=True,
                choices=[("text", "text"), ("video", "video"), ("audio", "audio"), ("image", "image")],
                default="text",
                help_text="What the queries are (blank: text).",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="challenge",
            name="query_noun",
            field=models.CharField(
                blank=True,
                help_text="The queries in the pages' words, plural (\"captions\"); blank: the modality's.",
                max_length=40,
            ),
        ),
        migrations.AddField(
            model_name="challenge",
            name="query_noun_singular",
            field=models.CharField(
                blank=True, help_text='One query ("caption"); blank: the modality\'s.', max_length=40
            ),
        ),
        migrations.AlterField(
            model_name="challenge",
            name="primary_metric",
            field=models.CharField(
                default="geometric_mean_R1-R5-R10",
                help_text="Per-dataset score (queries ranking gallery items); the overall score aggregates it. A registry metric (R1, mAP@10, nDCG, ...) or the geometric mean; one of the metrics below when they are given.",
                max_length=32,
                validators=[challenge.models.vocabulary.validate_primary_metric],
            ),
        ),
    ]
