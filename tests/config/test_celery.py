"""The Celery app's guard around kombu's Redis transport (a worker must survive the broker dying)."""

from __future__ import annotations

import os
import uuid

import pytest

import config.celery  # noqa: F401  (installs the guard)


@pytest.mark.redis
def test_closing_a_collected_redis_channel_keeps_its_unacked_message_and_does_not_raise():
    import redis
    from kombu import Connection

    url = os.environ["REDIS_URL"]
    queue = f"pentathlon-test-{uuid.uuid4().hex[:8]}"
    with Connection(url) as producer:
        producer.SimpleQueue(queue).put({"submission_id": 1})
    consumer = Connection(url)
    channel = consumer.default_channel
    message = consumer.SimpleQueue(queue, channel=channel).get(timeout=5)
    assert message.payload == {"submission_id": 1}
    # What celery's cleanup leaves after a connection loss during start-up: the transport collected
    # (no client) and no connection pool yet. Unguarded, kombu 5.7 raises AttributeError here.
    channel._pool = None
    channel.connection.client = None
    consumer.close()
    server = redis.Redis.from_url(url)
    tag = message.delivery_tag
    try:
        assert server.hexists("unacked", tag), "the message stays in Redis for the visibility-timeout restore"
    finally:
        server.hdel("unacked", tag)
        server.zrem("unacked_index", tag)
        server.delete(queue)
