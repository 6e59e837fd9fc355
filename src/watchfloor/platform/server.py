"""Running the ASGI application under uvicorn, shared by `watchfloor serve` and `demo`."""

from __future__ import annotations

import copy
import gc
import logging
import re

import uvicorn
from django.conf import settings
from uvicorn.config import LOGGING_CONFIG

ASGI_APP = "watchfloor.asgi:application"
GC_THRESHOLD = (50_000, 20, 100)

# Integration keys may travel as the last path segment (for tools that cannot set a header), and
# the access log writes every path: secrets are cut down to their kind before a line is written.
SECRET_RE = re.compile(r"\b(wf[ti])_[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    return SECRET_RE.sub(r"\1_[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    """Removes API tokens and integration keys from log records' message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def log_config() -> dict:
    """uvicorn's logging, with the secret filter on both its handlers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecretsFilter}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_secrets")
    return config


def run_uvicorn(
    *,
    host: str,
    port: int,
    workers: int = 1,
    proxy_headers: bool = False,
    forwarded_allow_ips: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn finishes in-flight requests, then returns."""
    # A full garbage collection stops the event loop for ~140 ms with 1,000 WebSockets open,
    # and those pauses were the slowest live deliveries (bench/websocket.py --gc-log); rarer
    # young-generation collections remove them (p99 408 -> 188 ms, docs/benchmarks.md).
    gc.set_threshold(*GC_THRESHOLD)
    uvicorn.run(
        ASGI_APP,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        # Django's ASGI handler has no lifespan protocol; "off" avoids a misleading log line.
        lifespan="off",
        log_level=log_level,
        server_header=False,
        log_config=log_config(),
        ws_per_message_deflate=settings.WS_PER_MESSAGE_DEFLATE,
    )


WSGI_APP = "watchfloor.wsgi:application"
WORKER_CONNECTIONS = 1000


def _child_exit(server, worker) -> None:
    from watchfloor.platform.metrics import mark_worker_dead

    mark_worker_dead(worker.pid)


def gunicorn_options(
    *,
    host: str,
    port: int,
    workers: int,
    forwarded_allow_ips: str | None = None,
    log_level: str = "info",
) -> dict:
    """gunicorn settings for an HTTP-only node: gevent workers, no access log (paths may carry
    integration keys), errors to stderr.

    gevent, not sync workers: a sync worker serves one connection at a time, so 200 idle or
    slow (slowloris) connections held every worker and /api/health/ stopped answering until
    they closed. A gevent worker keeps each connection in a greenlet of its own: idle and slow
    clients wait on the event hub, requests that are complete run (docs/decisions.md).
    """
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options = {
        "bind": bind,
        "workers": workers,
        "worker_class": "gevent",
        # connections one worker holds open at once (idle ones included); past it, new ones
        # wait in the listen backlog
        "worker_connections": WORKER_CONNECTIONS,
        "loglevel": log_level,
        "errorlog": "-",
        "accesslog": None,
        # a slow client must not hold a sync worker forever; ingestion answers in milliseconds
        "timeout": 30,
        "graceful_timeout": 30,
        "keepalive": 5,
        # a worker gone: its live gauges leave the multiprocess sums (platform/metrics.py)
        "child_exit": _child_exit,
    }
    if forwarded_allow_ips is not None:
        options["forwarded_allow_ips"] = forwarded_allow_ips
    return options


def close_database_connections() -> None:
    """Close every connection and psycopg pool this process opened.

    gunicorn forks its workers from this process: a connection (or a pool's connections and
    threads) opened here, e.g. by the pending-migrations check, would be shared by every worker
    and the protocol would interleave — workers hang "idle in transaction". Each worker opens
    its own pool on first use instead.
    """
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
        if hasattr(conn, "close_pool"):
            conn.close_pool()


def run_gunicorn(**kwargs) -> None:
    """Serve the WSGI application (HTTP only: API, ingestion, pages; no WebSockets)."""
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(**kwargs)
    close_database_connections()

    class _App(BaseApplication):
        def load_config(self):
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self):
            from django.core.wsgi import get_wsgi_application

            return get_wsgi_application()

    _App().run()
