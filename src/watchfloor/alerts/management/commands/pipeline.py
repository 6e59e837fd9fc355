"""`watchfloor pipeline`: fold workers by themselves (scale-out).

Every `watchfloor serve` and `demo` process already folds what ingestion stages (alerts.staging);
this command adds drainers on other processes or nodes. Drainers coordinate through the database
(one tenant's batches are folded by one drainer at a time, in order), so any number may run.
`--once` folds what is pending and exits (a catch-up, or a check after a restore).
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from watchfloor.alerts.staging import FoldWorker, drain_pending
from watchfloor.heap import tune_gc
from watchfloor.platform.server import warm_up


class Command(BaseCommand):
    help = (
        "Run fold workers that drain the ingestion staging table into alerts (scale-out beside "
        "`watchfloor serve`, which runs one itself). --once folds what is pending and exits."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--drainers", type=int, default=1, help="drainer threads in this process (default 1)"
        )
        parser.add_argument(
            "--once", action="store_true", help="fold everything pending now, then exit"
        )

    def handle(self, *args, **options):
        if options["once"]:
            folded = drain_pending()
            self.stdout.write(f"Folded {folded} events.")
            return
        if options["drainers"] < 1:
            raise CommandError("--drainers must be at least 1.")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        # its first fold would otherwise import the pipeline's lazy imports (Celery's task
        # sending among them) on the drainer's thread: 0.54 s of a first pass (docs/decisions.md)
        warm_up()
        tune_gc()
        workers = [FoldWorker(name=f"fold-{i + 1}").start() for i in range(options["drainers"])]
        self.stdout.write(f"Folding staged ingestion with {len(workers)} drainer(s).")
        self.stdout.flush()
        stop.wait()
        for worker in workers:
            worker.stop()
        self.stdout.write("Stopped.")
