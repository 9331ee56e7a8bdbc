"""Existing accounts keep working under allauth: each user with an e-mail address gets its
EmailAddress row, primary and unverified (no notification reaches it until it is confirmed)."""

from django.conf import settings
from django.db import migrations


def email_addresses_create(apps, schema_editor):
    user_model = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    email_address = apps.get_model("account", "EmailAddress")
    have_one = set(email_address.objects.values_list("user_id", flat=True))
    taken = {email.lower() for email in email_address.objects.values_list("email", flat=True)}
    rows = []
    for user_id, email in user_model.objects.exclude(email="").order_by("id").values_list("id", "email"):
        if user_id in have_one or email.lower() in taken:
            continue  # a second account sharing an address keeps it on the user only
        taken.add(email.lower())
        rows.append(email_address(user_id=user_id, email=email.lower(), primary=True, verified=False))
    email_address.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(email_addresses_create, migrations.RunPython.noop)]
