"""`watchfloor serve`: the production web server.

With Redis (production), one command and one port: gunicorn's gevent workers answer HTTP on the
WSGI application (Django's sync views without ASGI's thread hop, docs/decisions.md) and hand
`/ws/` upgrades to one uvicorn process on a private Unix socket (platform/ws_splice.py).
Without Redis (the embedded default) everything is served by uvicorn in one process: the live
events of a write reach the WebSockets through that process's own hub.

`--asgi` serves everything from uvicorn (the default before 2026-12-04); `--wsgi` serves HTTP
only (gunicorn's gevent workers, no WebSocket process), for API/ingestion nodes.
"""

from __future__ import annotations

import argparse
import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.utils import OperationalError

from watchfloor.alerts.staging import stand_by
from watchfloor.alerts.staging import start_for_server as start_fold_for_server
from watchfloor.jobs.embedded import start_for_server
from watchfloor.platform.database import pending_migrations
from watchfloor.platform.server import FOLD_ELSEWHERE_ENV, run_gunicorn, run_split, run_uvicorn


def serve_mode(*, wsgi: bool, asgi: bool, uds: bool, redis_url: str) -> str:
    """ "wsgi" (HTTP only), "asgi" (uvicorn for everything) or "split" (gunicorn for HTTP, uvicorn
    for WebSockets, one port). The CLI asks it too, before Django loads, to patch for gevent."""
    if wsgi:
        return "wsgi"
    if asgi or uds or not redis_url:
        return "asgi"
    return "split"


class Command(BaseCommand):
    help = (
        "Serve Watchfloor: gunicorn for HTTP and uvicorn for WebSockets on one port with Redis, "
        "uvicorn alone without (--asgi: uvicorn alone, --wsgi: gunicorn alone). It never "
        "migrates: run "
        "`watchfloor migrate` first (it refuses to start while migrations are pending, unless "
        "--skip-checks)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY", "1")),
            help="worker processes (default $WEB_CONCURRENCY or 1)",
        )
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips (behind a proxy)",
        )
        parser.add_argument(
            "--forwarded-allow-ips",
            default=None,
            help="comma-separated proxy addresses to trust (implies --proxy-headers; "
            "default 127.0.0.1)",
        )
        parser.add_argument(
            "--wsgi",
            action="store_true",
            help="HTTP only, gunicorn gevent workers (faster API and ingestion; no WebSockets)",
        )
        parser.add_argument(
            "--asgi",
            action="store_true",
            help="serve HTTP and WebSockets from uvicorn alone (the default without Redis)",
        )
        # the WebSocket process of the split server listens there (set by `serve` itself)
        parser.add_argument("--uds", default=None, help=argparse.SUPPRESS)
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="without Celery (no REDIS_URL), do not run the periodic jobs in this node "
            "(another node runs them)",
        )
        parser.add_argument(
            "--log-level",
            default="info",
            choices=["critical", "error", "warning", "info", "debug"],
        )

    def handle(self, *args, **options):
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        if options["wsgi"] and options["asgi"]:
            raise CommandError("--wsgi and --asgi exclude each other.")
        mode = serve_mode(
            wsgi=options["wsgi"],
            asgi=options["asgi"],
            uds=options["uds"] is not None,
            redis_url=settings.REDIS_URL,
        )
        if not options["skip_checks"]:
            self._refuse_pending_migrations()
        proxy = options["proxy_headers"] or options["forwarded_allow_ips"] is not None
        forking = mode != "asgi"  # gunicorn forks its workers from this process
        if options["uds"] is not None and os.environ.get(FOLD_ELSEWHERE_ENV):
            stand_by()  # a fold process runs beside this WebSocket process (run_split)
        scheduler = None if options["no_scheduler"] else start_for_server(forking=forking)
        fold = start_fold_for_server(forking=forking)  # drains staged ingestion
        try:
            self._serve(mode, options, proxy)
        finally:
            if fold is not None:
                fold.stop()
            if scheduler is not None:
                scheduler.stop()

    def _serve(self, mode: str, options, proxy: bool) -> None:
        if mode != "asgi":
            run = run_split if mode == "split" else run_gunicorn
            run(
                host=options["host"],
                port=options["port"],
                workers=options["workers"],
                forwarded_allow_ips=(options["forwarded_allow_ips"] or "127.0.0.1")
                if proxy
                else None,
                log_level=options["log_level"],
            )
            return
        allowed: str | None = options["forwarded_allow_ips"] if proxy else None
        if options["uds"] is not None:
            # the split server's WebSocket process: only its own gunicorn workers reach the
            # socket, and they say who the client is (ws_splice.request_head)
            proxy, allowed = True, "*"
        run_uvicorn(
            host=options["host"],
            port=options["port"],
            workers=options["workers"],
            proxy_headers=proxy,
            forwarded_allow_ips=allowed,
            log_level=options["log_level"],
            uds=options["uds"],
        )

    def _refuse_pending_migrations(self) -> None:
        try:
            pending = pending_migrations()
        except OperationalError as exc:
            raise CommandError(f"Cannot reach the database: {exc}".strip()) from None
        if pending:
            shown = ", ".join(pending[:5]) + (" ..." if len(pending) > 5 else "")
            raise CommandError(
                f"{len(pending)} migrations are not applied ({shown}). Run `watchfloor migrate` "
                "first (serve never migrates by itself), or pass --skip-checks to start anyway."
            )
