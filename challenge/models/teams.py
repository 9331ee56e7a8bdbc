"""Teams and their memberships (one team per user and challenge)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from .challenges import Challenge
from .storage import new_invite_code


class Team(models.Model):
    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    #: `challenge.team_names.team_name_key(name)`: NFKC and case-folded, unique within the challenge, so
    #: "Alpha", "ALPHA" and a full-width "Ａｌｐｈａ" are one name even when created concurrently.
    name_key = models.CharField(max_length=200, editable=False, default="")
    invite_code = models.CharField(max_length=32, unique=True, default=new_invite_code, editable=False)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams")
    is_baseline = models.BooleanField(default=False, help_text="The organisers' reference entries.")
    is_approved = models.BooleanField(
        default=True, help_text="Needed to submit when the challenge requires approval."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["challenge", "name"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "name"], name="team_unique_name"),
            models.UniqueConstraint(fields=["challenge", "name_key"], name="team_unique_name_casefold"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.name_key:  # a caller that skipped full_clean still gets the key the constraint needs
            from challenge.team_names import team_name_key

            try:
                self.name_key = team_name_key(self.name)
            except Exception:  # an unnormalisable name saved without clean(): still one key per name
                self.name_key = self.name.casefold()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Store the name normalised and its key (the admin's forms go through here too)."""
        from challenge.team_names import team_name_key, team_name_normalise
        from core.exceptions import ApplicationError

        try:
            self.name = team_name_normalise(self.name)
        except ApplicationError as exc:
            raise ValidationError({"name": exc.message}) from exc
        self.name_key = team_name_key(self.name)


class TeamMembership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    # Denormalised from the team so the database enforces one team per user and challenge.
    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["challenge", "user"], name="membership_one_team_per_challenge")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"
