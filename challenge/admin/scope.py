"""The per-challenge scope of the organisers' console: the base classes every challenge admin uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib import admin
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from challenge.models import Challenge, Dataset, Phase, Split, Submission, Team, TeamMembership
from challenge.selectors import challenge_is_organiser, challenge_organised_list

# The admin classes are generic in django-stubs only; Django's own take no subscript at run time.
if TYPE_CHECKING:
    from django.contrib.admin.options import InlineModelAdmin

    _ModelAdmin = admin.ModelAdmin[Any]
    _InlineMixinBase = InlineModelAdmin[Any, Any]
    TabularInline = admin.TabularInline[Any, Any]
else:
    _ModelAdmin = admin.ModelAdmin
    _InlineMixinBase = object  # a mixin: the inline class it is combined with follows it in the bases
    TabularInline = admin.TabularInline

_M = TypeVar("_M", bound=models.Model)

# --- per-challenge scope -------------------------------------------------------------------------------
#
# Staff status opens the admin; what a staff user sees in it is the challenges it organises (and
# their phases, datasets, splits, teams, submissions and results). Superusers see everything. The
# rights come from `Challenge.organisers` through `challenge_is_organiser`, not from Django's model
# permissions, so making someone an organiser of a challenge is the one step that grants them its
# console. Objects of other challenges answer 404, list filters offer only objects in scope, and
# foreign-key choices are limited to the user's challenges.

#: Lookup path from each scoped model to its challenge ("" for Challenge itself).
CHALLENGE_PATHS: dict[type[models.Model], str] = {
    Challenge: "",
    Dataset: "challenge",
    Phase: "challenge",
    Split: "phase__challenge",
    Team: "challenge",
    TeamMembership: "challenge",
    Submission: "phase__challenge",
}


def organiser_scope(queryset: QuerySet[_M], *, path: str, user: User | AnonymousUser) -> QuerySet[_M]:
    """The rows of `queryset` that belong to challenges the user organises (all of them for a superuser)."""
    if user.is_active and user.is_superuser:
        return queryset
    organised = challenge_organised_list(user=user).values("id")
    return queryset.filter(**{f"{path}__in" if path else "id__in": organised})


def challenge_id_of(obj: models.Model, path: str) -> int:
    """The id of the challenge an object belongs to, following `path` (e.g. "phase__challenge")."""
    if not path:
        pk: int = obj.pk
        return pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
    challenge_id: int = getattr(obj, f"{last}_id")
    return challenge_id


class ChallengeScopedAdmin(_ModelAdmin):
    """A model admin limited to the challenges the staff user organises (superusers: all)."""

    #: Lookup path from the model to its Challenge; "" for Challenge itself.
    challenge_path = "challenge"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return organiser_scope(super().get_queryset(request), path=self.challenge_path, user=request.user)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """Out of scope (or missing) is a 404 for organisers: the object may belong to a challenge they do
        not run, and the admin's "does not exist" redirect would look like success."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None and not request.user.is_superuser:
            raise Http404("No such object among the challenges you organise.")
        return obj

    def _organises_any(self, request: HttpRequest) -> bool:
        cache = "_pentathlon_organises_any"
        if not hasattr(request, cache):
            setattr(request, cache, challenge_organised_list(user=request.user).exists())
        organises: bool = getattr(request, cache)
        return organises

    def _may(self, request: HttpRequest, obj: models.Model | None) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        if user.is_superuser:
            return True
        if obj is None:
            return self._organises_any(request)
        return challenge_is_organiser(user=user, challenge=challenge_id_of(obj, self.challenge_path))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request, None)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may(request, None)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        path = CHALLENGE_PATHS.get(db_field.related_model)
        if path is not None and "queryset" not in kwargs:
            kwargs["queryset"] = organiser_scope(
                db_field.related_model._default_manager.all(), path=path, user=request.user
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ChallengeScopedInline(_InlineMixinBase):
    """Inline rows follow the parent object's scope (the parent admin already checked the user)."""

    challenge_path = "challenge"  # from the *parent* object to its challenge

    def _may_parent(self, request: HttpRequest, obj: models.Model | None) -> bool:
        user = request.user
        if user.is_active and user.is_superuser:
            return True
        if obj is None:
            return bool(user.is_active and user.is_staff)  # an add form: the parent admin decided
        return challenge_is_organiser(user=user, challenge=challenge_id_of(obj, self.challenge_path))

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_parent(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_parent(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_parent(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_parent(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        path = CHALLENGE_PATHS.get(db_field.related_model)
        if path is not None and "queryset" not in kwargs:
            kwargs["queryset"] = organiser_scope(
                db_field.related_model._default_manager.all(), path=path, user=request.user
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
