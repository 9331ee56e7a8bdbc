"""gunicorn settings for the `web` service; every value can be overridden from the environment.

docker/compose.yml puts the stack's nginx (service `proxy`) in front: it buffers slow uploads, so a
thread is busy only while the proxy forwards a complete request. A body that reaches gunicorn and
stops arriving ends after PENTATHLON_REQUEST_BODY_TIMEOUT (config/middleware.py).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# Submissions up to PENTATHLON_SUBMISSION_MAX_BYTES are copied and inspected inside the request.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
# Heartbeat files on tmpfs: a slow container disk must not make the arbiter kill healthy workers.
worker_tmp_dir = "/dev/shm"
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = 100
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
