"""The reports app's periodic job (jobs/schedule.py names it): a thin wrapper."""

from __future__ import annotations

from watchfloor.reports import rollup


def roll_up() -> dict:
    """`reports.rollup`, every 10 minutes: per tenant, the days touched by resolutions since
    the last run rolled again and up to 31 more finished days rolled (reports/rollup.py)."""
    return rollup.roll_up()
