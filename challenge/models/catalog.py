"""The query set of phases and challenges: a bulk write bumps the catalog version, as a save or a
delete does through the signals, so a process that keeps the phase a board's URL names
(`challenge.selectors.phase_board_brief`) never keeps it past a change."""

from __future__ import annotations

from typing import Any

from django.db import models


def _catalog_changed() -> None:
    # Imported here: the services import the models.
    from challenge.services.boards import catalog_changed

    catalog_changed()


class CatalogQuerySet(models.QuerySet):
    """`update`, `delete` and `bulk_create` mark the catalog changed after they have written (Django's
    `bulk_update` goes through `update`); the mark waits for the transaction's commit."""

    def update(self, **kwargs: Any) -> int:
        rows = super().update(**kwargs)
        _catalog_changed()
        return rows

    def delete(self) -> tuple[int, dict[str, int]]:
        deleted = super().delete()
        _catalog_changed()
        return deleted

    def bulk_create(self, *args: Any, **kwargs: Any) -> list:
        created = super().bulk_create(*args, **kwargs)
        _catalog_changed()
        return created
