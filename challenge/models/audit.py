"""The organisers' action log: who changed what in a challenge, and when (docs/design.md, organisers)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .challenges import Challenge


class OrganiserAction(models.Model):
    """One organiser action, written by `challenge.services.organiser` (never edited afterwards)."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="organiser_actions")
    #: NULL once the account is deleted; `username` keeps who it was.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    #: What it acted on, in words ("phase Test", "submission #12", "team Alpha").
    target = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.username}: {self.action} {self.target}"
