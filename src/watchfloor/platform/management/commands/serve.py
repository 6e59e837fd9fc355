"""`watchfloor serve`: the production web server.

By default uvicorn on the ASGI application (HTTP and, with the dashboard, WebSockets). `--wsgi`
runs gunicorn's gevent workers on the WSGI application instead: HTTP only, measured 2.5× faster for
single-alert ingestion on 2 cores (docs/benchmarks.md), for API/ingestion nodes behind a proxy
that sends `/ws/` to uvicorn nodes.
"""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError
from django.db.utils import OperationalError

from watchfloor.jobs.embedded import start_for_server
from watchfloor.platform.database import pending_migrations
from watchfloor.platform.server import run_gunicorn, run_uvicorn


class Command(BaseCommand):
    help = (
        "Serve Watchfloor with uvicorn (or gunicorn with --wsgi). It never migrates: run "
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
        if not options["skip_checks"]:
            self._refuse_pending_migrations()
        proxy = options["proxy_headers"] or options["forwarded_allow_ips"] is not None
        scheduler = None if options["no_scheduler"] else start_for_server(forking=options["wsgi"])
        try:
            self._serve(options, proxy)
        finally:
            if scheduler is not None:
                scheduler.stop()

    def _serve(self, options, proxy: bool) -> None:
        if options["wsgi"]:
            run_gunicorn(
                host=options["host"],
                port=options["port"],
                workers=options["workers"],
                forwarded_allow_ips=(options["forwarded_allow_ips"] or "127.0.0.1")
                if proxy
                else None,
                log_level=options["log_level"],
            )
            return
        run_uvicorn(
            host=options["host"],
            port=options["port"],
            workers=options["workers"],
            proxy_headers=proxy,
            forwarded_allow_ips=options["forwarded_allow_ips"] if proxy else None,
            log_level=options["log_level"],
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
