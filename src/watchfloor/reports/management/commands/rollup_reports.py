"""`watchfloor rollup_reports`: fill the reports' daily rollup now, batch after batch, until
every finished day is rolled (the `reports.rollup` job does one batch per run)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from watchfloor.reports.rollup import BATCH_DAYS, roll_up


class Command(BaseCommand):
    help = "Roll up the alert reports' finished days (backfill), in batches of days."

    def add_arguments(self, parser):
        parser.add_argument("--batch-days", type=int, default=BATCH_DAYS)

    def handle(self, *args, batch_days: int, **options):
        batch_days = max(1, min(batch_days, 366))
        total_days = total_rows = 0
        while True:
            counts = roll_up(batch_days=batch_days)
            total_days += counts["days_rolled"] + counts["days_rerolled"]
            total_rows += counts["rows"]
            self.stdout.write(
                f"rolled {counts['days_rolled']} days, re-rolled {counts['days_rerolled']},"
                f" {counts['rows']} rows; {counts['days_behind']} days behind"
            )
            if not counts["days_behind"]:
                break
        self.stdout.write(f"done: {total_days} days, {total_rows} rows")
