"""A participant's acceptance of a challenge's terms (its rules), one row per version accepted."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .challenges import Challenge


class TermsAcceptance(models.Model):
    """Written by `challenge.services.terms.terms_accept`; never edited. A new terms version (the
    challenge's `terms_version` raised) needs a new row before the kit or a submission."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="terms_acceptances")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="terms_acceptances"
    )
    version = models.PositiveIntegerField()
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-accepted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "user", "version"], name="terms_accepted_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} accepted {self.challenge_id} v{self.version}"
