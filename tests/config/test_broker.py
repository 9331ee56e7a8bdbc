"""The embedded broker's messages appear whole: a consumer never takes one that is being written."""

from __future__ import annotations

import json
import os
import queue as stdlib_queue

import pytest
from kombu import Connection

import config.celery  # noqa: F401 - registers config.broker as the filesystem:// transport


def _control(folder):
    """kombu's exchange tables, beside the queue folder (never in the repository root)."""
    path = os.path.join(os.path.dirname(folder), os.path.basename(folder) + "-control")
    os.makedirs(path, exist_ok=True)
    return path


def _connection(folder):
    return Connection(
        "filesystem://",
        transport_options={
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": _control(folder),
        },
    )


def test_filesystem_urls_use_the_atomic_transport(tmp_path):
    from config.broker import Transport

    with _connection(str(tmp_path)) as connection:
        assert isinstance(connection.transport, Transport)


def test_a_message_is_renamed_into_place_whole_and_read_back(tmp_path):
    with _connection(str(tmp_path)) as connection:
        simple = connection.SimpleQueue("evaluations")
        simple.put({"submission": 7})
        assert [n for n in os.listdir(tmp_path) if n.startswith(".partial-")] == []
        assert simple.get(timeout=1).payload == {"submission": 7}


def test_a_message_gets_its_consumable_name_only_once_written(tmp_path, monkeypatch):
    from config import broker

    seen = []
    real_replace = os.replace

    def replace(source, target):  # the moment the message becomes visible to consumers
        seen.append((os.path.exists(target), (tmp_path / os.path.basename(source)).read_bytes()))
        real_replace(source, target)

    monkeypatch.setattr(broker.os, "replace", replace)
    with _connection(str(tmp_path)) as connection:
        connection.default_channel._put("evaluations", {"body": "e30=", "submission": 7})
    assert len(seen) == 1 and seen[0][0] is False and json.loads(seen[0][1])["body"]  # whole JSON


def test_a_message_still_being_written_is_left_alone(tmp_path):
    (tmp_path / ".partial-1_x.evaluations.msg").write_bytes(b"")  # what a producer is writing now
    with _connection(str(tmp_path)) as connection:
        simple = connection.SimpleQueue("evaluations")
        with pytest.raises(stdlib_queue.Empty):
            simple.get(timeout=0.2)
    assert (tmp_path / ".partial-1_x.evaluations.msg").exists()
