"""Each evaluation queue receives only its own messages."""

from django.conf import settings
from kombu import Connection


def test_queues_do_not_share_a_binding():
    bindings = [(q.exchange.name, q.routing_key) for q in settings.CELERY_TASK_QUEUES]
    assert len(set(bindings)) == len(bindings)
    assert all(q.routing_key == q.name for q in settings.CELERY_TASK_QUEUES)


def test_a_message_for_one_queue_reaches_only_that_queue():
    queues = settings.CELERY_TASK_QUEUES
    with Connection("memory://") as connection:
        channel = connection.channel()
        bound = [q(channel) for q in queues]
        for queue in bound:
            queue.declare()
        target = next(q for q in queues if q.name == settings.PENTATHLON_CPU_QUEUE)
        with connection.Producer() as producer:
            producer.publish(
                {"x": 1}, exchange=target.exchange, routing_key=target.routing_key, declare=[target]
            )
        received = {q.name: q.get() is not None for q in bound}
    assert received == {q.name: q.name == target.name for q in queues}
