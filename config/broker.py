"""The embedded broker: kombu's filesystem transport with messages that appear whole.

kombu writes a message file in place (open, then write), while a consumer in another process moves
and reads any `*.msg` file it lists: one that polls between the two reads an empty file, fails to
decode it, dies ("Unrecoverable error: JSONDecodeError") and the message is gone. Seen in the
deadline-rush benchmark with two workers. Here a message is written under a name no consumer takes
and renamed into place when complete (a rename is atomic on one file system).
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # kombu's stubs rename AbstractChannel._put's `message` to `payload` here (and ignore that themselves)
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".partial-{name}")  # no consumer matches it
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
