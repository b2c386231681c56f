"""gunicorn settings for serving the playground (``gunicorn -c gunicorn.conf.py 'server:create_app()'``).

One worker process: runs live in that process's memory, so a second worker
would not see the first one's runs.  Threads carry the long-lived SSE streams.
"""

import os

bind = os.environ.get("TUNING_BIND", "0.0.0.0:8000")
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("TUNING_THREADS", "128"))
# A stream may stay open for a whole run; the gthread heartbeat keeps the
# worker alive, and no request timeout cuts a stream short.
timeout = 0
graceful_timeout = 10
keepalive = 5
