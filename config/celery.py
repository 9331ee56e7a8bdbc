"""The Celery app. Defaults to the development settings, like manage.py."""

import logging
import os
from typing import Any

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
# filesystem:// is ours: messages appear whole (config/broker.py), so a consumer never reads half of one.
TRANSPORT_ALIASES["filesystem"] = "config.broker:Transport"

app = Celery("pentathlon")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])


@app.on_after_configure.connect
def _create_broker_folders(sender: Celery, **_: object) -> None:
    """The filesystem transport needs its folders to exist before the first publish or poll."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


def _guard_redis_unacked_restore() -> None:
    """Keep a worker alive when the broker dies while it is starting.

    kombu 5.7: after a connection loss, celery collects the broken connection (the transport's client
    becomes None) and then closes its channel; the Redis channel's close restores its unacked
    messages through a new client built from that None, and the AttributeError escapes celery's
    cleanup and kills the worker. Those messages are still in Redis's unacked hash, from which any
    consumer restores them after the visibility timeout, so skipping the restore here loses nothing.
    """
    from kombu.transport import redis as kombu_redis

    original = kombu_redis.QoS.restore_unacked
    if getattr(original, "guarded", False):
        return

    def restore_unacked(self: Any, client: Any = None) -> Any:
        transport = getattr(self.channel, "connection", None)
        if client is None and self.channel._pool is None and getattr(transport, "client", None) is None:
            logging.getLogger("workers").warning(
                "broker connection already collected: %d unacked message(s) stay in Redis until the visibility "
                "timeout restores them",
                len(self._delivered),
            )
            self._delivered.clear()
            return None
        return original(self, client)

    restore_unacked.guarded = True  # type: ignore[attr-defined]  # a marker on the function object
    kombu_redis.QoS.restore_unacked = restore_unacked  # type: ignore[method-assign]  # the patch itself


_guard_redis_unacked_restore()
