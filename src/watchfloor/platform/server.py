"""Running the ASGI application under uvicorn, shared by `watchfloor serve` and `demo`."""

from __future__ import annotations

import copy
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import uvicorn
from django.conf import settings
from uvicorn.config import LOGGING_CONFIG

from watchfloor.heap import tune_gc

ASGI_APP = "watchfloor.asgi:application"

# Integration keys may travel as the last path segment (for tools that cannot set a header), and
# the access log writes every path: secrets are cut down to their kind before a line is written.
log = logging.getLogger(__name__)

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
    uds: str | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn finishes in-flight requests, then returns.

    `uds`: listen on that Unix socket instead of host:port (the WebSocket process of
    `run_split`)."""
    # A full garbage collection stops the event loop for ~140 ms with 1,000 WebSockets open,
    # and those pauses were the slowest live deliveries (bench/websocket.py --gc-log); rarer
    # young-generation collections remove them (p99 408 -> 188 ms, docs/benchmarks.md).
    # Imported first, as in a gunicorn worker: in the split server this process folds, and its
    # first fold imported Celery's task sending and the rest lazily on the drainer's thread
    # (py-spy over a first pass: 0.54 s of it; docs/decisions.md).
    warm_up()
    tune_gc()
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
        uds=uds,
    )


WSGI_APP = "watchfloor.wsgi:application"
# a spliced WebSocket counts as one of these for as long as it is open (1,000 dashboards and
# their reconnects per worker)
WORKER_CONNECTIONS = 4000


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


# modules a worker does not import ahead: entry points of other processes, schema history,
# the CLI's commands, test helpers
_NOT_WARMED = (".asgi", ".wsgi", ".migrations", ".management", ".pytest_home")
# what the first write loads lazily besides: the Redis cache, Celery's task sending and its
# Redis transport, psycopg's pool (measured: 128 modules, 2.7 s of the first alert's 3.9 s)
_CLIENT_MODULES = (
    "django.core.cache.backends.redis",
    "redis",
    "kombu.transport.redis",
    "celery.app.amqp",
    "celery.app.task",
    "celery.canvas",
    "celery.result",
    "celery.fixups.django",
    "celery.worker.state",
    "celery.backends.base",
    "celery.events.dispatcher",
    "celery.loaders.app",
    "kombu.mixins",
    "encodings.idna",
    "psycopg_pool",
    "django.contrib.messages.storage.fallback",
    "django.contrib.sessions.serializers",
)


def warm_up() -> None:
    """Import the URLconfs (the API routers and their schemas) and every module of the package
    in a worker before it accepts requests. Views import much of the pipeline lazily: measured
    on this machine (loaded), a fresh worker's first alert took 7.7 s, 6 s of it imports, and
    a fresh node's first live events waited for it; the next ones took 0.1 s."""
    import importlib
    import pkgutil

    from django.urls import get_resolver

    import watchfloor

    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 (the import is the point)
    names = [m.name for m in pkgutil.walk_packages(watchfloor.__path__, "watchfloor.")]
    for name in [*names, *_CLIENT_MODULES]:
        if name.startswith("watchfloor.") and any(part in name for part in _NOT_WARMED):
            continue
        try:
            importlib.import_module(name)
        except Exception:  # an optional dependency missing: that module loads when used
            log.debug("warm-up: %s not imported", name, exc_info=True)


def run_gunicorn(*, ws_socket: str | None = None, **kwargs) -> None:
    """Serve the WSGI application: API, ingestion, pages. WebSockets only with `ws_socket`: the
    workers then splice `/ws/` upgrades to the ASGI process listening there (`run_split`)."""
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(**kwargs)
    close_database_connections()
    trust_forwarded = kwargs.get("forwarded_allow_ips") is not None

    class _App(BaseApplication):
        def load_config(self):
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self):
            from watchfloor.front import wsgi_application

            application = wsgi_application()
            warm_up()
            tune_gc()  # in the worker (the app loads after the fork): its heap is warmed now
            if ws_socket is None:
                return application
            from watchfloor.alerts.staging import stand_by
            from watchfloor.platform.ws_splice import WebSocketSplice

            stand_by()  # the WebSocket process's drainer folds (alerts.staging.stand_by)

            return WebSocketSplice(application, ws_socket, trust_forwarded=trust_forwarded)

    _App().run()


# --- one command, one port: gunicorn for HTTP, uvicorn for WebSockets ---------------------------

WS_READY_TIMEOUT = 90.0  # seconds for the WebSocket process to listen (a loaded 2-core machine)
WS_RESTART_DELAY = 1.0
# exit codes of a WebSocket process that was asked to stop (uvicorn exits 0 on SIGINT/SIGTERM)
STOPPED_CODES = {0, -2, -15}
CHILD_ENV = "WATCHFLOOR_SERVE_CHILD"  # set in the WebSocket process: the CLI leaves metrics be
# set in the WebSocket process when a fold process runs beside it: its drainer stands by
FOLD_ELSEWHERE_ENV = "WATCHFLOOR_SERVE_FOLD_ELSEWHERE"


def _die_with_parent() -> None:
    """In the WebSocket process, before exec: SIGTERM when `serve` dies, even by kill -9."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: `serve` still stops it on every clean exit
        pass


def ws_process_command(socket_path: str, log_level: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "watchfloor.cli",
        "serve",
        "--asgi",
        "--uds",
        socket_path,
        "--no-scheduler",
        "--skip-checks",
        "--log-level",
        log_level,
    ]


class ChildProcess:
    """A process of `run_split` beside gunicorn: started before it, restarted if it dies, stopped
    (SIGTERM, then SIGKILL after the grace period) when `serve` stops."""

    name = "child"

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.stopping = False
        self._watcher: threading.Thread | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {**os.environ, CHILD_ENV: "1"}

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            self.command(), env=self.env(), preexec_fn=_die_with_parent
        )

    def watch(self) -> None:
        """Restart the process whenever it exits unasked (in a thread; a greenlet once gevent
        patched the standard library)."""

        def loop():
            while not self.stopping:
                assert self.process is not None
                code = self.process.wait()
                if self.stopping or code in STOPPED_CODES:
                    # asked to stop (Ctrl-C or a SIGTERM to the whole process group): `serve`
                    # itself is stopping, and stops gunicorn's side too
                    return
                log.error("The %s process exited with %s; restarting it.", self.name, code)
                time.sleep(WS_RESTART_DELAY)
                if not self.stopping:
                    self.start()

        self._watcher = threading.Thread(target=loop, name=f"{self.name}-watch", daemon=True)
        self._watcher.start()

    def stop(self, grace: float = 30.0) -> None:
        self.stopping = True
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            process.terminate()
        except ProcessLookupError:  # it exited (and was reaped) meanwhile
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class WebSocketProcess(ChildProcess):
    """The uvicorn process of `run_split`, on a private Unix socket."""

    name = "WebSocket"

    def __init__(self, socket_path: str, log_level: str, *, folds: bool = True):
        super().__init__()
        self.log_level = log_level
        self.socket_path = socket_path
        self.folds = folds

    def command(self) -> list[str]:
        return ws_process_command(self.socket_path, self.log_level)

    def env(self) -> dict[str, str]:
        env = super().env()
        if not self.folds:
            env[FOLD_ELSEWHERE_ENV] = "1"
        return env

    def start(self) -> None:
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        super().start()

    def wait_listening(self, timeout: float = WS_READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the WebSocket process exited with {self.process.returncode} at start"
                )
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(self.socket_path)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the WebSocket process did not listen in time") from None
                time.sleep(0.1)
            finally:
                probe.close()


class FoldProcess(ChildProcess):
    """`watchfloor pipeline` beside the split server: the node's fold in a process of its own."""

    name = "fold"

    def command(self) -> list[str]:
        # `serve` ran the system checks already (and the WebSocket process skips them too)
        return [sys.executable, "-m", "watchfloor.cli", "pipeline", "--skip-checks"]


def folds_apart() -> bool:
    """Whether `run_split` starts a fold process (a node that folds at all: see
    ALERT_FOLD_IN_PROCESS, off where `watchfloor pipeline` nodes fold for it)."""
    return settings.ALERT_FOLD_PROCESS and settings.ALERT_FOLD_IN_PROCESS


def run_split(
    *,
    host: str,
    port: int,
    workers: int,
    forwarded_allow_ips: str | None = None,
    log_level: str = "info",
) -> None:
    """The default production server: gunicorn's gevent workers on host:port for HTTP (the fast
    path for Django's sync views), one uvicorn process for WebSockets on a private Unix socket,
    spliced in by the workers (platform/ws_splice.py). One command, one port, one origin. The
    fold of staged ingestion runs in a process of its own (`watchfloor pipeline`, `FoldProcess`):
    the other processes' drainers stand by, and take over while it is gone or behind.

    Needs Redis: the hub of the WebSocket process hears the workers' events through Redis
    pub/sub (an embedded node, without Redis, serves everything from uvicorn instead)."""
    folder = tempfile.mkdtemp(prefix="watchfloor-ws-")  # 0700: only this user reaches the socket
    fold = FoldProcess() if folds_apart() else None
    ws = WebSocketProcess(os.path.join(folder, "ws.sock"), log_level, folds=fold is None)
    owner = os.getpid()
    try:
        if fold is not None:
            fold.start()
            fold.watch()
        ws.start()
        ws.wait_listening()
        ws.watch()
        run_gunicorn(
            host=host,
            port=port,
            workers=workers,
            forwarded_allow_ips=forwarded_allow_ips,
            log_level=log_level,
            ws_socket=ws.socket_path,
        )
    finally:
        # gunicorn's workers are forked inside run_gunicorn and unwind through here when they
        # exit: only the process that started the WebSocket process stops it
        if os.getpid() == owner:
            ws.stop()
            if fold is not None:
                fold.stop()
            shutil.rmtree(folder, ignore_errors=True)
