"""A user's preferences. The account itself is Django's user model, its e-mail addresses allauth's."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserProfile(models.Model):
    """Per-user preferences (created on first use)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pentathlon_profile"
    )
    email_notifications = models.BooleanField(
        default=True, help_text="Email me when a submission of my team finishes or fails."
    )

    class Meta:
        # The table keeps the name it had when the model lived in `challenge`, so moving the model
        # changed only Django's state (SeparateDatabaseAndState), not the database.
        db_table = "challenge_userprofile"

    def __str__(self) -> str:
        return f"profile of {self.user}"
