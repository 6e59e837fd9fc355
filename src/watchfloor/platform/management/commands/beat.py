"""`watchfloor beat`: Celery beat, sending the periodic jobs of `watchfloor.jobs.schedule` to the
workers (production, needs REDIS_URL). The schedule lives in memory, built from the table at
start: no schedule file is written anywhere. Two beats by mistake do no harm (each job's lease
keeps it to one run at a time), only twice the messages."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from watchfloor.platform.management.commands.worker import require_celery
from watchfloor.platform.server import close_database_connections


class Command(BaseCommand):
    help = "Run Celery beat: sends Watchfloor's periodic jobs to the workers (needs REDIS_URL)."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--log-level",
            default="info",
            choices=["critical", "error", "warning", "info", "debug"],
        )

    def handle(self, *args, **options):
        require_celery("beat")
        from watchfloor.celery import app

        close_database_connections()
        app.start(
            [
                "beat",
                "--scheduler=celery.beat:Scheduler",  # in memory: no schedule file
                "--max-interval=5",
                f"--loglevel={options['log_level'].upper()}",
            ]
        )
