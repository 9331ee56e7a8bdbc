"""ChunkedUpload.sha256: the digest a client declares when it starts an upload, so a file the team
already submitted is refused before any byte is sent."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("challenge", "0009_chunked_upload_writes"),
    ]

    operations = [
        migrations.AddField(
            model_name="chunkedupload",
            name="sha256",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
    ]
