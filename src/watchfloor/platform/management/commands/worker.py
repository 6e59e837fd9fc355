"""`watchfloor worker`: a Celery worker running the jobs and tasks (production, needs REDIS_URL)."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from watchfloor.platform.server import close_database_connections


def require_celery(command: str) -> None:
    if not settings.REDIS_URL:
        raise CommandError(
            f"`watchfloor {command}` needs REDIS_URL (Redis is Celery's broker), e.g. "
            "REDIS_URL=redis://127.0.0.1:6379/0. Without Redis there is nothing to run: "
            "`watchfloor serve` runs the jobs itself (the embedded scheduler)."
        )
    if settings.JOBS_BACKEND != "celery":
        raise CommandError(
            f"WATCHFLOOR_JOBS_BACKEND={settings.JOBS_BACKEND}: the web processes run the jobs "
            f"themselves; unset it (or set it to `celery`) to use `watchfloor {command}`."
        )


class Command(BaseCommand):
    help = (
        "Run a Celery worker for Watchfloor's periodic jobs and tasks (needs REDIS_URL). Run "
        "one `watchfloor beat` too, once for the whole installation."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--concurrency",
            type=int,
            default=int(os.environ.get("WATCHFLOOR_WORKER_CONCURRENCY", "2")),
            help="worker processes (default $WATCHFLOOR_WORKER_CONCURRENCY or 2)",
        )
        parser.add_argument(
            "--log-level",
            default="info",
            choices=["critical", "error", "warning", "info", "debug"],
        )
        parser.add_argument("--hostname", default=None, help="node name (default celery@host)")

    def handle(self, *args, **options):
        require_celery("worker")
        if not 1 <= options["concurrency"] <= 256:
            raise CommandError("--concurrency must be between 1 and 256.")
        from watchfloor.celery import app

        # the pool forks its processes from this one: it must hold no database connection
        close_database_connections()
        argv = [
            "worker",
            f"--concurrency={options['concurrency']}",
            f"--loglevel={options['log_level'].upper()}",
            "--without-gossip",
            "--without-mingle",
        ]
        if options["hostname"]:
            argv.append(f"--hostname={options['hostname']}")
        app.worker_main(argv)
