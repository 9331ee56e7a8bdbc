"""The query set of phases and challenges: a bulk write announces a catalog change
(`challenge.events`), as a save or a delete does through Django's model signals, so a process that
keeps the phase a board's URL names (`leaderboard.boards.phases`) never keeps it past a change."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models

from challenge.events import catalog_changed

_M = TypeVar("_M", bound=models.Model)


class CatalogQuerySet(models.QuerySet[_M]):
    """`update`, `delete` and `bulk_create` mark the catalog changed after they have written (Django's
    `bulk_update` goes through `update`); the mark waits for the transaction's commit."""

    def update(self, **kwargs: Any) -> int:
        rows = super().update(**kwargs)
        catalog_changed()
        return rows

    def delete(self) -> tuple[int, dict[str, int]]:
        deleted = super().delete()
        catalog_changed()
        return deleted

    def bulk_create(self, *args: Any, **kwargs: Any) -> list[_M]:
        created = super().bulk_create(*args, **kwargs)
        catalog_changed()
        return created
